"""The live filter's effect on the per-frame fitted mesh (what the live reenactment draws).

    .venv/bin/python bench/bench_live_filter_mesh.py

For d6, d9, d14 (first 400 frames of the first track segment, raw detections cached by
bench_live_filter.py), the live per-frame fitter (built-in model, mean identity) runs on
raw, old-default-filtered and LIVE_PARAMS-filtered landmarks; printed per clip: the fitted
points' jitter (median RMS second difference, px) and their mean distance to the fit of
the offline two-pass (lag-free) track (% face width). Text output, one line per case.
"""
from __future__ import annotations

import numpy as np
from _common import REPO  # noqa: F401  (the repository on sys.path)
from bench_live_filter import clip_raw

from core.camera import project
from core.fitting.basis import basis_from_embedding
from core.fitting.frame_fit import FrameFitter
from core.fitting.settings import FitSettings
from core.fitting.weights import tracker_point_weights
from core.model.registry import load_model
from core.tracking.filtering import LIVE_PARAMS, OneEuroParams, face_width, one_euro, smooth_track


def run(model, basis, settings: FitSettings, lm: np.ndarray) -> np.ndarray:
    """The live per-frame fitter over landmarks (F, 478, >=2): the fitted points (F, L, 2) px."""
    ff = FrameFitter(basis, np.zeros(model.num_identity), tracker_point_weights(basis.num_points, settings),
                     np.asarray(model.expression_bounds, np.float64), settings)
    out = []
    for f in lm:
        r = ff.fit(np.asarray(f[:basis.num_points, :2], np.float64))
        X = basis.points(np.zeros(model.num_identity), r.expression)
        out.append(project(X, r.scale, r.rotation, r.translation)[:, :2])
    return np.array(out)


def main() -> None:
    m = load_model("builtin")
    fs = FitSettings()
    B = basis_from_embedding(m)
    for c in ("d6", "d9", "d14"):
        raw = clip_raw(c)[:400]
        fw = face_width(raw)
        ref = run(m, B, fs, smooth_track(raw, 30.0, fw))
        for name, p in (("raw", None), ("old", OneEuroParams()), ("live", LIVE_PARAMS)):
            lm = raw if p is None else one_euro(raw, 30.0, fw, p)
            P = run(m, B, fs, lm)
            d2 = P[2:] - 2 * P[1:-1] + P[:-2]
            jit = np.median(np.sqrt((d2 ** 2).sum(-1).mean(-1)))
            err = np.linalg.norm(P - ref, axis=-1).mean() / fw * 100
            print(c, name, f"mesh jitter px {jit:.3f}", f"err vs offline %fw {err:.3f}")


if __name__ == "__main__":
    main()
