"""Small geometry helpers of the model package, with no model imports of their own (so any
module of core.model can use them without an import cycle).

Arrays: points (N, 3) in any one unit.
"""
from __future__ import annotations

import numpy as np


def similarity_3d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: s, R (3, 3), t minimising ||dst - (s R src + t)||²."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    R = u @ np.diag(d) @ vt
    s = (sig * d).sum() / (a ** 2).sum()
    return float(s), R, md - s * R @ ms
