"""Small numeric helpers shared by packages at every level of core/."""
from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray) -> np.ndarray:
    """3x^2 - 2x^3 on [0, 1] (x clipped): zero slope at both ends, so an ease or a fade built
    from it has no kink. Any shape; float64 for Python numbers."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)
