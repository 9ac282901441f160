"""Which frame pair the editor shows the flow of, around repeated frames."""
import numpy as np

from core.flow import flow_pair, repeated_frames


def _fit(F=8, repeats=(3, 4)):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(F, 5))
    s = rng.uniform(3, 4, F)
    t = rng.normal(size=(F, 2))
    for r in repeats:  # the fitter copies a repeated picture's predecessor
        E[r], s[r], t[r] = E[r - 1], s[r - 1], t[r - 1]
    return E, s, t


def test_repeated_frames_are_exact_copies_only():
    E, s, t = _fit()
    rep = repeated_frames(E, s, t)
    assert rep.tolist() == [False, False, False, True, True, False, False, False]
    t2 = t.copy()
    t2[3, 0] += 1e-3  # the same expression with a moved camera is a new picture
    assert not repeated_frames(E, s, t2)[3]


def test_flow_pair_skips_repeated_pictures():
    rep = repeated_frames(*_fit())
    assert flow_pair(rep, 0) == (0, 1)
    assert flow_pair(rep, 2) == (2, 5)  # frames 3 and 4 repeat 2: show 2 -> 5
    assert flow_pair(rep, 3) == (3, 5)
    assert flow_pair(rep, 7) == (6, 7)  # last frame: the flow into it
    assert flow_pair(np.zeros(1, bool), 0) == (0, 0)


def test_flow_pair_looks_at_most_max_ahead():
    rep = np.array([False] + [True] * 6 + [False])
    assert flow_pair(rep, 0, max_ahead=3) == (0, 3)
    assert flow_pair(rep, 7, max_ahead=3) == (6, 7)  # frame 7 is a new picture
    still_end = np.array([False] + [True] * 7)
    assert flow_pair(still_end, 7, max_ahead=3) == (4, 7)
