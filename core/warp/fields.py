"""Smooth displacement fields beyond the face: push-pull filling and the face's size."""
from __future__ import annotations

import cv2
import numpy as np


def push_pull_fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Smoothly fill ``values`` (h, w, C) where ``weight`` (h, w) in [0, 1] is 0.

    Push: a Gaussian pyramid of weighted values and weights; pull: from the coarsest
    level up, each level keeps its own normalised value where it has weight and
    takes the upsampled coarser estimate elsewhere. The result is smooth (a
    multi-scale membrane) and equals ``values`` where weight is 1.
    """
    v = (values * weight[..., None]).astype(np.float32)
    w = weight.astype(np.float32)
    levels = [(v, w)]
    while min(v.shape[:2]) > 4:
        v = cv2.pyrDown(v)
        w = cv2.pyrDown(w)
        if v.ndim == 2:
            v = v[..., None]
        levels.append((v, w))
    v, w = levels[-1]
    total = w.sum()
    est = np.broadcast_to((v.sum((0, 1)) / max(total, 1e-9)) if total > 0 else 0.0, v.shape).astype(np.float32)
    for v, w in reversed(levels):
        h_, w_ = v.shape[:2]
        up = cv2.resize(est, (w_, h_), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        own = v / np.maximum(w, 1e-6)[..., None]
        a = np.clip(w * 2.0, 0.0, 1.0)[..., None]  # trust a level once half its footprint is covered
        est = a * own + (1 - a) * up
    return est


def face_size(points: np.ndarray) -> float:
    """A length for the face: sqrt of the bounding-box area of the points (N, >=2), pixels."""
    p = points[:, :2]
    ext = p.max(0) - p.min(0)
    return float(np.sqrt(max(ext[0] * ext[1], 1.0)))
