"""ICT-FaceKit Light (MIT) loaders: the compact ``.npz`` and the original toolkit folder.

Both give the same FaceModel (arrays equal to float32 precision). Model space is
the toolkit's: centimetres, y up, the face looks down +z; the subject's left eye
has x > 0.

Identity: the toolkit samples identity weights from N(0, 1)
(``np.random.normal`` in its ``sample_random_identity``) and its deltas' norms fall
like square roots of PCA eigenvalues (61.3 for mode 0, about 1.05 for mode 99; mode 0
moves the face by 0.39 cm RMS), so the deltas are already scaled to one standard
deviation: they are used as the identity basis unchanged and ``identity_std`` is 1.

Expression names: ICT writes ``eyeBlink_L``; we use ARKit's ``eyeBlinkLeft``. ICT splits
``browInnerUp`` and ``cheekPuff`` into ``...Left``/``...Right``.

Polygons: quads are split along (a, c); the 548 triangles have -1 as fourth index.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.model.face_model import FaceModel
from core.npz_io import load_npz_checked

NPZ_ARRAYS = ("neutral", "faces_quad", "identity_deltas", "identity_names", "expression_deltas",
              "expression_names", "landmarks68_multipie")
NEUTRAL_OBJ = "generic_neutral_mesh.obj"
#: Data-derived iBUG-68 vertices (tools/fit_ict_landmarks68.py, from AFLW2000-3D's 3D
#: annotations): ICT's own ``landmarks68_multipie`` jaw line sits 6-9 % of the face size
#: inside the "3D-aware" jaw of AFLW2000-3D. Only used for the full 26719-vertex model.
DERIVED68_FILE = Path(__file__).resolve().parents[2] / "resources" / "rig" / "ict_landmarks68.json"

#: Vertex ranges [start, stop) from the toolkit README.
RANGES = {
    "face": (0, 9409), "narrow_face": (0, 6706), "head_neck": (9409, 11248), "mouth_socket": (11248, 13294),
    "eye_socket_left": (13294, 13678), "eye_socket_right": (13678, 14062), "gums_tongue": (14062, 17039),
    "teeth": (17039, 21451), "eyeball_left": (21451, 23021), "eyeball_right": (23021, 24591),
    "iris_left": (22221, 23021), "iris_right": (23791, 24591),
    "lacrimal": (24591, 24999), "eye_blend": (24999, 25047), "eye_occlusion": (25047, 25351),
    "eyelashes": (25351, 26719),
}
N_VERTICES = 26719


def arkit_name(ict_name: str) -> str:
    """``eyeBlink_L`` -> ``eyeBlinkLeft``; names without a side are unchanged."""
    return re.sub(r"_L$", "Left", re.sub(r"_R$", "Right", str(ict_name)))


def triangulate_quads(faces_quad: np.ndarray) -> np.ndarray:
    """(F, 4) int with -1 marking triangles -> (T, 3) int32, winding kept."""
    fq = np.asarray(faces_quad, np.int64)
    tri = fq[:, :3]
    quads = fq[fq[:, 3] >= 0]
    second = quads[:, [0, 2, 3]]
    return np.vstack([tri, second]).astype(np.int32)


def _range_mask(name: str, n: int = N_VERTICES) -> np.ndarray:
    m = np.zeros(n, bool)
    a, b = RANGES[name]
    m[a:b] = True
    return m


def _inside_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    from core.model.builtin import _inside_polygon as f
    return f(points, poly)


def ict_regions(neutral: np.ndarray, landmarks68: np.ndarray) -> dict[str, np.ndarray]:
    """Vertex regions: the README's ranges, plus lips (face vertices inside the 68-point outer lip
    contour, front view)."""
    n = len(neutral)
    reg = {k: _range_mask(k, n) for k in ("face", "narrow_face", "head_neck", "teeth", "gums_tongue",
                                          "eyeball_left", "eyeball_right", "eyelashes")}
    reg["mouth_interior"] = _range_mask("mouth_socket", n) | reg["gums_tongue"] | reg["teeth"]
    reg["left_eye"] = reg["eyeball_left"] | _range_mask("eye_socket_left", n)
    reg["right_eye"] = reg["eyeball_right"] | _range_mask("eye_socket_right", n)
    reg["left_iris"] = _range_mask("iris_left", n)
    reg["right_iris"] = _range_mask("iris_right", n)
    reg["eyeballs"] = reg["eyeball_left"] | reg["eyeball_right"]
    outer_lip = neutral[landmarks68[48:60], :2]
    lips = _inside_polygon(neutral[:, :2], outer_lip) & reg["face"]
    lips &= neutral[:, 2] > np.median(neutral[landmarks68[48:60], 2]) - 1.0  # front surface only
    reg["lips"] = lips
    return reg


def derived_landmarks68(n_vertices: int, path: Path = DERIVED68_FILE) -> np.ndarray | None:
    """(68,) data-derived landmark vertices for the full ICT mesh, or None (other mesh, no file)."""
    if n_vertices != N_VERTICES or not path.is_file():
        return None
    ids = np.asarray(json.loads(path.read_text())["vertex"], np.int64)
    return ids if ids.shape == (68,) and ids.min() >= 0 and ids.max() < n_vertices else None


def make_ict_model(neutral, faces_quad, identity_deltas, expression_deltas, expression_names, landmarks68,
                   uv=None, name="ict", source="", landmarks68_table: str = "derived") -> FaceModel:
    """Check the raw arrays and assemble the FaceModel (see module docstring).

    landmarks68_table: "derived" uses resources/rig/ict_landmarks68.json when it applies
    (see DERIVED68_FILE), "multipie" keeps the toolkit's own table. Regions always use
    the toolkit's table (its lip contour)."""
    def bad(msg):
        return InputError(f"ICT-FaceKit model {source}: {msg}")

    neutral = np.asarray(neutral, np.float32)
    if neutral.ndim != 2 or neutral.shape[1] != 3:
        raise bad(f"neutral must be (N, 3), got {neutral.shape}")
    fq = np.asarray(faces_quad)
    if fq.ndim != 2 or fq.shape[1] != 4:
        raise bad(f"faces_quad must be (F, 4), got {fq.shape}")
    if fq[:, :3].min() < 0 or fq.max() >= len(neutral) or fq[:, 3].min() < -1:
        raise bad(f"faces_quad has indices out of range [0, {len(neutral)})")
    lm = np.asarray(landmarks68)
    if lm.shape != (68,):
        raise bad(f"landmarks68_multipie must be (68,), got {lm.shape}")
    if lm.min() < 0 or lm.max() >= len(neutral):
        raise bad("landmarks68_multipie has vertex indices out of range")
    for label, arr in (("identity_deltas", identity_deltas), ("expression_deltas", expression_deltas)):
        a = np.asarray(arr)
        if a.ndim != 3 or a.shape[1:] != neutral.shape:
            raise bad(f"{label} must be (K, {len(neutral)}, 3), got {a.shape}")
    idb = np.asarray(identity_deltas, np.float32)
    exb = np.asarray(expression_deltas, np.float32)
    names = np.asarray([arkit_name(n) for n in expression_names])
    regions = ict_regions(neutral, lm.astype(np.int64)) if len(neutral) == N_VERTICES else {}
    derived = derived_landmarks68(len(neutral)) if landmarks68_table == "derived" else None
    if derived is not None:
        lm = derived
    return FaceModel(name=name, mean=neutral, identity_basis=idb, identity_std=np.ones(len(idb), np.float32),
                     expression_basis=exb, expression_names=names, triangles=triangulate_quads(fq),
                     uv=None if uv is None else np.asarray(uv, np.float32), regions=regions,
                     landmarks68=lm.astype(np.int32))


def per_vertex_uv(n_vertices: int, faces: list[list[int]], face_uv: list[list[int]] | None,
                  uv: np.ndarray | None) -> np.ndarray | None:
    """One uv per vertex: the first face corner that uses the vertex wins (UV seams keep one side)."""
    if uv is None or face_uv is None:
        return None
    out = np.zeros((n_vertices, 2), np.float32)
    seen = np.zeros(n_vertices, bool)
    flat_v = np.fromiter((i for f in faces for i in f), np.int64)
    flat_t = np.fromiter((i for f in face_uv for i in f), np.int64)
    first = np.unique(flat_v[::-1], return_index=True)
    idx = len(flat_v) - 1 - first[1]
    out[first[0]] = uv[flat_t[idx]]
    seen[first[0]] = True
    return out


def _neutral_uv(folder: Path, n: int) -> np.ndarray | None:
    from core.model.mesh_io import read_obj

    p = folder / NEUTRAL_OBJ
    if not p.is_file():
        return None
    m = read_obj(p)
    return per_vertex_uv(n, m.faces, m.face_uv, m.uv) if len(m.vertices) == n else None


def load_ict_npz(path: str | Path, with_uv: bool = True, landmarks68: str = "derived") -> FaceModel:
    """The compact ``.npz`` (arrays listed in NPZ_ARRAYS). UVs come from a neighbouring
    ``generic_neutral_mesh.obj`` when there is one. landmarks68: see make_ict_model."""
    path = Path(path)
    d = load_npz_checked(path, required=NPZ_ARRAYS)
    for k in ("neutral", "identity_deltas", "expression_deltas"):
        if d[k].dtype.kind != "f":
            raise InputError(f"{path}: array {k} must be floating point, got {d[k].dtype}")
        if not np.isfinite(d[k]).all():
            raise InputError(f"{path}: array {k} contains NaN or infinite values")
    if len(d["expression_names"]) != len(d["expression_deltas"]):
        raise InputError(f"{path}: {len(d['expression_names'])} expression_names for "
                         f"{len(d['expression_deltas'])} expression_deltas")
    uv = _neutral_uv(path.parent, len(d["neutral"])) if with_uv else None
    return make_ict_model(d["neutral"], d["faces_quad"], d["identity_deltas"], d["expression_deltas"],
                          d["expression_names"], d["landmarks68_multipie"], uv=uv, source=str(path),
                          landmarks68_table=landmarks68)


def load_ict_folder(folder: str | Path) -> FaceModel:
    """The original toolkit layout: ``generic_neutral_mesh.obj``, ``identity###.obj`` (all that exist,
    in number order), one OBJ per expression named as in ``vertex_indices.json['expressions']``,
    and the 68 landmark vertices from ``vertex_indices.json['idx_to_landmark_verts']``."""
    from core.model.mesh_io import read_obj

    folder = Path(folder)
    index_file = folder / "vertex_indices.json"
    if not (folder / NEUTRAL_OBJ).is_file():
        raise InputError(f"{folder}: not an ICT-FaceKit folder (no {NEUTRAL_OBJ})")
    if not index_file.is_file():
        raise InputError(f"{folder}: not an ICT-FaceKit folder (no vertex_indices.json)")
    try:
        index = json.loads(index_file.read_text())
        exp_names = list(index["expressions"])
        lm = np.asarray(index["idx_to_landmark_verts"], np.int64)
    except (json.JSONDecodeError, KeyError) as e:
        raise InputError(f"{index_file}: unreadable or missing 'expressions'/'idx_to_landmark_verts' ({e})") from e
    neutral_mesh = read_obj(folder / NEUTRAL_OBJ)
    neutral = neutral_mesh.vertices
    faces = neutral_mesh.faces
    if any(len(f) not in (3, 4) for f in faces):
        raise InputError(f"{folder / NEUTRAL_OBJ}: only triangles and quads are supported")
    fq = np.array([f + [-1] * (4 - len(f)) for f in faces], np.int32)

    def deltas(paths: list[Path]) -> np.ndarray:
        out = np.zeros((len(paths), len(neutral), 3), np.float32)
        for i, p in enumerate(paths):
            v = read_obj(p, vertices_only=True).vertices
            if v.shape != neutral.shape:
                raise InputError(f"{p}: {len(v)} vertices, the neutral mesh has {len(neutral)}")
            out[i] = v - neutral
        return out

    id_paths = sorted(folder.glob("identity[0-9][0-9][0-9].obj"))
    missing = [n for n in exp_names if not (folder / f"{n}.obj").is_file()]
    if missing:
        raise InputError(f"{folder}: expression OBJs missing: {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}")
    uv = per_vertex_uv(len(neutral), faces, neutral_mesh.face_uv, neutral_mesh.uv)
    return make_ict_model(neutral, fq, deltas(id_paths), deltas([folder / f"{n}.obj" for n in exp_names]),
                          exp_names, lm, uv=uv, source=str(folder))
