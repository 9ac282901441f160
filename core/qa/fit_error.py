"""The worst frames of a reconstruction by its fit error, for stepping through them in QA.

A frame is one of the worst when its fit error is a local peak (the highest within
``radius`` frames on either side) above the clip's median error: a run of bad frames counts
once, at its worst frame, so stepping through the list visits different moments instead of
the neighbours of one, and a clip fitted equally well everywhere has none.
"""
from __future__ import annotations

import numpy as np


def worst_frames(errors: np.ndarray, count: int = 25, radius: int = 3) -> list[int]:
    """Frames of the error's local peaks, the highest first, at most ``count``.

    errors : (F,) float, pixels (NaN: the frame has no fit of its own; never listed).
    Ties between equal neighbours keep the first frame.
    """
    e = np.asarray(errors, np.float64).reshape(-1)
    F = e.size
    if F == 0:
        return []
    v = np.where(np.isfinite(e), e, -np.inf)
    if not np.isfinite(v).any():
        return []
    median = float(np.median(e[np.isfinite(e)]))
    peaks = []
    for f in range(F):
        if not np.isfinite(v[f]) or v[f] <= median:
            continue
        lo, hi = max(0, f - radius), min(F, f + radius + 1)
        window = v[lo:hi]
        if v[f] >= window.max() and int(np.argmax(window)) + lo == f:
            peaks.append(f)
    peaks.sort(key=lambda f: (-v[f], f))
    return peaks[:count]
