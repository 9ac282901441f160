"""Project document: round trip, forward compatibility, crash safety and clear
errors on truncated or tampered files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.checksum import sha256_of
from core.errors import InputError, OutputError
from core.fitting.reconstruction import Reconstruction
from core.project import Project, load_project, save_project
from core.project import document
from core.tracking.result import TrackResult


def _rec(F=7, Ki=5, Ke=4) -> Reconstruction:
    rng = np.random.default_rng(0)
    R = np.tile(np.diag([1.0, -1.0, -1.0]), (F, 1, 1))
    return Reconstruction(
        model_name="test", model_spec="builtin", identity=rng.normal(size=Ki).astype(np.float32),
        expression=rng.uniform(size=(F, Ke)).astype(np.float32),
        expression_names=np.array([f"e{k}" for k in range(Ke)]), rotation=R.astype(np.float32),
        translation=rng.normal(size=(F, 2)).astype(np.float32), scale=np.full(F, 12.0, np.float32),
        landmarks68=rng.normal(size=(F, 68, 2)).astype(np.float32), fit_error_px=np.full(F, 1.5, np.float32),
        valid=np.ones(F, bool), segment=np.zeros(F, np.int32), fps=25.0, image_size=(480, 640),
        source="clip.mp4", settings={"landmark_sigma_cm": 0.15})


def _track(F=7) -> TrackResult:
    rng = np.random.default_rng(1)
    return TrackResult(landmarks=rng.normal(size=(F, 478, 3)).astype(np.float32), valid=np.ones(F, bool),
                       blendshapes=rng.uniform(size=(F, 52)).astype(np.float32),
                       blendshape_names=np.array([f"b{k}" for k in range(52)]),
                       pose=np.tile(np.eye(4, dtype=np.float32), (F, 1, 1)), fps=25.0, size=(480, 640),
                       source="clip.mp4")


def _project() -> Project:
    return Project(source="/data/clip.mp4", model_spec="builtin", reconstruction=_rec(), track=_track(),
                   edits={"keyframes": [{"frame": 3, "jawOpen": 0.5}]}, settings={"fit": {"a": 1}})


def test_round_trip(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    q = load_project(p)
    r0, r1 = _project().reconstruction, q.reconstruction
    assert q.source == "/data/clip.mp4" and q.model_spec == "builtin"
    assert q.edits == {"keyframes": [{"frame": 3, "jawOpen": 0.5}]} and q.settings == {"fit": {"a": 1}}
    for k in ("identity", "expression", "rotation", "translation", "scale", "landmarks68", "valid", "segment"):
        assert np.array_equal(getattr(r0, k), getattr(r1, k)), k
    assert list(r1.expression_names) == list(r0.expression_names) and r1.fps == 25.0 and r1.image_size == (480, 640)
    assert np.array_equal(q.track.landmarks, _track().landmarks) and q.track.num_frames == 7
    # saving again replaces the generation and leaves no stale or temp files
    save_project(p, q)
    names = sorted(f.name for f in p.iterdir())
    assert [n.split("-")[:2] for n in names] == [[".lock"], ["project.json"], ["reconstruction", "2"],
                                                 ["track", "2"]], names


def test_reconstruction_npz_round_trip(tmp_path):
    r = _rec()
    r.save(tmp_path / "r.npz")
    r2 = Reconstruction.load(tmp_path / "r.npz")
    assert np.array_equal(r.expression, r2.expression) and r2.settings == r.settings
    assert r2.cameras.project(np.zeros((1, 3)), 0).shape == (1, 3)


def test_unknown_keys_kept(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    doc = json.loads((p / "project.json").read_text())
    doc["future_feature"] = {"x": [1, 2]}
    (p / "project.json").write_text(json.dumps(doc))
    q = load_project(p)
    assert q.extra == {"future_feature": {"x": [1, 2]}}
    save_project(p, q)
    assert json.loads((p / "project.json").read_text())["future_feature"] == {"x": [1, 2]}


def _file(p, name):
    return p / json.loads((p / "project.json").read_text())["arrays"][name]["file"]


def test_truncated_array_file(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    f = _file(p, "reconstruction")
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(InputError, match="reconstruction-1-.*npz.*truncated"):
        load_project(p)


def test_tampered_array_file(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    f = _file(p, "track")
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))
    with pytest.raises(InputError, match="track-1-.*npz.*checksum"):
        load_project(p)


def test_truncated_json_and_wrong_version(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    text = (p / "project.json").read_text()
    (p / "project.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match="project.json.*not valid JSON"):
        load_project(p)
    doc = json.loads(text)
    doc["schema_version"] = 99
    (p / "project.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="schema version 99 is newer"):
        load_project(p)
    with pytest.raises(InputError, match="not a project"):
        load_project(tmp_path / "nothing_here")


def _rewrite_arrays(p, name, mutate):
    """Change one array file and fix its size/checksum in the json (a consistent but wrong project)."""
    doc = json.loads((p / "project.json").read_text())
    e = doc["arrays"][name]
    data = dict(np.load(p / e["file"], allow_pickle=False))
    mutate(data)
    document.save_npz_atomic(p / e["file"], data)
    e["bytes"] = (p / e["file"]).stat().st_size
    e["sha256"] = sha256_of(p / e["file"])
    (p / "project.json").write_text(json.dumps(doc))


def test_nan_missing_array_and_shape_mismatch(tmp_path):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    _rewrite_arrays(p, "reconstruction", lambda d: d["expression"].__setitem__((2, 1), np.nan))
    with pytest.raises(InputError, match="'expression' contains NaN"):
        load_project(p)
    save_project(p, _project())
    _rewrite_arrays(p, "reconstruction", lambda d: d.pop("rotation"))
    with pytest.raises(InputError, match="missing arrays rotation"):
        load_project(p)
    save_project(p, _project())
    doc = json.loads((p / "project.json").read_text())
    doc["arrays"]["reconstruction"]["frames"] = 8
    (p / "project.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="has 7 frames, project.json says 8"):
        load_project(p)
    (p / doc["arrays"]["track"]["file"]).unlink()
    with pytest.raises(InputError, match="missing"):
        load_project(p)


def test_crash_mid_save_keeps_old_project(tmp_path, monkeypatch):
    p = tmp_path / "a.fsproj"
    save_project(p, _project())
    calls = {"n": 0}
    real = document.save_npz_atomic

    def failing(path, arrays):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(path, arrays)

    monkeypatch.setattr(document, "save_npz_atomic", failing)
    newer = _project()
    newer.edits = {"changed": True}
    before = sorted(f.name for f in p.iterdir())
    with pytest.raises(OutputError, match="a.fsproj: cannot save the project: .*disk full"):
        save_project(p, newer)
    q = load_project(p)  # still the old, complete project
    assert q.edits == _project().edits and q.track is not None
    assert sorted(f.name for f in p.iterdir()) == before
