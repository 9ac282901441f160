"""Speed and temporal stability of the fitters on the talking-head clips. Prints JSON.

For each clip (d6, d9, d12 by default; tracks cached in out/cache/):
- whole-video fit time (tracking excluded) and per-frame fit time per frame (median);
- jitter of landmarks68 = mean over frames of ||l[t-1] - 2 l[t] + l[t+1]|| / inter-ocular
  distance (outer eye corners 36-45 of the fitted landmarks68, per frame), for the
  whole-video fit and the per-frame fit of the same tracked landmarks: both on the
  tracker's filtered landmarks (default), and both on its raw landmarks (``raw_*``);
- mean reprojection error over the fitted tracker points, px and in % of the
  inter-ocular distance, against the filtered landmarks the fit sees and against the
  tracker's raw per-frame detections (the filter lags fast motion: on d12's shake by
  several pixels, so a fit that follows the face drifts away from the filtered points);
- the image's own jitter floor: the same jitter measure on the trajectories the video
  itself gives the fitted 68 points (pyramidal LK from frame f to f-1 and f+1, points
  kept where the backward track returns within 0.3 px). Real head and mouth motion
  and repeated frames have second differences too; a fit that follows the face cannot
  go below this, and a fit far below it lags or damps the face;
- acceleration error against the image: mean norm of (the fit's second difference minus
  the image's at the same points) / IOD, for the whole-video fit, the per-frame fit of
  the filtered landmarks and of the raw ones: noise and damping both count.
The whole-video fit gets the clip's frames (image-motion camera refinement,
core/fitting/image_motion.py); ``--settings '{"image_motion_frames": 0}'`` turns it off.
Also times eos-py ``fit_shape_and_pose`` (Surrey model, comparison only, non-commercial
data) on the 68 ground-truth points of one image against our fit of the same 68 points.
Usage: python bench/bench_fitting.py [--model ict] [--clips d6 d9 d12] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import SHARED, cached_track


def jitter(lm68: np.ndarray, valid: np.ndarray, segment: np.ndarray) -> float:
    iod = np.linalg.norm(lm68[:, 36] - lm68[:, 45], axis=1)
    d2 = lm68[:-2] - 2 * lm68[1:-1] + lm68[2:]
    ok = valid[:-2] & valid[1:-1] & valid[2:] & (segment[:-2] == segment[1:-1]) & (segment[1:-1] == segment[2:])
    return float((np.linalg.norm(d2, axis=-1).mean(1) / iod[1:-1])[ok].mean())


def image_motion_check(video: Path, lm68: np.ndarray, valid: np.ndarray, segment: np.ndarray) -> tuple[float, float]:
    """(jitter floor, acceleration error) of a fit's 68 points against the video itself.

    Each frame's fitted points are carried one frame back and forward by LK (kept where
    the backward track returns within 0.3 px), giving the image's own second difference
    at those points. Floor = :func:`jitter` of that; acceleration error = mean norm of
    (fit's second difference - image's) / IOD: noise and damping both count.
    """
    import cv2

    from core.video import open_source

    iod = np.linalg.norm(lm68[:, 36] - lm68[:, 45], axis=1)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01)
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=crit)

    def carry(a, b, p):
        q, st, _ = cv2.calcOpticalFlowPyrLK(a, b, p, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, q, None, **lk)
        ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - p)[:, 0], axis=1) < 0.3)
        return q[:, 0], ok

    floor, acc = [], []
    with open_source(str(video)) as src:
        grey = [cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) for _, img in src.frames(0, lm68.shape[0])]
    for f in range(1, len(grey) - 1):
        if not (valid[f - 1] and valid[f] and valid[f + 1] and segment[f - 1] == segment[f] == segment[f + 1]):
            continue
        p = lm68[f].astype(np.float32).reshape(-1, 1, 2)
        nxt, ok1 = carry(grey[f], grey[f + 1], p)
        prv, ok2 = carry(grey[f], grey[f - 1], p)
        ok = ok1 & ok2
        if ok.sum() >= 20:
            d2_img = nxt[ok] - 2 * lm68[f][ok] + prv[ok]
            d2_fit = (lm68[f + 1] - 2 * lm68[f] + lm68[f - 1])[ok]
            floor.append(np.linalg.norm(d2_img, axis=1).mean() / iod[f])
            acc.append(np.linalg.norm(d2_fit - d2_img, axis=1).mean() / iod[f])
    return float(np.mean(floor)), float(np.mean(acc))


def eos_compare(model_spec: str, repeats: int) -> dict:
    try:
        import eos
    except ImportError:
        return {"eos": "not installed"}
    from core.fitting import basis_landmarks68, fit_video
    from core.fitting.weights import ibug68_point_weights
    from core.model.registry import load_model

    d = SHARED / "models" / "eos_sfm"
    img = sorted((SHARED / "data" / "landmarks3d" / "aflw2000_3d_images").glob("*.jpg"))[0]
    gt = np.load(img.with_name(img.stem + "_pt3d_68.npy"))[:2].T
    import imageio.v3 as iio
    h, w = iio.imread(img).shape[:2]
    mm = eos.morphablemodel.load_model(str(d / "sfm_shape_3448.bin"))
    bs = eos.morphablemodel.load_blendshapes(str(d / "expression_blendshapes_3448.bin"))
    mm = eos.morphablemodel.MorphableModel(mm.get_shape_model(), bs, color_model=eos.morphablemodel.PcaModel(),
                                           vertex_definitions=None, texture_coordinates=mm.get_texture_coordinates())
    mapper = eos.core.LandmarkMapper(str(d / "ibug_to_sfm.txt"))
    topo = eos.morphablemodel.load_edge_topology(str(d / "sfm_3448_edge_topology.json"))
    cf = eos.fitting.ContourLandmarks.load(str(d / "ibug_to_sfm.txt"))
    mc = eos.fitting.ModelContour.load(str(d / "sfm_model_contours.json"))
    lms = [eos.core.Landmark(str(i + 1), [float(x), float(y)]) for i, (x, y) in enumerate(gt)]
    te = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        eos.fitting.fit_shape_and_pose(mm, lms, mapper, w, h, topo, cf, mc)
        te.append(time.perf_counter() - t0)
    model = load_model(model_spec)
    b68 = basis_landmarks68(model)
    tf = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit_video(b68, gt[None], ibug68_point_weights()[None], np.zeros(1, int),
                  np.asarray(model.expression_bounds, float))
        tf.append(time.perf_counter() - t0)
    return {"eos_fit_shape_and_pose_ms_median": round(1000 * float(np.median(te)), 2),
            f"ours_{model_spec}_68pt_image_fit_ms_median": round(1000 * float(np.median(tf)), 2),
            "ratio_ours_over_eos": round(float(np.median(tf) / np.median(te)), 2)}


def _motion_checks(video: Path, fits: dict) -> dict:
    out = {}
    for name, r in fits.items():
        floor, acc = image_motion_check(video, r.landmarks68, r.valid, r.segment)
        if name == "whole_video":
            out["image_jitter_floor"] = round(floor, 5)
        out[f"acceleration_error_vs_image_{name}"] = round(acc, 5)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ict")
    ap.add_argument("--clips", nargs="+", default=["d6", "d9", "d12"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--settings", default="{}", help="JSON of FitSettings overrides")
    ap.add_argument("--no-eos", action="store_true")
    args = ap.parse_args()
    from core.fitting import FitSettings, basis_from_embedding, clip_frames, reconstruct
    from core.model.registry import load_model

    model = load_model(args.model)
    fs = FitSettings(**json.loads(args.settings))
    out = {"model": args.model, "settings": fs.to_dict()}
    for clip in args.clips:
        video = SHARED / "data" / "videos" / f"{clip}.mp4"
        tr = cached_track(video, clip)
        frames = clip_frames(str(video), tr.num_frames)
        tv, tn = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rv = reconstruct(tr, model, args.model, fs, frames=frames)
            tv.append(time.perf_counter() - t0)
            # the same fit without the image-motion stage, for its share of the time
            t0 = time.perf_counter()
            reconstruct(tr, model, args.model, FitSettings(**{**fs.to_dict(), "image_motion_frames": 0}))
            tn.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rp = reconstruct(tr, model, args.model, fs, per_frame=True)
        tp = time.perf_counter() - t0
        # the other variant, both fits on the tracker's raw (unfiltered) landmarks
        from core.tracking.result import TrackResult
        tr_raw = TrackResult(landmarks=tr.landmarks_raw, valid=tr.valid, blendshapes=tr.blendshapes,
                     blendshape_names=tr.blendshape_names, pose=tr.pose, fps=tr.fps, size=tr.size,
                     bridged=tr.bridged, segment=tr.segment, source=tr.source)
        rp_raw = reconstruct(tr_raw, model, args.model, fs, per_frame=True)
        raw_settings = FitSettings(**{**fs.to_dict(), "video_uses_raw_landmarks": True})
        rv_raw = reconstruct(tr_raw, model, args.model, raw_settings,
                             frames=frames)
        basis = basis_from_embedding(model)

        def err_pct(r, landmarks=None, corrective=False):
            """mean distance of the fitted tracker points (the fit's own: neutral calibration
            included; with ``corrective`` on the final mesh) to ``landmarks`` (default: what the
            fit saw), % IOD"""
            iod = np.linalg.norm(r.landmarks68[:, 36] - r.landmarks68[:, 45], axis=1)
            if landmarks is None:
                e = r.fit_error_px
            else:
                L = basis.num_points
                p = r.tracker_points(model, corrective=corrective)
                e = np.linalg.norm(p - landmarks[:, :L, :2], axis=-1).mean(1)
            return round(100 * float(np.nanmean(e[r.valid] / iod[r.valid])), 3)

        jv, jp = jitter(rv.landmarks68, rv.valid, rv.segment), jitter(rp.landmarks68, rp.valid, rp.segment)
        jvr, jpr = (jitter(r.landmarks68, r.valid, r.segment) for r in (rv_raw, rp_raw))
        out[clip] = dict(
            frames=int(tr.num_frames),
            whole_video_fit_s_median=round(float(np.median(tv)), 3),
            whole_video_fit_without_image_motion_s_median=round(float(np.median(tn)), 3),
            per_frame_total_s=round(tp, 3),
            # both fits on the tracker's filtered landmarks (the default)
            jitter_whole_video=round(jv, 5), jitter_per_frame=round(jp, 5), jitter_ratio=round(jv / jp, 3),
            fit_error_px_whole_video=round(float(np.nanmean(rv.fit_error_px[rv.valid])), 3),
            fit_error_px_per_frame=round(float(np.nanmean(rp.fit_error_px[rp.valid])), 3),
            fit_error_pct_iod_whole_video=err_pct(rv),
            fit_error_pct_iod_per_frame=err_pct(rp),
            # the same fits against the tracker's raw (unfiltered, unlagged) detections
            error_vs_raw_detections_pct_iod_whole_video=err_pct(rv, tr.landmarks_raw),
            error_vs_raw_detections_pct_iod_whole_video_final_mesh=err_pct(rv, tr.landmarks_raw, corrective=True),
            error_vs_raw_detections_pct_iod_per_frame=err_pct(rp, tr.landmarks_raw),
            **_motion_checks(video, {"whole_video": rv, "per_frame": rp, "raw_per_frame": rp_raw}),
            # both fits on the raw landmarks
            raw_jitter_whole_video=round(jvr, 5), raw_jitter_per_frame=round(jpr, 5),
            raw_jitter_ratio=round(jvr / jpr, 3), raw_fit_error_pct_iod_whole_video=err_pct(rv_raw),
        )
    # per-frame fitter speed alone (identity fixed, track of the first clip)
    from core.fitting import FrameFitter, map_blendshapes, tracker_point_weights

    tr = cached_track(SHARED / "data" / "videos" / f"{args.clips[0]}.mp4", args.clips[0])
    basis = basis_from_embedding(model)
    identity = rv.identity.astype(float) if args.clips[0] == args.clips[-1] else np.zeros(basis.num_identity)
    ff = FrameFitter(basis, identity,
                     tracker_point_weights(basis.num_points), np.asarray(model.expression_bounds, float))
    seed = map_blendshapes(tr.blendshape_names, tr.blendshapes, model.expression_names)
    ts = []
    for f in np.flatnonzero(tr.valid):
        t0 = time.perf_counter()
        ff.fit(tr.landmarks[f, :basis.num_points, :2], seed_expression=seed[f])
        ts.append(time.perf_counter() - t0)
    out["per_frame_fit_ms_median"] = round(1000 * float(np.median(ts)), 3)
    out["per_frame_fit_ms_p90"] = round(1000 * float(np.percentile(ts, 90)), 3)
    if not args.no_eos:
        out["eos_comparison"] = eos_compare(args.model, 5)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
