"""Do fitted expression values mean what their names say? Checks against the tracker's scores.

MediaPipe's FaceLandmarker gives 52 ARKit blendshape scores per frame from its own
network; they are not ground truth, but they are an independent reading of the same
face with the same names, so a fit whose ``mouthPucker`` is 0.3 while MediaPipe's is
0.01 on every frame is not telling the user what the face does. Four figures, per clip
and pooled (``expression_report``):

* **calm lower face**: frames where every MediaPipe mouth, jaw, cheek and nose score is
  below ``CALM`` (0.1); on them the largest fitted mouth/jaw/cheek/nose coefficient.
  Its 95th percentile should be small (issue 15: <= 0.15).
* **calm upper face**: MediaPipe's brow, squint, wide and blink scores are far from zero
  on a resting face (d9: browInnerUp 0.44, eyeSquintLeft 0.48), so they are read against
  a neutral reference of the clip's own: per shape, the median score over the clip's
  calmest frames (``core.fitting.priors.calm_reference``: the 10 % of frames with the
  lowest total MediaPipe activity, gaze shapes excluded). Calm upper frames are those
  where every upper score is less than ``CALM`` above its reference; on them the largest
  fitted upper coefficient (absolute: a slider's value is what the user sees).
* **correlation**: per clip and shape, Pearson's r between the fitted coefficient and
  MediaPipe's score, over shapes whose MediaPipe score varies (std > ``VARIES``);
  the median over all (clip, shape) pairs. A model's split shape (ICT's
  ``browInnerUpLeft``) is compared with MediaPipe's joint one (``browInnerUp``).
* **symmetry**: for each Left/Right pair, on the frames where MediaPipe reads the pair
  as symmetric (its two scores, each relative to its neutral reference, within
  ``SYMMETRIC`` of each other), the mean |fitted Left - fitted Right|.

Arrays: ``fitted (F, Ke)`` the model's coefficients, ``scores (F, 52)`` MediaPipe's,
``valid (F,)`` bool frames to use.
"""
from __future__ import annotations

import numpy as np

from core.fitting.priors import calm_reference

#: a MediaPipe score below this (or this little above the neutral reference) is "at rest"
CALM = 0.1
#: shapes whose MediaPipe score varies less than this (std over the clip) are not correlated
VARIES = 0.05
#: Left and Right MediaPipe scores (relative to the reference) this close count as symmetric
SYMMETRIC = 0.05

LOWER_PREFIXES = ("mouth", "jaw", "cheek", "nose")
UPPER_PREFIXES = ("brow", "eyeSquint", "eyeWide", "eyeBlink")


def group_of(name: str) -> str:
    """'lower', 'upper', 'gaze' (eyeLook*) or 'other'."""
    if name.startswith(LOWER_PREFIXES):
        return "lower"
    if name.startswith(UPPER_PREFIXES):
        return "upper"
    if name.startswith("eyeLook"):
        return "gaze"
    return "other"


def source_index(model_names, source_names) -> np.ndarray:
    """(Ke,) index into the source's (MediaPipe's) names for each model shape, -1 if none.
    A split ``xLeft``/``xRight`` without its own source takes the source's ``x``."""
    src = {str(n): i for i, n in enumerate(source_names)}
    out = np.full(len(model_names), -1, np.int64)
    for j, n in enumerate(model_names):
        n = str(n)
        k = src.get(n)
        if k is None:
            for side in ("Left", "Right"):
                if n.endswith(side) and n[: -len(side)] in src:
                    k = src[n[: -len(side)]]
        out[j] = -1 if k is None else k
    return out


def expression_report(fitted: np.ndarray, model_names, scores: np.ndarray, source_names,
                      valid: np.ndarray) -> dict:
    """The four figures for one clip (see module docstring), plus raw arrays for pooling:
    ``lower_calm_max`` (n,), ``upper_calm_max`` (m,), ``correlations`` {shape: r},
    ``asymmetry`` {pair: mean |L - R|}, ``median_fitted`` {shape: median over valid frames}."""
    names = [str(n) for n in model_names]
    snames = [str(n) for n in source_names]
    E = np.asarray(fitted, np.float64)
    S = np.nan_to_num(np.asarray(scores, np.float64))
    v = np.asarray(valid, bool) & np.isfinite(E).all(1) & np.isfinite(np.asarray(scores, float)).all(1)
    ref = calm_reference(S, snames, v)
    rel = S - ref[None]
    groups_s = np.array([group_of(n) for n in snames])
    groups_m = np.array([group_of(n) for n in names])

    lower_calm = v & (S[:, groups_s == "lower"] < CALM).all(1)
    upper_calm = v & (rel[:, groups_s == "upper"] < CALM).all(1)
    lower_max = E[lower_calm][:, groups_m == "lower"].max(1) if lower_calm.any() else np.zeros(0)
    upper_max = E[upper_calm][:, groups_m == "upper"].max(1) if upper_calm.any() else np.zeros(0)

    src = source_index(names, snames)
    corr = {}
    for j, n in enumerate(names):
        k = src[j]
        if k < 0:
            continue
        s, e = S[v, k], E[v, j]
        if s.std() > VARIES:
            corr[n] = float(np.corrcoef(s, e)[0, 1]) if e.std() > 1e-9 else 0.0

    asym = {}
    for j, n in enumerate(names):
        if not n.endswith("Left"):
            continue
        base = n[:-4]
        if base + "Right" not in names:
            continue
        jr = names.index(base + "Right")
        kl, kr = src[j], src[jr]
        if kl < 0 or kr < 0 or kl == kr:
            continue   # the source has one joint score: it cannot say the pair is symmetric
        sym = v & (np.abs(rel[:, kl] - rel[:, kr]) <= SYMMETRIC)
        if sym.sum() >= 10:
            asym[base] = float(np.abs(E[sym, j] - E[sym, jr]).mean())

    median_fitted = {n: float(np.median(E[v, j])) for j, n in enumerate(names)} if v.any() else {}
    return dict(lower_calm_max=lower_max, upper_calm_max=upper_max, correlations=corr, asymmetry=asym,
                median_fitted=median_fitted, n_frames=int(v.sum()), n_lower_calm=int(lower_calm.sum()),
                n_upper_calm=int(upper_calm.sum()))


def summarise(reports: dict) -> dict:
    """Pooled figures over clips ``{clip: expression_report(...)}``: p95 of the calm maxima,
    median correlation over all (clip, shape) pairs, median and p95 asymmetry over
    (clip, pair)."""
    lower = np.concatenate([r["lower_calm_max"] for r in reports.values()] or [np.zeros(0)])
    upper = np.concatenate([r["upper_calm_max"] for r in reports.values()] or [np.zeros(0)])
    corr = [c for r in reports.values() for c in r["correlations"].values()]
    asym = [a for r in reports.values() for a in r["asymmetry"].values()]

    def pct(a, q):
        return float(np.percentile(a, q)) if len(a) else float("nan")

    return dict(lower_calm_p95=pct(lower, 95), lower_calm_frames=int(lower.size),
                upper_calm_p95=pct(upper, 95), upper_calm_frames=int(upper.size),
                correlation_median=float(np.median(corr)) if corr else float("nan"), correlation_pairs=len(corr),
                asymmetry_median=float(np.median(asym)) if asym else float("nan"),
                asymmetry_p95=pct(asym, 95), asymmetry_pairs=len(asym))
