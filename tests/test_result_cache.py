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


def test_reconstruct_clip_takes_results_from_the_cache(tmp_path, clip, monkeypatch):
    import core.fitting.clip
    import core.tracking.tracker
    from core.fitting import reconstruct_clip
    from core.result_cache import track_cached

    cache = ResultCache(tmp_path / "results")
    first = reconstruct_clip(str(clip), "builtin", max_frames=12, cache=cache)
    assert first.reconstruction.num_frames == 12 and first.track.valid.all()

    # a second run (e.g. after a crash) computes nothing: tracking and fitting must not run
    def boom(*a, **k):
        raise AssertionError("computed again instead of taken from the cache")
    monkeypatch.setattr(core.tracking.tracker, "track_video", boom)
    monkeypatch.setattr(core.fitting.clip, "reconstruct", boom)
    again = reconstruct_clip(str(clip), "builtin", max_frames=12, cache=cache)
    np.testing.assert_array_equal(again.track.landmarks, first.track.landmarks)
    np.testing.assert_array_equal(again.reconstruction.expression, first.reconstruction.expression)
    np.testing.assert_array_equal(again.reconstruction.identity, first.reconstruction.identity)
    assert again.reconstruction.source == str(clip)
    assert track_cached(str(clip), max_frames=12, cache=cache).num_frames == 12
    # other settings: computed (here: refused by the patched functions); no cache: computed
    with pytest.raises(AssertionError, match="computed again"):
        reconstruct_clip(str(clip), "builtin", max_frames=13, cache=cache)
    with pytest.raises(AssertionError, match="computed again"):
        reconstruct_clip(str(clip), "builtin", max_frames=12)
