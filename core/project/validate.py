"""Checks of everything a project (or a saved track / reconstruction) brings from disk.

A project file may be damaged, edited by hand or hostile; its checksums may have been
recomputed. Nothing it holds reaches the rest of the program before it passed these
checks, each failure an InputError naming the file and what is wrong:

- JSON: at most ``MAX_JSON_BYTES`` and ``MAX_JSON_DEPTH`` levels, no NaN/Infinity literals
  (they would load and then fail to save);
- arrays: each one's shape (consistent frame counts), dtype kind, finiteness on the frames
  marked valid (all frames for a reconstruction: invalid ones copy a fitted neighbour),
  rotation matrices orthonormal with det +1, positive scales, coefficients within
  ``EXPRESSION_RANGE`` / ``IDENTITY_LIMIT`` (fitting keeps them in [0, 1] and +-3);
- sizes: what the arrays declare is checked before they are read (``core.npz_io``).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InputError

if TYPE_CHECKING:
    from core.fitting.reconstruction import Reconstruction
    from core.tracking.result import TrackResult

#: largest project.json (and reconstruction metadata) read, bytes
MAX_JSON_BYTES = 16 << 20
#: deepest nesting of JSON containers accepted
MAX_JSON_DEPTH = 64
#: expression activations are fitted within [0, 1]; beyond this range a file is damaged
EXPRESSION_RANGE = (-1.0, 2.0)
#: identity coefficients are fitted within +-3 standard deviations
IDENTITY_LIMIT = 10.0
#: rotation matrices stored as float32: |R R^T - I| and |det R - 1| within this
ROTATION_TOLERANCE = 1e-3
#: coordinates (pixels) and offsets (cm) beyond this are not a face in a picture
COORDINATE_LIMIT = 1e7
CORRECTIVE_LIMIT_CM = 50.0
N_LANDMARKS = 478
N_BLENDSHAPES = 52


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a project file")


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), computed without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v)
    return depth


def parse_json(text: str | bytes, where: str, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text from a file, within the size and depth limits; InputError otherwise."""
    if len(text) > max_bytes:
        raise InputError(f"{where}: {len(text):,} bytes of JSON, more than the {max_bytes:,} a project "
                         "holds; the file is damaged or not a project file")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError(f"{where}: the JSON is nested too deeply (more than {max_depth} levels); "
                         "the file is damaged or not a project file") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: not valid JSON ({e}); the file is truncated or damaged") from e
    if json_depth(doc) > max_depth:
        raise InputError(f"{where}: the JSON is nested too deeply (more than {max_depth} levels); "
                         "the file is damaged or not a project file")
    return doc


def is_int(v: Any) -> bool:
    """A JSON integer (``True`` is not one, although Python says bool is an int)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _arr(data: dict, key: str, where: str, kinds: str, shape: tuple | None = None,
         what: str = "") -> np.ndarray:
    """``data[key]`` checked: dtype kind in ``kinds`` ('f' float, 'b' bool, 'i'/'u' integers,
    'U'/'S' text) and ``shape`` (None entries are free)."""
    a = data[key]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds:
        raise InputError(f"{where}: {what}array {key!r} has type {getattr(a, 'dtype', type(a).__name__)}, "
                         f"expected {_kind_names(kinds)}")
    if shape is not None and (a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape))):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise InputError(f"{where}: {what}array {key!r} has shape {a.shape}, expected {want}")
    return a


def _kind_names(kinds: str) -> str:
    names = {"f": "floating point", "b": "bool", "i": "integer", "u": "integer", "U": "text", "S": "text"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _finite(a: np.ndarray, key: str, where: str, what: str, rows: np.ndarray | None = None,
            limit: float = COORDINATE_LIMIT) -> None:
    """All values (of the frames ``rows``, a bool mask over axis 0) finite and within +-limit."""
    v = a if rows is None else a[rows]
    if v.size == 0:
        return
    v = v.astype(np.float64, copy=False)
    if not np.isfinite(v).all():
        on = "" if rows is None else " on frames marked valid"
        raise InputError(f"{where}: {what}array {key!r} contains NaN or infinite values{on}; the file is damaged")
    if np.abs(v).max() > limit:
        raise InputError(f"{where}: {what}array {key!r} holds values up to {np.abs(v).max():.3g}, beyond the "
                         f"+-{limit:.3g} a real one can hold; the file is damaged")


def check_track_arrays(data: dict[str, np.ndarray], where: str) -> int:
    """Validate TrackResult arrays (``TrackResult.to_arrays``); returns the frame count F.

    landmarks (F, 478, 3) float, valid (F,) bool, blendshapes (F, 52) float, pose (F, 4, 4)
    float, blendshape_names (52,) text, fps () > 0, size (2,) (H, W) > 0; optional
    landmarks_raw (F, 478, 3), bridged (F,), segment (F,), n_faces (F,), source () text.
    Landmarks, blendshapes and pose are finite on the frames marked valid.
    """
    what = "track "
    missing = [k for k in ("landmarks", "valid", "blendshapes", "blendshape_names", "pose", "fps", "size")
               if k not in data]
    if missing:
        raise InputError(f"{where}: not a track result (missing arrays {', '.join(missing)})")
    lm = _arr(data, "landmarks", where, "f", (None, N_LANDMARKS, 3), what)
    F = lm.shape[0]
    if F < 1:
        raise InputError(f"{where}: the track has no frames")
    valid = _arr(data, "valid", where, "biu", (F,), what).astype(bool)
    bs = _arr(data, "blendshapes", where, "f", (F, N_BLENDSHAPES), what)
    _arr(data, "blendshape_names", where, "US", (N_BLENDSHAPES,), what)
    pose = _arr(data, "pose", where, "f", (F, 4, 4), what)
    fps = _arr(data, "fps", where, "fiu", (), what)
    if not (np.isfinite(fps) and 0 < float(fps) <= 1000):
        raise InputError(f"{where}: track frame rate {fps} is not a frame rate")
    size = _arr(data, "size", where, "iu", (2,), what)
    if not ((size > 0).all() and (size <= 1 << 20).all()):
        raise InputError(f"{where}: track frame size {size.tolist()} is not a frame size")
    for key, shape, kinds in (("landmarks_raw", (F, N_LANDMARKS, 3), "f"), ("bridged", (F,), "biu"),
                              ("segment", (F,), "iu"), ("n_faces", (F,), "iu"), ("source", (), "US")):
        if key in data:
            _arr(data, key, where, kinds, shape, what)
    _finite(lm, "landmarks", where, what, valid, limit=max(1e5, 100.0 * float(size.max())))
    if "landmarks_raw" in data:
        _finite(data["landmarks_raw"], "landmarks_raw", where, what, valid, limit=max(1e5, 100.0 * float(size.max())))
    _finite(bs, "blendshapes", where, what, valid, limit=10.0)
    _finite(pose, "pose", where, what, valid)
    return F


def _rotations_ok(R: np.ndarray) -> np.ndarray:
    """(F,) bool: each (3, 3) matrix orthonormal with determinant +1 (within tolerance)."""
    R = R.astype(np.float64)
    err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max(axis=(1, 2))
    return (err <= ROTATION_TOLERANCE) & (np.abs(np.linalg.det(R) - 1.0) <= 3 * ROTATION_TOLERANCE)


def check_reconstruction_arrays(data: dict[str, np.ndarray], where: str) -> int:
    """Validate Reconstruction arrays (``Reconstruction.to_arrays``); returns the frame count F.

    identity (Ki,), expression (F, Ke) within ``EXPRESSION_RANGE``, expression_names (Ke,)
    text, rotation (F, 3, 3) orthonormal, translation (F, 2), scale (F,) > 0, landmarks68
    (F, 68, 2), fit_error_px (F,), valid (F,) bool, segment (F,), meta () text JSON; the
    optional corrective (F, M, 3), corrective_index (N, k) into M, corrective_weight (N, k).
    Every frame is finite (frames without a face copy the nearest fitted one).
    """
    what = "reconstruction "
    keys = ("identity", "expression", "expression_names", "rotation", "translation", "scale", "landmarks68",
            "fit_error_px", "valid", "segment", "meta")
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"{where}: not a reconstruction (missing arrays {', '.join(missing)})")
    meta = _arr(data, "meta", where, "US", (), what)
    doc = parse_json(str(meta), f"{where} (reconstruction metadata)", max_bytes=1 << 20)
    if not isinstance(doc, dict):
        raise InputError(f"{where}: reconstruction metadata is not a JSON object")
    for key, kind in (("fps", (int, float)), ("image_size", list), ("settings", dict), ("model_spec", str),
                      ("model_name", str), ("source", str), ("method", str), ("version", int)):
        if key in doc and (not isinstance(doc[key], kind) or isinstance(doc[key], bool)):
            raise InputError(f"{where}: reconstruction metadata {key!r} has the wrong type ({type(doc[key]).__name__})")
    if "image_size" in doc and (len(doc["image_size"]) != 2 or not all(is_int(v) and 0 <= v <= 1 << 20
                                                                          for v in doc["image_size"])):
        raise InputError(f"{where}: reconstruction metadata image_size {doc['image_size']!r} is not (H, W)")
    if "fps" in doc and not (np.isfinite(doc["fps"]) and 0 < doc["fps"] <= 1000):
        raise InputError(f"{where}: reconstruction frame rate {doc['fps']!r} is not a frame rate")
    ident = _arr(data, "identity", where, "f", (None,), what)
    expr = _arr(data, "expression", where, "f", (None, None), what)
    F, Ke = expr.shape
    if F < 1 or Ke < 1:
        raise InputError(f"{where}: the reconstruction has no frames or no expressions (expression {expr.shape})")
    _arr(data, "expression_names", where, "US", (Ke,), what)
    R = _arr(data, "rotation", where, "f", (F, 3, 3), what)
    t = _arr(data, "translation", where, "f", (F, 2), what)
    s = _arr(data, "scale", where, "f", (F,), what)
    lm = _arr(data, "landmarks68", where, "f", (F, 68, 2), what)
    _arr(data, "fit_error_px", where, "f", (F,), what)
    _arr(data, "valid", where, "biu", (F,), what)
    _arr(data, "segment", where, "iu", (F,), what)
    if "repeated" in data:
        _arr(data, "repeated", where, "biu", (F,), what)
    _finite(ident, "identity", where, what, limit=IDENTITY_LIMIT)
    _finite(expr, "expression", where, what)
    lo, hi = EXPRESSION_RANGE
    if expr.size and (expr.min() < lo or expr.max() > hi):
        raise InputError(f"{where}: reconstruction expression values reach {float(expr.min()):.3g} .. "
                         f"{float(expr.max()):.3g}, outside {lo:g} .. {hi:g}; the file is damaged")
    for key, a in (("rotation", R), ("translation", t), ("scale", s), ("landmarks68", lm)):
        _finite(a, key, where, what)
    if not (s > 0).all():
        raise InputError(f"{where}: reconstruction array 'scale' has values <= 0 (frame {int(np.argmin(s > 0))})")
    ok = _rotations_ok(R)
    if not ok.all():
        f = int(np.argmin(ok))
        raise InputError(f"{where}: reconstruction rotation of frame {f} is not a rotation matrix "
                         f"(not orthonormal, or a reflection); the file is damaged")
    corr = [k for k in ("corrective", "corrective_index", "corrective_weight") if k in data]
    if corr and len(corr) != 3:
        raise InputError(f"{where}: reconstruction has only some of the corrective arrays "
                         "('corrective', 'corrective_index', 'corrective_weight')")
    if corr:
        co = _arr(data, "corrective", where, "f", (F, None, 3), what)
        ci = _arr(data, "corrective_index", where, "iu", (None, None), what)
        _arr(data, "corrective_weight", where, "f", ci.shape, what)
        if ci.size and (ci.min() < 0 or ci.max() >= co.shape[1]):
            raise InputError(f"{where}: reconstruction corrective_index points outside the {co.shape[1]} "
                             "control points")
        _finite(co, "corrective", where, what, limit=CORRECTIVE_LIMIT_CM)
        _finite(data["corrective_weight"], "corrective_weight", where, what, limit=1e3)
    return F


def load_track_file(path) -> TrackResult:
    """A ``track`` result ``.npz`` (core.tracking.TrackResult), checked like a project's."""
    from pathlib import Path

    from core.npz_io import load_npz_checked
    from core.tracking.result import TrackResult

    path = Path(path)
    data = load_npz_checked(path)
    check_track_arrays(data, str(path))
    return TrackResult.from_arrays(data, str(path))


def load_reconstruction_file(path) -> Reconstruction:
    """A ``reconstruct`` result ``.npz`` (core.fitting.Reconstruction), checked like a project's."""
    from pathlib import Path

    from core.fitting.reconstruction import Reconstruction
    from core.npz_io import load_npz_checked

    path = Path(path)
    data = load_npz_checked(path)
    check_reconstruction_arrays(data, str(path))
    return Reconstruction.from_arrays(data, str(path))
