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

#: Gaze scores are not read against a rest reference: looking at the camera is the model's zero.
GAZE_PREFIX = "eyeLook"
#: MediaPipe shapes that describe the whole face's activity (gaze and "_neutral" excluded)
#: for choosing the calmest frames.
ACTIVITY_PREFIXES = ("mouth", "jaw", "cheek", "nose", "brow", "eyeSquint", "eyeWide", "eyeBlink")
#: share of a clip's frames, the calmest by total MediaPipe activity, that define its neutral
REFERENCE_FRACTION = 0.1
#: clips with fewer usable frames than this use ``REST_SCORES`` where it is larger
MIN_REFERENCE_FRAMES = 30


def calm_frames(scores: np.ndarray, names, valid: np.ndarray, fraction: float = REFERENCE_FRACTION) -> np.ndarray:
    """Indices of the clip's calmest valid frames (lowest summed non-gaze activity), at
    least 5 (fewer only when the clip has fewer valid frames)."""
    names = [str(n) for n in names]
    use = np.array([n.startswith(ACTIVITY_PREFIXES) for n in names])
    S = np.nan_to_num(np.asarray(scores, np.float64))
    idx = np.flatnonzero(np.asarray(valid, bool))
    if idx.size == 0:
        return idx
    k = min(idx.size, max(5, int(round(fraction * idx.size))))
    return idx[np.argsort(S[idx][:, use].sum(1), kind="stable")[:k]]


def calm_reference(scores: np.ndarray, names, valid: np.ndarray, fraction: float = REFERENCE_FRACTION) -> np.ndarray:
    """(S,) per-score neutral reference: the median over the clip's calmest frames."""
    S = np.nan_to_num(np.asarray(scores, np.float64))
    calm = calm_frames(S, names, valid, fraction)
    return np.median(S[calm], axis=0) if calm.size else np.zeros(S.shape[1])


def relative_scores(scores: np.ndarray, names, valid: np.ndarray) -> np.ndarray:
    """(F, S) scores read against the clip's neutral (:func:`calm_reference`), clipped at 0;
    gaze scores unchanged. Short clips and stills take ``REST_SCORES`` where it is larger
    than their own reference (their calmest frame need not be calm)."""
    names = [str(n) for n in names]
    S = np.nan_to_num(np.asarray(scores, np.float64))
    ref = calm_reference(S, names, valid)
    if int(np.asarray(valid, bool).sum()) < MIN_REFERENCE_FRAMES:
        rest = np.array([REST_SCORES.get(n, 0.0) for n in names])
        ref = np.maximum(ref, rest) if int(np.asarray(valid, bool).sum()) > 1 else rest
    gaze = np.array([n.startswith(GAZE_PREFIX) for n in names])
    ref = np.where(gaze, 0.0, ref)
    return np.clip(S - ref[None], 0.0, None)


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


#: MediaPipe's scores at rest: per score, the median over the calmest 10 % of frames of each of
#: the 13 clips of ../shared/data/videos, then the median over clips (bench/bench_expressions.py
#: --rest-scores prints it; scores at 0 omitted). Used only for stills and clips under
#: MIN_REFERENCE_FRAMES frames. MediaPipe's own rest is lopsided (eyeSquintLeft 0.40, Right 0.29).
REST_SCORES: dict[str, float] = {
    "browDownLeft": 0.013, "browDownRight": 0.006, "browInnerUp": 0.218, "browOuterUpLeft": 0.12,
    "browOuterUpRight": 0.056, "eyeBlinkLeft": 0.113, "eyeBlinkRight": 0.073, "eyeSquintLeft": 0.4,
    "eyeSquintRight": 0.29, "eyeWideLeft": 0.008, "eyeWideRight": 0.007, "jawLeft": 0.001,
    "jawOpen": 0.008, "mouthClose": 0.002, "mouthDimpleLeft": 0.006, "mouthDimpleRight": 0.002,
    "mouthFunnel": 0.002, "mouthLeft": 0.002, "mouthLowerDownLeft": 0.001, "mouthPressLeft": 0.035,
    "mouthPressRight": 0.02, "mouthPucker": 0.027, "mouthRight": 0.001, "mouthRollLower": 0.009,
    "mouthRollUpper": 0.005, "mouthShrugLower": 0.007, "mouthShrugUpper": 0.012,
    "mouthSmileLeft": 0.001, "mouthStretchLeft": 0.001, "mouthStretchRight": 0.003
}


def calm_mask(scores: np.ndarray, names, valid: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """(F,) bool: the frames a neutral calibration may take as the subject's rest face: the
    clip's calmest frames (:func:`calm_frames`, which also define its neutral reference) whose
    every non-gaze score is within ``threshold`` of that reference (:func:`relative_scores`)."""
    names = [str(n) for n in names]
    rel = relative_scores(scores, names, valid)
    act = np.array([n.startswith(ACTIVITY_PREFIXES) for n in names])
    out = np.zeros(len(rel), bool)
    out[calm_frames(scores, names, valid)] = True
    return out & (rel[:, act] < threshold).all(1)
