"""Which frame pair the editor shows the flow of, around repeated frames, and where the
reconstruction's ``repeated`` frames come from (the fit records them; older files derive them)."""
import numpy as np

from core.flow import flow_pair
from core.fitting.reconstruction import Reconstruction


def _fit(F=8, repeats=(3, 4)):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(F, 5))
    s = rng.uniform(3, 4, F)
    t = rng.normal(size=(F, 2))
    for r in repeats:  # the fitter copies a repeated picture's predecessor
        E[r], s[r], t[r] = E[r - 1], s[r - 1], t[r - 1]
    return E, s, t


def _rec(E, s, t, repeated=None) -> Reconstruction:
    F = len(E)
    return Reconstruction(
        model_name="m", model_spec="builtin", identity=np.zeros(3, np.float32), expression=E.astype(np.float32),
        expression_names=np.array([f"e{k}" for k in range(E.shape[1])]),
        rotation=np.tile(np.eye(3, dtype=np.float32), (F, 1, 1)), translation=t.astype(np.float32),
        scale=s.astype(np.float32), landmarks68=np.zeros((F, 68, 2), np.float32),
        fit_error_px=np.zeros(F, np.float32), valid=np.ones(F, bool), segment=np.zeros(F, np.int32),
        repeated=repeated)


def test_repeated_frames_are_stored_and_older_files_derive_them_from_exact_copies():
    E, s, t = _fit()
    marked = np.zeros(8, bool)
    marked[[3, 4]] = True
    rec = _rec(E, s, t, repeated=marked)
    assert Reconstruction.from_arrays(rec.to_arrays(), "r").repeated.tolist() == marked.tolist()
    # stored, not re-derived: a fit that marks nothing stays unmarked although frames 3, 4 are copies
    assert not Reconstruction.from_arrays(_rec(E, s, t).to_arrays(), "r").repeated.any()
    old = _rec(E, s, t).to_arrays()
    del old["repeated"]  # a file written before the fit recorded them
    assert Reconstruction.from_arrays(old, "r").repeated.tolist() == marked.tolist()
    t2 = t.copy()
    t2[3, 0] += 1e-3  # the same expression with a moved camera is a new picture
    old = _rec(E, s, t2).to_arrays()
    del old["repeated"]
    assert not Reconstruction.from_arrays(old, "r").repeated[3]


def test_flow_pair_skips_repeated_pictures():
    rep = np.zeros(8, bool)
    rep[[3, 4]] = True
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
