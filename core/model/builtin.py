"""The built-in face model: MediaPipe's canonical mesh + the project's ARKit rig.

Vertices 0..467 are the canonical mesh (read from the tracker's ``.task`` file),
vertices 468..477 are iris points added by the project (centre, then +x, +y, -x, -y
on a 0.6 cm ring, in the tracker's order), so vertex i is the tracker's landmark i
and the landmark embedding is the identity. Each iris is a small 4-triangle disc.

Expression basis: 51 ARKit blendshapes (the tracker's 52 minus ``_neutral``), built
from ``resources/rig/arkit_rig.json`` by :mod:`core.model.rig`.

Identity basis (documented choice): smooth, low-frequency offsets from the mean.
The first ``n_modes`` non-constant eigenfunctions of the cotangent Laplacian of the
mesh (generalised problem ``L phi = lambda M phi`` with the lumped mass matrix M),
each used along x, y and z (3 * n_modes components). Similarity motions (translation,
rotation, scale) are projected out so identity never competes with head pose; each
component is then scaled to an RMS displacement of ``0.4 cm / sqrt(k)`` for the k-th
eigenfunction (the first ICT-FaceKit identity mode moves the face by 0.39 cm RMS).
Coefficients are therefore in units of one standard deviation (prior N(0, 1)) and
``identity_std`` is all ones. Iris points move with the mean of their eye's contour.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.model import canonical as cm
from core.model.face_model import FaceModel, LandmarkEmbedding
from core.model.rig import DEFAULT_RIG, build_rig, load_rig_file

IRIS_RADIUS_CM = 0.6
IRIS_DEPTH_CM = 0.25  # behind the lid contour: keeps the iris inside the eye opening
LANDMARKS68_FILE = Path(__file__).resolve().parents[2] / "resources" / "rig" / "canonical_landmarks68.json"


def _add_irises(mesh: cm.CanonicalMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> vertices (478, 3), uv (478, 2), triangles (898 + 8, 3)."""
    v = mesh.vertices.astype(np.float64)
    uv = mesh.uv.astype(np.float64)
    new_v, new_uv, new_t = [], [], []
    eyes = ((cm.RIGHT_EYE_UPPER + cm.RIGHT_EYE_LOWER, 468), (cm.LEFT_EYE_UPPER + cm.LEFT_EYE_LOWER, 473))
    for contour, first in eyes:
        ids = np.unique(contour)
        c = v[ids].mean(0)
        c[2] -= IRIS_DEPTH_CM
        r = IRIS_RADIUS_CM
        ring = [c + [r, 0, 0], c + [0, r, 0], c - [r, 0, 0], c - [0, r, 0]]
        new_v += [c] + ring
        new_uv += [uv[ids].mean(0)] * 5
        # fan (centre, ring i, ring i+1): counter-clockwise seen from +z
        new_t += [[first, first + 1 + i, first + 1 + (i + 1) % 4] for i in range(4)]
    return (np.vstack([v, new_v]).astype(np.float32), np.vstack([uv, new_uv]).astype(np.float32),
            np.vstack([mesh.triangles, np.asarray(new_t)]).astype(np.int32))


def _inside_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of (P, 2) points against a closed (Q, 2) polygon."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < xi)).sum(1) % 2 == 1


def region_masks(vertices: np.ndarray) -> dict[str, np.ndarray]:
    """Vertex regions of the 478-point built-in mesh, from the landmark contours (front view)."""
    N = len(vertices)
    xy = vertices[:, :2]

    def ring(outer, inner):
        poly = np.vstack([xy[outer], xy[inner[::-1]]])
        m = _inside_polygon(xy, poly)
        m[outer] = True
        m[inner] = True
        m[468:] = False
        return m

    def ids_mask(ids):
        m = np.zeros(N, bool)
        m[ids] = True
        return m

    upper = ring(cm.LIPS_OUTER_UPPER, cm.LIPS_INNER_UPPER)
    lower = ring(cm.LIPS_OUTER_LOWER, cm.LIPS_INNER_LOWER)
    corners = [61, 291, 78, 308]  # shared by both lips: belong to neither alone
    upper[corners] = False
    lower[corners] = False
    lips = upper | lower
    lips[corners] = True
    return {
        "face": np.ones(N, bool),
        "lips": lips, "upper_lip": upper, "lower_lip": lower,
        "right_eye": ids_mask(cm.RIGHT_EYE_UPPER + cm.RIGHT_EYE_LOWER + cm.RIGHT_IRIS),
        "left_eye": ids_mask(cm.LEFT_EYE_UPPER + cm.LEFT_EYE_LOWER + cm.LEFT_IRIS),
        "right_iris": ids_mask(cm.RIGHT_IRIS), "left_iris": ids_mask(cm.LEFT_IRIS),
        "right_brow": ids_mask(cm.RIGHT_BROW), "left_brow": ids_mask(cm.LEFT_BROW),
    }


def cotangent_laplacian(v: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense cotangent Laplacian L (N, N) (positive semi-definite) and lumped mass (N,)."""
    N = len(v)
    L = np.zeros((N, N))
    mass = np.zeros(N)
    for k in range(3):
        i, j, o = t[:, k], t[:, (k + 1) % 3], t[:, (k + 2) % 3]
        a, b = v[i] - v[o], v[j] - v[o]
        cot = (a * b).sum(1) / np.maximum(np.linalg.norm(np.cross(a, b), axis=1), 1e-12)
        np.add.at(L, (i, j), -0.5 * cot)
        np.add.at(L, (j, i), -0.5 * cot)
    L[np.diag_indices(N)] = -L.sum(1)
    area = 0.5 * np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1)
    for k in range(3):
        np.add.at(mass, t[:, k], area / 3.0)
    return L, mass


def similarity_fields(v: np.ndarray) -> np.ndarray:
    """Orthonormal basis (7, N*3) of infinitesimal similarity motions of ``v`` (N, 3)."""
    c = v - v.mean(0)
    fields = [np.tile(e, (len(v), 1)) for e in np.eye(3)]
    fields += [np.cross(axis, c) for axis in np.eye(3)]
    fields.append(c)
    q, _ = np.linalg.qr(np.stack([f.ravel() for f in fields], 1))
    return q.T


def smooth_identity_basis(v: np.ndarray, t: np.ndarray, n_modes: int = 20, rms_first: float = 0.4) -> np.ndarray:
    """(3 * n_modes, N, 3) float32 basis; see the module docstring."""
    from scipy.linalg import eigh

    L, mass = cotangent_laplacian(v.astype(np.float64), t)
    _, phi = eigh(L, np.diag(mass), subset_by_index=[1, n_modes])
    S = similarity_fields(v.astype(np.float64))
    comps = []
    for k in range(n_modes):
        f = phi[:, k] / np.sqrt((phi[:, k] ** 2).mean())
        for axis in range(3):
            d = np.zeros((len(v), 3))
            d[:, axis] = f
            d = d.ravel() - S.T @ (S @ d.ravel())
            rms = np.sqrt((d ** 2).sum() / len(v))
            comps.append(d.reshape(-1, 3) * (rms_first / np.sqrt(k + 1) / rms))
    return np.asarray(comps, np.float32)


def load_landmarks68(path: Path = LANDMARKS68_FILE) -> np.ndarray | None:
    """Vertex ids of the 68 iBUG points on the canonical mesh (data derived by tools/fit_canonical_landmarks68.py)."""
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return np.asarray(json.load(f)["vertex"], np.int32)


def build_builtin_model(task_path=None, rig_path: str | Path = DEFAULT_RIG, n_identity_modes: int = 20,
                        tracker_neutral: bool = True, neutral: np.ndarray | None = None) -> FaceModel:
    """Assemble the built-in model (about 0.3 s). ``tracker_neutral``: its rest face is the
    tracker's average neutral (core/model/tracker_neutral.py) instead of the canonical mesh
    (whose eyes are 2.5-3 mm less open than the tracker sees real faces at rest); the rig is
    built on that rest face. ``neutral`` (478, 3): another average neutral than the shipped one."""
    mesh = cm.read_canonical_mesh(task_path)
    # protobuf uv has v pointing down the texture; FaceModel stores v up (as the OBJ does)
    mesh.uv = np.stack([mesh.uv[:, 0], 1.0 - mesh.uv[:, 1]], 1).astype(np.float32)
    v, uv, tri = _add_irises(mesh)
    if tracker_neutral:
        from core.model.tracker_neutral import load_neutral, neutral_offsets

        neutral = load_neutral() if neutral is None else neutral
        if neutral is not None and len(v) == len(neutral):
            v = (v + neutral_offsets(v.astype(np.float64), neutral)).astype(np.float32)
    regions = region_masks(v)
    names, exp = build_rig(v, cm.GROUPS, regions, load_rig_file(rig_path))

    idb468 = smooth_identity_basis(v[:468], mesh.triangles, n_identity_modes)
    idb = np.zeros((idb468.shape[0], len(v), 3), np.float32)
    idb[:, :468] = idb468
    for eye, first in ((cm.RIGHT_EYE_UPPER + cm.RIGHT_EYE_LOWER, 468), (cm.LEFT_EYE_UPPER + cm.LEFT_EYE_LOWER, 473)):
        idb[:, first:first + 5] = idb468[:, np.unique(eye)].mean(1, keepdims=True)

    # embedding: tracker point i is vertex i -> any triangle holding it, one-hot barycentrics
    emb_tri = np.zeros(len(v), np.int32)
    emb_bar = np.zeros((len(v), 3), np.float32)
    for corner in (2, 1, 0):
        emb_tri[tri[:, corner]] = np.arange(len(tri))
    for i in range(len(v)):
        emb_bar[i, int(np.flatnonzero(tri[emb_tri[i]] == i)[0])] = 1.0

    return FaceModel(
        name="builtin", mean=v, identity_basis=idb, identity_std=np.ones(idb.shape[0], np.float32),
        expression_basis=exp, expression_names=np.asarray(names), triangles=tri, uv=uv, regions=regions,
        landmarks68=load_landmarks68(), embedding=LandmarkEmbedding(emb_tri, emb_bar),
    )
