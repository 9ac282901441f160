"""Small numeric helpers shared by packages at every level of core/."""
from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray) -> np.ndarray:
    """3x^2 - 2x^3 on [0, 1] (x clipped): zero slope at both ends, so an ease or a fade built
    from it has no kink. Any shape; float64 for Python numbers."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def clipped_box(x0: int, y0: int, x1: int, y1: int, size: tuple[int, int],
                min_side: int = 1) -> tuple[int, int, int, int] | None:
    """The integer box (x0, y0, x1, y1) (x1, y1 exclusive) clipped to an image of ``size`` (H, W);
    None when less than ``min_side`` pixels remain in either direction."""
    H, W = size[:2]
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), W), min(int(y1), H)
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    return x0, y0, x1, y1
