"""The tracker's neutral face: where MediaPipe puts its 478 points on an average face at rest.

The landmark embedding (core/model/embedding.py; for the built-in model the identity) ties
each tracker point to a point of the model's surface, and the model's zero expression is its
rest face. But the tracker's points on real faces at rest are not where the canonical mesh
has them: over the calmest frames of the 13 talking-head clips, pose-normalised, the upper
lids sit 3.5-3.9 mm higher (eyes 2.5-3 mm more open, up to 6.9 mm), the brows 2.5-2.8 mm
higher, the lips 2 mm lower and the irises 2.4 mm higher than on the canonical mesh; with
ICT the embedding inherits the same differences. A fit then explains them on every frame with
expressions (eyeWide 1.0 and browOuterUp 0.8 on calm clips with the built-in model, eyeWide
0.3-0.4 on rendered neutral faces with ICT).

The tracker's average neutral (``resources/rig/tracker_neutral.json``, made by
tools/fit_tracker_neutral.py) fixes that, brought into the model's frame by a similarity on the
inner points:

* the built-in model, whose vertices *are* the tracker's points, is built on it (its rig too);
* ICT keeps its mesh (a real average face) and gets a new embedding: each inner tracker point
  is placed where the ray along the viewing axis through the neutral's point meets ICT's mean
  surface (face skin; for the irises, the eyeball), i.e. where a frontal camera would see the
  tracker's point on ICT's average face (:func:`reembed_from_neutral`). The outline keeps its
  closest-point embedding (its points slide along the silhouette with the pose).

Identity 0, expression 0 then shows the average face at rest as the tracker sees it. Tried and
dropped (measured): (a) per-point offsets added to the fit's rest points, mesh unchanged: the 68
landmark vertices then sat off the image features by the offset, AFLW2000-3D NME +0.30 (ICT) /
+0.52 (built-in) points; (b) deforming ICT's mean mesh onto the neutral (Laplacian-smooth, 2.1 mm
median): NME +0.08, but the mean moved away from real faces (scan-to-mesh to the Surrey mean face
0.45 -> 0.87 mm, eyes 0.42 -> 2.2 mm): the neutral's 3D proportions are MediaPipe's, not a face's.

Points: (478, 3) in the canonical mesh's frame (cm, y up, face towards +z).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.model.geometry import closest_points_on_mesh, similarity_3d

NEUTRAL_FILE = Path(__file__).resolve().parents[2] / "resources" / "rig" / "tracker_neutral.json"
#: Points used to place the neutral on a model: the face's inner points (no outline, no irises),
#: whose positions depend least on the jaw-line convention.
_OUTLINE = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                     400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                     54, 103, 67, 109])


def alignment_points(num_points: int = 478) -> np.ndarray:
    """(P,) int: the tracker points used to align faces (the first 468 without the outline)."""
    keep = np.ones(min(num_points, 468), bool)
    keep[_OUTLINE] = False
    return np.flatnonzero(keep)


def load_neutral(path: Path = NEUTRAL_FILE) -> np.ndarray | None:
    """(478, 3) the shipped average neutral, or None when the file is missing."""
    if not Path(path).is_file():
        return None
    pts = np.asarray(json.loads(Path(path).read_text())["points"], np.float64)
    return pts if pts.shape == (478, 3) else None


def neutral_offsets(surface_points: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(L, 3) offsets that move the model's embedded rest points ``surface_points`` (L, 3), model
    cm, onto ``neutral`` (478, 3, canonical frame) placed by a similarity on the inner points."""
    L = surface_points.shape[0]
    ids = alignment_points(L)
    s, R, t = similarity_3d(neutral[ids], surface_points[ids])
    placed = s * neutral[:L] @ R.T + t
    return placed - surface_points


def frontal_hits(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                 candidates: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where rays along z through ``points`` (P, 3) meet a mesh, the front-most (largest z) hit.

    Returns triangle index (P,) into ``triangles``, barycentrics (P, 3) and a hit flag (P,);
    only the ``candidates`` triangles with the nearest centroids in x, y are tested.
    """
    from scipy.spatial import cKDTree

    V = np.asarray(vertices, np.float64)
    T = np.asarray(triangles, np.int64)
    k = min(candidates, len(T))
    _, near = cKDTree(V[T].mean(1)[:, :2]).query(np.asarray(points)[:, :2], k=k)
    near = near.reshape(len(points), k)
    a, b, c = (V[T[near][..., i]] for i in range(3))                     # (P, k, 3)
    p = np.asarray(points, np.float64)[:, None, :2]
    v0, v1, v2 = b[..., :2] - a[..., :2], c[..., :2] - a[..., :2], p - a[..., :2]
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
        w = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
    bary = np.stack([1 - u - w, u, w], -1)
    inside = np.isfinite(bary).all(-1) & (bary >= -1e-9).all(-1)
    z = np.einsum("pkc,pkc->pk", bary, np.stack([a[..., 2], b[..., 2], c[..., 2]], -1))
    z = np.where(inside, z, -np.inf)
    best = z.argmax(1)
    rows = np.arange(len(points))
    return near[rows, best], bary[rows, best], inside[rows, best]


def reembed_from_neutral(model, neutral: np.ndarray | None = None):
    """Re-place the inner tracker points of ``model``'s embedding (module docstring): the
    neutral's points, placed on the model's mean by a similarity, projected along z onto the
    mean surface (face triangles; iris points onto their eyeball).
    Points whose ray misses keep their embedding. Returns the model (unchanged without an
    embedding or a neutral file)."""
    from core.model.face_model import LandmarkEmbedding

    if model.embedding is None:
        return model
    neutral = load_neutral() if neutral is None else neutral
    if neutral is None:
        return model
    emb = model.embedding
    L = len(emb)
    V = np.asarray(model.mean, np.float64)
    surface = model.embedded_points(V)
    placed = surface + neutral_offsets(surface, neutral)
    tri_ids = np.asarray(emb.triangles).copy()
    bary = np.asarray(emb.barycentric, np.float64).copy()
    reg = model.regions
    groups = []
    face = alignment_points(L)
    if "face" in reg:
        groups.append((face, np.flatnonzero(np.asarray(reg["face"], bool)[model.triangles].all(1))))
    else:
        groups.append((face, np.arange(len(model.triangles))))
    for side, first in (("right", 468), ("left", 473)):
        # the whole eyeball, not only its iris disc: the tracker's irises sit 2.4 mm higher on an
        # average face at rest than the canonical mesh's, and its ray may pass above ICT's iris
        key = f"eyeball_{side}"
        if first + 5 <= L and key in reg and np.asarray(reg[key], bool)[model.triangles].all(1).any():
            inside = np.asarray(reg[key], bool)[model.triangles].all(1)
            groups.append((np.arange(first, first + 5), np.flatnonzero(inside)))
    on_jaw, tri_on_jaw = _jaw_sides(model, surface)
    facing = _facing_camera(V, model.triangles) if on_jaw is not None else None
    for ids, tris in groups:
        ti, b, hit = frontal_hits(placed[ids], V, model.triangles[tris])
        if on_jaw is not None:
            # a point stays on its own side of the mouth (see _jaw_sides): a ray that lands on
            # the other side takes the nearest surface point of its own side instead
            # (facing the camera: the lip's outline as a frontal view shows it, not its underside)
            wrong = hit & (tri_on_jaw[tris[ti]] != on_jaw[ids])
            for side in (False, True):
                sel = np.flatnonzero(wrong & (on_jaw[ids] == side))
                own = tris[(tri_on_jaw[tris] == side) & facing[tris]]
                if len(sel) and len(own):
                    t2, b2, _ = closest_points_on_mesh(placed[ids[sel]], V, model.triangles[own])
                    ti[sel], b[sel] = np.searchsorted(tris, own[t2]), b2
        tri_ids[ids[hit]] = tris[ti[hit]]
        bary[ids[hit]] = b[hit]
    model.embedding = LandmarkEmbedding(tri_ids.astype(np.int32), bary.astype(np.float32))
    model.validate()
    return model


def _jaw_sides(model, surface: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Which tracker points (L,) and triangles (T,) move with the jaw: more than half the largest
    displacement under the model's ``jawOpen``. (None, None) for a model without one.

    On the average neutral the lips are closed: the rays through the upper inner-lip points
    (13, 82, 312...) pass where the lips meet and may hit the lower lip's front. Embedded
    there, the upper lip's points open with the jaw, and no fit can open the mouth (d12 with
    ICT: the fitted inner lips 6.5 mm from the tracker's). The original (closest-point)
    embedding knows each point's side; a ray that lands on the other side is replaced by the
    nearest point of the point's own side."""
    if "jawOpen" not in list(model.expression_names):
        return None, None
    j = model.expression_index("jawOpen")
    move = np.linalg.norm(np.asarray(model.expression_basis[j], np.float64), axis=1)   # (V,)
    if move.max() <= 0:
        return None, None
    half = 0.5 * move.max()
    e = np.zeros(model.num_expressions)
    e[j] = 1.0
    point_move = np.linalg.norm(model.embedded_points(model.vertices(None, e)) - surface, axis=1)
    return point_move > half, move[model.triangles].mean(1) > half


def _facing_camera(vertices: np.ndarray, triangles: np.ndarray, min_z: float = 0.3) -> np.ndarray:
    """(T,) whether each triangle's unit normal points towards +z (the viewer: the model's faces
    look along +z) by more than ``min_z``. The models' triangles run counter-clockwise seen from
    outside (as core.fitting.contour relies on), so (b - a) x (c - a) points out of the face."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    n = np.cross(b - a, c - a)
    return n[:, 2] > min_z * np.maximum(np.linalg.norm(n, axis=1), 1e-12)
