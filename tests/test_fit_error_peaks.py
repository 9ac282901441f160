"""core.qa.fit_error: the worst frames are the fit error's peaks, worst first (no Qt)."""
from __future__ import annotations

import numpy as np

from core.qa.fit_error import worst_frames


def test_worst_frames_are_peaks_worst_first_and_skip_unfitted_frames():
    e = np.full(60, 1.0)
    e[10:14] = [3.0, 5.0, 4.0, 3.5]   # one bad run: counted once, at its worst frame
    e[40] = 9.0
    e[25] = np.nan                     # not fitted: never listed
    w = worst_frames(e, count=5, radius=3)
    assert w[:2] == [40, 11]
    assert 12 not in w and 13 not in w and 25 not in w
    assert worst_frames(np.array([])) == []
    assert worst_frames(e, count=1) == [40]
    assert worst_frames(np.full(30, 2.0)) == []  # fitted equally well everywhere: no worst frame
    assert worst_frames(np.full(5, np.nan)) == []
