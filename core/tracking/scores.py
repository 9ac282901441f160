"""MediaPipe's blendshape scores read against the clip's own neutral (issue 15).

MediaPipe's FaceLandmarker gives 52 ARKit-named scores per frame, but its brow and squint
scores sit far above zero on a resting face (d9 at rest: browInnerUp 0.44, eyeSquintLeft
0.48), while a face model's zero is its rest shape. Here the scores are read against a
neutral reference: the per-score median over the clip's calmest frames
(:func:`calm_reference`); on a still or a short clip, where there is no calm frame to trust,
the population reference ``REST_SCORES`` is used for the scores where it is larger. The fit's
expression prior (core/fitting/priors.py), the personalisation (core/model/personalise.py)
and the tracker's average neutral (core/model/tracker_neutral.py) all read them so.

Arrays: scores (F, S) MediaPipe order; names (S,); valid (F,) bool.
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
