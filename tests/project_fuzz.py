"""Damaged projects for the loader's property tests (tests/test_project_fuzz.py) and the bench
(bench/bench_project_fuzz.py).

A small valid project (F frames of a 32x32 image-folder source, a 5-identity /
4-expression reconstruction and a track) is saved once; every example copies it and applies
1-3 damages drawn by hypothesis: JSON edits (keys removed or set to any JSON value, wrong
types, paths out of the folder, bytes flipped, truncation, deep nesting, a huge file),
array edits written back with or without the checksums recomputed (shapes, dtypes, NaN,
huge values, zero rotations, arrays removed or added, another clip's frame count), and file
edits (truncation, symlinks to files outside, folders in place of files, leftovers).

``check_outcome(folder)`` is the property: ``load_project`` returns a project whose arrays
are consistent (and which saves and loads back equal), or raises a UserFacingError; any
other exception is a failure.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
from hypothesis import strategies as st

from core.checksum import sha256_of
from core.errors import UserFacingError
from core.fitting.reconstruction import Reconstruction
from core.npz_io import save_npz_atomic
from core.project import Project, load_project, save_project
from core.tracking.result import TrackResult

F = 4
SIZE = (32, 32)


def make_source(folder: Path, frames: int = F) -> Path:
    """An image-folder clip of ``frames`` 32x32 PNGs (a source whose frame count the loader checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        img = np.full((*SIZE, 3), 40 + 20 * i, np.uint8)
        cv2.imwrite(str(folder / f"f{i:03d}.png"), img)
    return folder


def make_reconstruction(frames: int = F, ki: int = 5, ke: int = 4, seed: int = 0) -> Reconstruction:
    """A synthetic, valid reconstruction of ``frames`` frames of a 32x32 clip."""
    rng = np.random.default_rng(seed)
    R = np.tile(np.diag([1.0, -1.0, -1.0]), (frames, 1, 1))
    return Reconstruction(
        model_name="test", model_spec="builtin", identity=rng.normal(size=ki).astype(np.float32),
        expression=rng.uniform(size=(frames, ke)).astype(np.float32),
        expression_names=np.array([f"e{k}" for k in range(ke)]), rotation=R.astype(np.float32),
        translation=rng.uniform(8, 24, size=(frames, 2)).astype(np.float32), scale=np.full(frames, 1.5, np.float32),
        landmarks68=rng.uniform(0, 32, size=(frames, 68, 2)).astype(np.float32),
        fit_error_px=np.full(frames, 0.5, np.float32), valid=np.ones(frames, bool),
        segment=np.zeros(frames, np.int32), fps=30.0, image_size=SIZE, source="clip", settings={"a": 1})


def make_track(frames: int = F, seed: int = 1) -> TrackResult:
    """A synthetic, valid track of ``frames`` frames of a 32x32 clip (the last frame has no face)."""
    rng = np.random.default_rng(seed)
    valid = np.ones(frames, bool)
    valid[-1] = False
    lm = rng.uniform(0, 32, size=(frames, 478, 3)).astype(np.float32)
    lm[~valid] = np.nan
    bs = rng.uniform(size=(frames, 52)).astype(np.float32)
    bs[~valid] = np.nan
    return TrackResult(landmarks=lm, valid=valid, blendshapes=bs,
                       blendshape_names=np.array([f"b{k}" for k in range(52)]),
                       pose=np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1)), fps=30.0, size=SIZE, source="clip")


def make_base(root: Path) -> Path:
    """Save the valid project (and its source) under ``root``; returns the project folder."""
    src = make_source(root / "clip")
    proj = root / "base.fsproj"
    save_project(proj, Project(source=str(src), model_spec="builtin", reconstruction=make_reconstruction(),
                               track=make_track(), edits={"k": [1, 2]}, settings={"view": {"frame": 1}}))
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    save_npz_atomic(outside / "foreign.npz", make_reconstruction(seed=5).to_arrays())
    (outside / "foreign.json").write_text((proj / "project.json").read_text())
    return proj


# -- damages ----------------------------------------------------------------------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                         st.sampled_from(["../outside/foreign.npz", "/etc/passwd", "..", ".", "", "a/b.npz",
                                          "reconstruction-1.npz", "x" * 300 + ".npz", "\u00e9.npz"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=4)), max_leaves=12)
ARRAY_KEYS = {"reconstruction": ["identity", "expression", "expression_names", "rotation", "translation", "scale",
                                 "landmarks68", "fit_error_px", "valid", "segment", "meta"],
              "track": ["landmarks", "landmarks_raw", "valid", "bridged", "segment", "blendshapes",
                        "blendshape_names", "pose", "fps", "size", "n_faces", "source"]}


@st.composite
def json_damage(draw):
    where = draw(st.sampled_from(["top", "model", "arrays", "reconstruction", "track"]))
    key = draw(st.sampled_from({"top": ["format", "schema_version", "source", "model", "settings", "edits",
                                        "arrays", "extra_key"],
                                "model": ["spec", "name"], "arrays": ["reconstruction", "track", "other"],
                                "reconstruction": ["file", "generation", "bytes", "sha256", "frames", "expressions",
                                                   "identity"],
                                "track": ["file", "generation", "bytes", "sha256", "frames"]}[where]))
    action = draw(st.sampled_from(["delete", "set", "set_special"]))
    special = draw(st.sampled_from([True, False, 0, -1, 1.5, 2**63, "1", None, [], {}, "NaN"]))
    value = draw(json_values) if action == "set" else special
    return ("json", where, key, action, value)


@st.composite
def array_damage(draw):
    block = draw(st.sampled_from(["reconstruction", "track"]))
    key = draw(st.sampled_from(ARRAY_KEYS[block] + ["extra"]))
    action = draw(st.sampled_from(["delete", "nan", "inf", "huge", "zero", "shape_drop", "shape_add", "frames",
                                   "dtype_int", "dtype_complex", "dtype_str", "dtype_bool", "dtype_f16",
                                   "scalar", "empty"]))
    recompute = draw(st.booleans().map(lambda b: b or draw(st.integers(0, 3)) > 0))  # mostly recomputed
    seed = draw(st.integers(0, 2**16))
    return ("array", block, key, action, recompute, seed)


@st.composite
def file_damage(draw):
    target = draw(st.sampled_from(["project.json", "reconstruction", "track"]))
    action = draw(st.sampled_from(["truncate", "flip", "delete", "dir", "symlink_out", "symlink_in", "empty",
                                   "leftovers", "deep_json", "huge_json", "garbage"]))
    pos = draw(st.floats(0, 1))
    n = draw(st.integers(1, 200_000))
    return ("file", target, action, pos, n)


damages = st.lists(st.one_of(json_damage(), array_damage(), file_damage()), min_size=1, max_size=3)


def _doc(folder: Path) -> dict:
    """The project's JSON as the damages edit it ({} when an earlier damage broke it)."""
    jp = folder / "project.json"
    try:
        if jp.stat().st_size > 1 << 20:
            return {}
        doc = json.loads(jp.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_doc(folder: Path, doc: dict) -> None:
    (folder / "project.json").write_text(json.dumps(doc))


def _file_of(folder: Path, block: str) -> Path | None:
    e = _doc(folder).get("arrays", {})
    e = e.get(block) if isinstance(e, dict) else None
    f = e.get("file") if isinstance(e, dict) else None
    return folder / f if isinstance(f, str) and f and "/" not in f and "\0" not in f else None


def _damage_array(a: np.ndarray, action: str, rng: np.random.Generator, frames_to: int) -> np.ndarray | None:
    if action == "delete":
        return None
    if action in ("nan", "inf", "huge", "zero"):
        b = np.array(a, copy=True)
        if b.dtype.kind in "fc" and b.size:
            val = {"nan": np.nan, "inf": np.inf, "huge": 1e30, "zero": 0.0}[action]
            flat = b.reshape(-1)
            flat[rng.integers(0, flat.size, size=max(1, flat.size // 7))] = val
            if action == "zero":
                b[...] = 0
        return b
    if action == "shape_drop":
        return a.reshape(-1)[: max(0, a.size - 1)] if a.ndim <= 1 else a[..., :-1] if rng.random() < 0.5 else a[:-1]
    if action == "shape_add":
        return a[None] if a.ndim else np.stack([a, a])
    if action == "frames":
        return np.concatenate([a] * frames_to, axis=0) if a.ndim else a
    if action == "dtype_int":
        return np.nan_to_num(a.astype(np.float64)).astype(np.int32) if a.dtype.kind in "fiub" else a
    if action == "dtype_complex":
        return a.astype(np.complex64) if a.dtype.kind in "fiub" else a
    if action == "dtype_str":
        return a.astype(str)
    if action == "dtype_bool":
        return a.astype(bool) if a.dtype.kind in "fiub" else a
    if action == "dtype_f16":
        return a.astype(np.float16) if a.dtype.kind in "fiub" else a
    if action == "scalar":
        return np.asarray(7.0)
    if action == "empty":
        return np.zeros((0,) + a.shape[1:], a.dtype) if a.ndim else a
    raise ValueError(action)


def apply_damage(folder: Path, damage: tuple, outside: Path) -> None:
    """Apply one damage to the project in ``folder`` (``outside``: a folder beside it holding a
    valid foreign npz and json, the targets of links out of the project)."""
    kind = damage[0]
    if kind == "json":
        _, where, key, action, value = damage
        doc = _doc(folder)
        if not doc:
            return
        arrays = doc.get("arrays") if isinstance(doc.get("arrays"), dict) else {}
        node = {"top": doc, "model": doc.get("model"), "arrays": arrays}.get(where, arrays.get(where))
        if not isinstance(node, dict):
            return
        if action == "delete":
            node.pop(key, None)
        else:
            node[key] = value
        _write_doc(folder, doc)
    elif kind == "array":
        _, block, key, action, recompute, seed = damage
        fp = _file_of(folder, block)
        if fp is None or not fp.is_file() or fp.is_symlink():
            return
        try:
            with np.load(fp, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 (an earlier damage broke it: nothing to edit)
            return
        rng = np.random.default_rng(seed)
        if key == "extra":
            data["extra"] = rng.normal(size=(3, 3))
        elif key in data:
            new = _damage_array(data[key], action, rng, frames_to=int(rng.integers(2, 30)))
            if new is None:
                del data[key]
            else:
                data[key] = new
        save_npz_atomic(fp, data)
        if recompute:
            doc = _doc(folder)
            e = doc["arrays"][block]
            e["bytes"], e["sha256"] = fp.stat().st_size, sha256_of(fp)
            _write_doc(folder, doc)
    else:
        _, target, action, pos, n = damage
        fp = folder / "project.json" if target == "project.json" else _file_of(folder, target)
        if fp is None:
            return
        if action in ("truncate", "flip", "empty", "garbage") and fp.is_file():
            b = bytearray(fp.read_bytes())
            if action == "truncate":
                b = b[: int(len(b) * pos)]
            elif action == "flip" and b:
                b[min(len(b) - 1, int(len(b) * pos))] ^= 0x5A
            elif action == "empty":
                b = bytearray()
            else:
                b = bytearray(os.urandom(min(n, 4096)))
            fp.write_bytes(bytes(b))
        elif action == "delete" and (fp.is_file() or fp.is_symlink()):
            fp.unlink()
        elif action == "dir" and fp.is_file():
            fp.unlink()
            fp.mkdir()
        elif action in ("symlink_out", "symlink_in") and fp.is_file():
            fp.unlink()
            out = outside / ("foreign.json" if target == "project.json" else "foreign.npz")
            if action == "symlink_out":
                fp.symlink_to(out)
            else:
                inner = folder / ("inner_" + fp.name)
                shutil.copyfile(out, inner)
                fp.symlink_to(inner.name)
            if target != "project.json" and pos < 0.8:  # usually with the checksum recomputed too
                doc = _doc(folder)
                e = doc["arrays"][target]
                e["bytes"], e["sha256"] = fp.stat().st_size, sha256_of(fp)
                _write_doc(folder, doc)
        elif action == "leftovers":
            (folder / f".project.json.{n:x}.tmp").write_bytes(b"{")
            (folder / f"reconstruction-{n % 97 + 1}-deadbeef.npz").write_bytes(b"PK")
        elif action == "deep_json" and target == "project.json" and fp.is_file():
            depth = n
            fp.write_text('{"format": "facestudio.project", "schema_version": 1, "edits": '
                          + "[" * depth + "]" * depth + "}")
        elif action == "huge_json" and target == "project.json" and fp.is_file():
            with open(fp, "r+b") as f:  # a sparse file: big on paper, nothing written
                f.truncate(max(fp.stat().st_size, 1 << 30))


def check_outcome(folder: Path) -> str:
    """The property. Returns "loaded" (a consistent project, which saves and loads back equal)
    or "refused: <message>" (a UserFacingError); any other exception propagates."""
    try:
        p = load_project(folder)
    except UserFacingError as e:
        msg = str(e)
        assert msg and "\n" not in msg and len(msg) < 2000, msg
        return f"refused: {msg}"
    rec, tr = p.reconstruction, p.track
    for r in [rec] if rec is not None else []:
        assert r.num_frames == F and np.isfinite(r.expression).all() and np.isfinite(r.rotation).all()
        assert np.allclose(r.rotation @ np.swapaxes(r.rotation, 1, 2), np.eye(3), atol=1e-2)
    if tr is not None:
        assert tr.num_frames == F and tr.landmarks.shape == (F, 478, 3)
        assert np.isfinite(tr.landmarks[tr.valid]).all()
    # a project that loads always saves (and loads back the same)
    save_project(folder, p)
    q = load_project(folder)
    assert (q.reconstruction is None) == (rec is None) and (q.track is None) == (tr is None)
    if rec is not None:
        assert np.array_equal(q.reconstruction.expression, rec.expression)
    if tr is not None:
        assert np.array_equal(q.track.landmarks, tr.landmarks, equal_nan=True)
    assert q.edits == p.edits and q.settings == p.settings and q.extra == p.extra
    return "loaded"
