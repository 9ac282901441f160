"""How much of a face's shape do the tracker's points see? Prints JSON (issue 15, session 7).

On bench_shape's synthetic faces (bench/_shape_data.py: random Surrey identities with a photo's
skin, known 3D shape), for each view pose: the true 2D positions of the inner iBUG points (the
Surrey model's own iBUG vertices, projected as rendered) against the tracker's points read at
the built-in model's 68 iBUG vertices (the same tracker points for every face). Both sets are
2D-similarity-aligned to the truth's average over faces, then per point:

- ``signal_mm``: how far the true faces' points spread around their average (rms): the
  identity signal a perfect tracker would report;
- ``bias_mm``: the average tracker - truth offset (the two models' different conventions for
  "the same" point: constant per point, harmless to a fit);
- ``error_mm``: what is left of tracker - truth after that offset (rms): the tracker's error
  on this face's shape;
- ``correlation`` / ``slope``: the tracker's deviation from its own average regressed on the
  truth's (1 / 1 would be a tracker that sees the whole shape difference).

Usage: python bench/bench_shape_signal.py [--identities 24] [--seed 17]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _shape_data as SD  # noqa: E402, N812

GROUPS = dict(brows=(17, 27), nose=(27, 36), eyes=(36, 48), mouth=(48, 68))


def _aligned(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A (K, 2) 2D-similarity-aligned onto B (K, 2)."""
    from core.model.geometry import similarity_3d

    A3, B3 = np.c_[A, np.zeros(len(A))], np.c_[B, np.zeros(len(B))]
    s, R, t = similarity_3d(A3, B3)
    return (s * A3 @ R.T + t)[:, :2]


def _stats(T: np.ndarray, M: np.ndarray, px_per_mm: float) -> dict:
    """T, M (n faces, K points, 2) px: the truth and the tracked points, aligned."""
    bias = (M - T).mean(0)
    dt, dm = T - T.mean(0), M - M.mean(0)
    err = M - bias - T

    def rms(a):
        return round(float(np.sqrt((a ** 2).sum(-1).mean()) / px_per_mm), 2)

    out = dict(signal_mm=rms(dt), bias_mm=rms(bias), error_mm=rms(err))
    x, y = dt.ravel(), dm.ravel()
    out.update(correlation=round(float(np.corrcoef(x, y)[0, 1]), 2),
               slope=round(float((x * y).sum() / (x * x).sum()), 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--identities", type=int, default=24)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    from core.camera import euler_to_matrix
    from core.model.registry import load_model
    from core.tracking import track_image

    l68 = np.asarray(load_model("builtin").landmarks68)
    m = SD.ibug_to_sfm()
    ids = np.array([i for i in range(17, 68) if i in m])
    sv = np.array([m[i] for i in ids])
    per_pose: dict = {}
    for v in SD.synthetic_set(args.identities, args.seed):
        tr = track_image(v.image)
        if not tr.valid[0]:
            continue
        R = euler_to_matrix(*np.radians(v.pose_deg))
        scr = SD.PIXELS_PER_MM * (v.vertices - v.vertices.mean(0)) @ R.T
        truth = np.c_[scr[sv, 0] + SD.IMAGE_SIZE / 2.0, SD.IMAGE_SIZE / 2.0 - scr[sv, 1]]    # y up -> image y down
        p = per_pose.setdefault(str(tuple(int(a) for a in v.pose_deg)), ([], []))
        p[0].append(truth)
        p[1].append(tr.landmarks[0, l68[ids], :2].astype(np.float64))
    out = dict(identities=args.identities, seed=args.seed, poses={})
    for pose, (T, M) in per_pose.items():
        T, M = np.array(T), np.array(M)
        ref = T.mean(0)             # every face aligned on all its inner points, then split in groups
        T = np.array([_aligned(x, ref) for x in T])
        M = np.array([_aligned(x, ref) for x in M])
        r = dict(faces=len(T), all=_stats(T, M, SD.PIXELS_PER_MM))
        for g, (a, b) in GROUPS.items():
            k = (ids >= a) & (ids < b)
            r[g] = _stats(T[:, k], M[:, k], SD.PIXELS_PER_MM)
        out["poses"][pose] = r
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
