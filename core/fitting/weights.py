"""Per-point and per-frame landmark weights for fitting MediaPipe's 478 points,
and the tracker-blendshape -> model-expression name mapping.

Each weight states why it has its value (also in docs/fitting.md).
"""
from __future__ import annotations

import numpy as np

from core.fitting.settings import FitSettings

#: MediaPipe face-mesh outline (FACEMESH_FACE_OVAL): these points follow the
#: visible silhouette, so as the head turns they slide over the surface instead of
#: staying on one model point.
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                      400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                      54, 103, 67, 109])
#: Iris points (MediaPipe 468-477: centre + 4 ring points per eye).
IRIS = np.arange(468, 478)
#: Iris weight: the centre follows gaze well, but the ring is a fixed-size circle
#: fitted by MediaPipe (not an observed contour) and gaze is a small signal: half.
IRIS_WEIGHT = 0.5

#: iBUG-68 jaw line (0-16): on images annotated with 3D-aware points (AFLW2000-3D)
#: they are fixed model points; on 2D annotations (300-W) they are silhouette points.
JAW68 = np.arange(0, 17)


def tracker_point_weights(num_points: int = 478, settings: FitSettings | None = None) -> np.ndarray:
    """(L,) weights for MediaPipe's points: outline down-weighted (``contour_weight``),
    irises ``IRIS_WEIGHT``, all others 1."""
    s = settings or FitSettings()
    w = np.ones(num_points)
    w[FACE_OVAL[FACE_OVAL < num_points]] = s.contour_weight
    w[IRIS[IRIS < num_points]] = IRIS_WEIGHT
    return w


def ibug68_point_weights(contour_weight: float = 1.0) -> np.ndarray:
    """(68,) weights for iBUG-68 observations; jaw line gets ``contour_weight``
    (1 for 3D-aware annotations, lower for 2D silhouette annotations)."""
    w = np.ones(68)
    w[JAW68] = contour_weight
    return w


def frame_weights(valid: np.ndarray, bridged: np.ndarray | None, settings: FitSettings | None = None) -> np.ndarray:
    """(F,) per-frame confidence: tracked 1, bridged ``bridged_weight``, invalid 0."""
    s = settings or FitSettings()
    w = np.asarray(valid, bool).astype(np.float64)
    if bridged is not None:
        w[np.asarray(bridged, bool) & np.asarray(valid, bool)] = s.bridged_weight
    return w


def map_blendshapes(source_names, scores: np.ndarray, model_names) -> np.ndarray:
    """Tracker blendshape scores (F, S) named ``source_names`` -> (F, Ke) model expressions.

    Names match exactly (ARKit), or a model's split left/right component
    (``browInnerUpLeft``) takes the source's symmetric one (``browInnerUp``).
    Expressions with no source and NaN scores give 0.
    """
    src = {str(n): i for i, n in enumerate(source_names)}
    S = np.nan_to_num(np.asarray(scores, np.float64))
    out = np.zeros((S.shape[0], len(model_names)))
    for j, name in enumerate(model_names):
        name = str(name)
        k = src.get(name)
        if k is None:
            for side in ("Left", "Right"):
                if name.endswith(side) and name[: -len(side)] in src:
                    k = src[name[: -len(side)]]
        if k is not None:
            out[:, j] = S[:, k]
    return out
