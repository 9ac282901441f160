"""Frame bookkeeping shared by the fitters: which fitted frame stands in for an unfitted one."""
from __future__ import annotations

import numpy as np


def nearest_index(have: np.ndarray) -> np.ndarray:
    """(F,) int: for every frame the nearest frame where ``have`` (F,) bool is True.

    Frames where ``have`` is True map to themselves; a frame exactly between two such
    frames takes the later one. ``have`` must hold at least one True. This is the one
    rule by which frames without a fit (no face, a gap in the track) copy a fitted frame:
    the whole-video fit, the per-frame fit and the camera smoothing all use it.
    """
    have = np.asarray(have, bool)
    idx = np.flatnonzero(have)
    if idx.size == 0:
        raise ValueError("no frame to copy from")
    frames = np.arange(have.size)
    pos = np.searchsorted(idx, frames)  # first fitted frame at or after each frame
    nxt = idx[np.clip(pos, 0, idx.size - 1)]
    prev = idx[np.clip(pos - 1, 0, idx.size - 1)]
    return np.where(np.abs(prev - frames) < np.abs(nxt - frames), prev, nxt)
