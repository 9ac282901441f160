"""The fit's 68 iBUG points in the image, with the jaw line in either of two conventions.

The model's 68 iBUG points are fixed vertices, the "3D-aware" convention of AFLW2000-3D and
of the seed thesis's fitting (its landmarks "correspond to projections of their corresponding
3D points", L1860): on a turned head the far half of the jaw line is then drawn where the jaw
is, behind the cheek. 2D annotations (300-W, iBUG, the seeds' dynamic contour of seed 004)
put those points on the outline a person sees instead. This module gives that second
convention from a fit, without changing the fit: every jaw point but the chin (8) gets a line
of candidate surface points from its own vertex inwards across the cheek, at its own height
on the model's mean face; per frame the candidate that projects furthest outwards (along the
image direction of the model's x axis, on the point's side) is the point on the silhouette.
On a frontal face that is the jaw vertex itself, on the near side of a turned face too (its
line turns towards the camera), and on the far side the line's point where the cheek turns
away: the occluding contour (the "landmark marching" of pose-normalisation work, done on the
fitted face).

Coordinates: model cm (x to the face's left in a frontal image, y up, +z towards the viewer);
output image pixels (x right, y down).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis, basis_from_vertices, basis_landmarks68
from core.fitting.settings import JAW_CONVENTIONS, FitSettings

#: the jaw points that slide (all of 0-16 but the chin)
CONTOUR_POINTS = np.array([*range(0, 8), *range(9, 17)])
#: how far inwards a line reaches: the fraction of the point's distance to the midline (x = 0).
#: Far enough for the cheek's occluding contour at 75 degrees of yaw; near profile, the lines
#: at mouth height can end on the lips' outline (where the face's outline then is)
REACH = 0.65
#: candidates per line (the first is the jaw vertex itself)
SAMPLES = 24


@dataclass
class SilhouetteLines:
    """Candidate surface points of each sliding jaw point, as barycentric combinations.

    points : (C,) int            which of the 68 points each line belongs to
    corners : LandmarkBasis      the model at the distinct corner vertices (U points)
    corner_ids : (U,) int        those vertices' ids (for the corrective)
    tri : (C, K, 3) int          each candidate's three corners, indices into ``corners``
    bary : (C, K, 3) float64     its barycentric weights
    side : (C,) float64          +1 where the line lies at model x > 0, else -1
    """

    points: np.ndarray
    corners: LandmarkBasis
    corner_ids: np.ndarray
    tri: np.ndarray
    bary: np.ndarray
    side: np.ndarray

    def candidates(self, identity: np.ndarray, expression: np.ndarray,
                   corner_offsets: np.ndarray | None = None) -> np.ndarray:
        """(F, C, K, 3) model cm: every candidate of every frame. ``expression`` (F, Ke);
        ``corner_offsets`` (F, U, 3) cm are added to the corners (the clip's corrective)."""
        X = self.corners.points(identity, np.atleast_2d(expression))          # (F, U, 3)
        if corner_offsets is not None:
            X = X + corner_offsets
        return np.einsum("fckjd,ckj->fckd", X[:, self.tri], self.bary)

    def choose(self, candidates: np.ndarray, cams: OrthoCameras) -> tuple[np.ndarray, np.ndarray]:
        """Per frame and line the candidate furthest outwards in the image.

        candidates (F, C, K, 3) cm -> (positions (F, C, 2) px, chosen index (F, C))."""
        F, C, K, _ = candidates.shape
        P = cams.project(candidates.reshape(F, C * K, 3))[..., :2].reshape(F, C, K, 2)
        # the model's x axis in the image, pointing to the line's own side of the face
        x_axis = np.asarray(cams.rotation)[:, :2, 0]                          # (F, 2)
        out_dir = self.side[None, :, None] * x_axis[:, None, :]               # (F, C, 2)
        reach = np.einsum("fckd,fcd->fck", P, out_dir)
        k = reach.argmax(-1)
        f_idx, c_idx = np.meshgrid(np.arange(F), np.arange(C), indexing="ij")
        return P[f_idx, c_idx, k], k


def silhouette_lines(model, reach: float = REACH, samples: int = SAMPLES) -> SilhouetteLines:
    """Build the candidate lines on ``model``'s mean face (needs ``model.landmarks68``)."""
    from core.model.tracker_neutral import frontal_hits

    if model.landmarks68 is None:
        raise ValueError(f"model {model.name!r} has no 68-point landmark table")
    mean = np.asarray(model.mean, np.float64)
    tris = np.asarray(model.triangles, np.int64)
    lm = np.asarray(model.landmarks68, np.int64)
    corner_rows, bary_rows, sides = [], [], []
    t = np.linspace(0.0, 1.0, samples)[1:, None]
    for j in CONTOUR_POINTS:
        P = mean[lm[j]]
        Q = np.array([P[0] * (1.0 - reach), P[1], P[2]])
        tri_i, bary, hit = frontal_hits(P + t * (Q - P), mean, tris)
        # the vertex itself first; a sample that misses the mesh repeats its predecessor
        corners = [np.full(3, lm[j])]
        weights = [np.array([1.0, 0.0, 0.0])]
        for k in range(samples - 1):
            if hit[k]:
                corners.append(tris[tri_i[k]])
                weights.append(bary[k])
            else:
                corners.append(corners[-1])
                weights.append(weights[-1])
        corner_rows.append(np.stack(corners))
        bary_rows.append(np.stack(weights))
        sides.append(1.0 if P[0] > 0 else -1.0)
    corner_arr = np.stack(corner_rows)                                         # (C, K, 3) vertex ids
    ids, inverse = np.unique(corner_arr, return_inverse=True)
    return SilhouetteLines(points=CONTOUR_POINTS.copy(), corners=basis_from_vertices(model, ids),
                           corner_ids=ids, tri=inverse.reshape(corner_arr.shape),
                           bary=np.stack(bary_rows), side=np.array(sides))


def fit_landmarks68(model, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras,
                    vertex_offsets: Callable[[np.ndarray], np.ndarray] | None = None,
                    jaw: str = "3d") -> np.ndarray:
    """(F, 68, 2) px: the fit's 68 iBUG points. ``expression`` (F, Ke); ``vertex_offsets(ids)``
    gives (F, n, 3) cm to add at model vertices ``ids`` (n,) (the clip's corrective), or None.
    ``jaw`` "3d": the model's fixed vertices (AFLW2000-3D's convention); "silhouette": the jaw
    line (all but the chin) on the fitted face's visible outline."""
    if jaw not in JAW_CONVENTIONS:
        raise ValueError(f"jaw landmarks must be one of {JAW_CONVENTIONS}, not {jaw!r}")
    X = basis_landmarks68(model).points(identity, np.atleast_2d(expression))
    if vertex_offsets is not None:
        X = X + vertex_offsets(np.asarray(model.landmarks68, np.int64))
    out = cams.project(X)[..., :2]
    if jaw == "silhouette":
        lines = silhouette_lines(model)
        offsets = None if vertex_offsets is None else vertex_offsets(lines.corner_ids)
        out[:, lines.points], _ = lines.choose(lines.candidates(identity, expression, offsets), cams)
    return out


def reconstruction_landmarks68(rec, model, frames) -> np.ndarray:
    """(len(frames), 68, 2) px: the 68 points of frames ``frames`` (index array) of a
    Reconstruction as they stand now (e.g. after an edit of its fit), corrective included, in
    the jaw convention the reconstruction was made with."""
    from core.fitting.corrective import apply_corrective

    sel = np.atleast_1d(np.asarray(frames, np.int64))
    cams = OrthoCameras(np.asarray(rec.scale[sel], np.float64), np.asarray(rec.rotation[sel], np.float64),
                        np.asarray(rec.translation[sel], np.float64))
    offsets = None
    if rec.has_corrective:
        def offsets(ids):
            return apply_corrective(rec.corrective[sel], rec.corrective_index[ids], rec.corrective_weight[ids])
    jaw = FitSettings.from_dict(rec.settings or {}).jaw_landmarks
    return fit_landmarks68(rec.face_model(model), rec.identity, rec.expression[sel], cams, offsets, jaw)
