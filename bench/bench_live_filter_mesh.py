"""The live filter's effect on the per-frame fitted mesh (what the live reenactment draws).

    .venv/bin/python bench/bench_live_filter_mesh.py

For d6, d9, d14 (first 400 frames of the first track segment, raw detections cached by
bench_live_filter.py), the live per-frame fitter (built-in model, mean identity) runs on
raw, old-default-filtered and LIVE_PARAMS-filtered landmarks; printed per clip: the fitted
points' jitter (median RMS second difference, px) and their mean distance to the fit of
the offline two-pass (lag-free) track (% face width). Text output, one line per case.
"""
import sys; from pathlib import Path
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)); sys.path.insert(0, str(REPO / 'bench'))
import numpy as np
import bench_live_filter as b
from core.model.registry import load_model
from core.fitting.basis import basis_from_embedding
from core.fitting.frame_fit import FrameFitter
from core.fitting.settings import FitSettings
from core.fitting.weights import tracker_point_weights
from core.tracking.filtering import LIVE_PARAMS, OneEuroParams, one_euro, face_width, smooth_track
from core.camera import project
m = load_model("builtin"); fs = FitSettings(); B = basis_from_embedding(m)
def run(lm):
    ff = FrameFitter(B, np.zeros(m.num_identity), tracker_point_weights(B.num_points, fs), np.asarray(m.expression_bounds, np.float64), fs)
    out=[]
    for f in lm:
        r = ff.fit(np.asarray(f[:B.num_points,:2],np.float64))
        X = B.points(np.zeros(m.num_identity), r.expression)
        out.append(project(X, r.scale, r.rotation, r.translation)[:, :2])
    return np.array(out)
for c in ("d6","d9","d14"):
    raw=b._clip_raw(c)[:400]; fw=face_width(raw)
    ref=run(smooth_track(raw,30.0,fw))
    for name,p in (("raw",None),("old",OneEuroParams()),("live",LIVE_PARAMS)):
        lm = raw if p is None else one_euro(raw,30.0,fw,p)
        P=run(lm); d2=P[2:]-2*P[1:-1]+P[:-2]
        jit=np.median(np.sqrt((d2**2).sum(-1).mean(-1)))
        err=np.linalg.norm(P-ref,axis=-1).mean()/fw*100
        print(c,name,"mesh jitter px %.3f"%jit,"err vs offline %%fw %.3f"%err)
