"""The on-disk cache of tracking and reconstruction results (core.result_cache) and the
GUI jobs that use it: a crash or a restart does not cost the tracking and the fit again."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from conftest import shared_path
from core.result_cache import ResultCache


@pytest.fixture
def clip(tmp_path):
    p = tmp_path / "clip.mp4"
    shutil.copy(shared_path("data", "videos", "d12.mp4"), p)
    return p


def test_key_follows_content_and_settings(tmp_path, clip):
    cache = ResultCache(tmp_path / "cache")
    k = cache.key(clip, "track", {"max_frames": 10})
    assert k == cache.key(clip, "track", {"max_frames": 10})
    assert k != cache.key(clip, "track", {"max_frames": 11})
    assert k != cache.key(clip, "reconstruction", {"max_frames": 10})
    # the same content under another name: the same key; changed content: another key
    copy = tmp_path / "copy.mp4"
    shutil.copy(clip, copy)
    assert cache.key(copy, "track", {"max_frames": 10}) == k
    with open(copy, "r+b") as f:
        f.seek(5000)
        f.write(b"\xff\x00\xff")
    assert cache.key(copy, "track", {"max_frames": 10}) != k
    assert cache.key("webcam:0", "track", {}) is None
    assert cache.key(tmp_path / "missing.mp4", "track", {}) is None


def test_entries_round_trip_damage_and_budget(tmp_path):
    cache = ResultCache(tmp_path / "cache", budget_bytes=10_000)
    a = {"x": np.arange(100, dtype=np.float32)}
    cache.put_arrays("track", "k1", a)
    np.testing.assert_array_equal(cache.get_arrays("track", "k1")["x"], a["x"])
    # a damaged entry is dropped, never half-read
    f = cache.root / "track-k1.npz"
    f.write_bytes(f.read_bytes()[:40])
    assert cache.get_arrays("track", "k1") is None and not f.exists()
    # over budget: the least recently used entries go first
    rng = np.random.default_rng(0)
    for i in range(6):
        cache.put_arrays("track", f"big{i}", {"x": rng.random(1000)})  # ~8 kB each, incompressible
        t = 1_000_000 + i
        os.utime(cache.root / f"track-big{i}.npz", (t, t))
    cache.prune()
    left = sorted(p.name for p in cache.root.glob("*.npz"))
    assert left == ["track-big5.npz"]


def test_gui_jobs_take_results_from_the_cache(tmp_path, clip, monkeypatch):
    monkeypatch.setenv("FACESTUDIO_RESULTS_DIR", str(tmp_path / "results"))
    from app import process_jobs

    first = process_jobs.reconstruct_clip_cached(str(clip), "builtin", max_frames=12)
    track1, rec1 = first.track, first.reconstruction
    assert rec1.num_frames == 12 and track1.valid.all()

    # a second run (e.g. after a crash) computes nothing: tracking and fitting must not run
    import core.fitting.clip
    import core.tracking

    def boom(*a, **k):
        raise AssertionError("computed again instead of taken from the cache")
    monkeypatch.setattr(core.tracking, "track_video", boom)
    monkeypatch.setattr(core.fitting.clip, "reconstruct_clip", boom)
    again = process_jobs.reconstruct_clip_cached(str(clip), "builtin", max_frames=12)
    track2, rec2 = again.track, again.reconstruction
    np.testing.assert_array_equal(track2.landmarks, track1.landmarks)
    np.testing.assert_array_equal(rec2.expression, rec1.expression)
    np.testing.assert_array_equal(rec2.identity, rec1.identity)
    assert rec2.source == str(clip) and again.model.num_expressions == rec2.expression.shape[1]
    assert process_jobs.track_clip_cached(str(clip), max_frames=12).num_frames == 12
    # other settings: computed (here: refused by the patched functions)
    with pytest.raises(AssertionError, match="computed again"):
        process_jobs.reconstruct_clip_cached(str(clip), "builtin", max_frames=13)
