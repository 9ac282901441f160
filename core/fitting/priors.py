"""Expression priors from the tracker's own blendshape scores (docs/fitting.md, issue 15).

Landmarks alone leave the split between near-redundant blendshapes open (jawOpen vs
mouthLowerDown, eyeBlink vs eyeSquint, mouthPucker vs a narrower identity mouth), and a
weak zero-centred prior lets the fit use whichever is cheapest: on calm clips that put
mouthPucker 0.3 and eyeSquintLeft 0.4 on the sliders. MediaPipe's FaceLandmarker gives,
for the same frame, 52 ARKit-named scores from its own network; they are a second reading
of the same face under the same names. The fit uses them as the centre of a Gaussian prior

    sum_f sum_k  kappa * c_fk * (e_fk - m_fk)^2

where ``c_fk`` is the landmark term's curvature for shape k in frame f (its diagonal of the
normal equations, so ``kappa`` means the same for every model, shape and pose: 0.3 is
"as sure as 0.3 of what the landmarks say about this shape alone") and ``m_fk`` the score,
mapped by name (``weights.map_blendshapes``) and read against the clip's own neutral:
MediaPipe's brow and squint scores sit far above zero on a resting face (d9 at rest:
browInnerUp 0.44, eyeSquintLeft 0.48), while the model's zero is the rest shape. The
neutral reference is the per-score median over the clip's calmest frames
(:func:`calm_reference`); on a still or a short clip, where there is no calm frame to
trust, the population reference ``REST_SCORES`` (MediaPipe's median at rest over calm
frames of the 13 talking-head clips of ../shared/data/videos) is used for the scores where
it is larger.

Arrays: scores (F, S) MediaPipe order; names (S,); model expressions (F, Ke).
"""
from __future__ import annotations

import numpy as np

# the score readers live with the tracker (core.model reads them too); re-exported here for the fit
from core.tracking.scores import (  # noqa: F401
    ACTIVITY_PREFIXES, GAZE_PREFIX, MIN_REFERENCE_FRAMES, REFERENCE_FRACTION, REST_SCORES, calm_frames,
    calm_mask, calm_reference, relative_scores,
)


def tracker_prior_centre(scores: np.ndarray, names, valid: np.ndarray, model_names,
                         bounds: np.ndarray) -> np.ndarray:
    """(F, Ke) prior centres for the model's expressions from the tracker's scores
    (relative to the clip's neutral, mapped by name, within the model's bounds). Shapes
    without a tracker score get 0, the model's rest."""
    from core.fitting.weights import map_blendshapes

    rel = relative_scores(scores, names, valid)
    m = map_blendshapes(names, rel, model_names)
    b = np.asarray(bounds, np.float64)
    return np.clip(m, b[:, 0], b[:, 1])


def prior_weights(curvature: np.ndarray, kappa: float, floor: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Weights (..., Ke) of the tracker-score prior from the landmark term's curvature per shape
    (..., Ke) (the diagonal of a frame's normal equations, data only): ``kappa`` x the
    curvature, but at least ``kappa`` x ``floor`` x the frame's median curvature over shapes, so a
    shape the landmarks hardly see (the built-in jawForward moves the chin along the viewing
    axis) is held at the tracker's reading instead of drifting freely; 0 where ``mask`` (Ke,)
    is False (shapes without a tracker score)."""
    c = np.asarray(curvature, np.float64)
    w = kappa * np.maximum(c, floor * np.median(c, axis=-1, keepdims=True))
    return w if mask is None else w * np.asarray(mask, bool)


def has_scores(model_names, names) -> np.ndarray:
    """(Ke,) bool: the model shape has a tracker score (by name or as a split Left/Right)."""
    src = {str(n) for n in names}
    out = []
    for n in model_names:
        n = str(n)
        ok = n in src or any(n.endswith(s) and n[: -len(s)] in src for s in ("Left", "Right"))
        out.append(ok)
    return np.array(out, bool)


def identity_prior_weight(identity_prior: float, evidence_frames: float, frame_weight_sums: np.ndarray) -> float:
    """The whole-video fit's weight on ``||i||^2`` (``FitSettings.identity_prior`` and
    ``identity_evidence_frames``). ``frame_weight_sums`` (F,) each fitted frame's total point
    weight: the clip holds n = sum / max frames' worth of landmark evidence, and MediaPipe's error
    on one face's shape is much the same in every frame (it reads proportions through its own
    canonical mesh), so beyond ``evidence_frames`` frames the landmarks' say on the identity stops
    growing: the prior grows with them instead. ``evidence_frames`` <= 0: a fixed prior."""
    w = np.asarray(frame_weight_sums, np.float64)
    top = float(w.max()) if w.size else 0.0
    if evidence_frames <= 0 or top <= 0:
        return float(identity_prior)
    return float(identity_prior) * max(1.0, float(w.sum()) / top / float(evidence_frames))


def identity_symmetry_matrix(identity_basis: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """(Ki, Ki): ``S`` with ``i^T S i`` the mean square (cm^2, over the tracker points) of the
    identity's left-right asymmetry: each point's identity displacement against its mirror
    partner's mirrored in x (``core.tracking.mirror.mirror_partner``; the models' midline is
    x = 0). ``identity_basis`` (Ki, L, 3) at the tracker's L points."""
    B = np.asarray(identity_basis, np.float64)
    D = B - B[:, partner] * np.array([-1.0, 1.0, 1.0])
    A = D.reshape(B.shape[0], -1)
    return A @ A.T / B.shape[1]
