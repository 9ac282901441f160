"""Mesh flow versus image evidence on real clips (d6.mp4, d9.mp4).

For PAIRS consecutive-frame pairs (t, t+1) spread evenly over each clip, frame t+1 is
warped back to frame t (core.flow.evaluate.warp_backward) with
  (a) the mesh flow of the whole-video reconstruction (Eq. 6.1), built-in and ICT models,
  (b) OpenCV DIS optical flow (medium preset) computed on the same pair,
  (c) zero flow,
and the photometric error (mean absolute RGB difference, grey levels 0-255) is measured
inside the face mask: the pixels where the QA renderer's face mesh (core.qa.clip:
the face without ears/neck/mouth interior, with the eyes) is visible in frame t, and
where every flow samples inside the image. The same pixels are used for (a), (b), (c).
Pairs where either frame has no fitted face are skipped. Figures are medians over pairs
(and means, for reference); target: mesh <= 1.3x DIS and clearly below zero flow.

Diagnostics (to explain a miss): the median end-point difference between mesh and DIS
flow inside the mask (px); the error on the mask eroded by 6 px (silhouette excluded);
and "mesh+dis_residual" -- the mesh flow plus the median in-mask DIS-minus-mesh offset of
the pair (a global 2D shift: what is left after removing sub-pixel camera jitter of the
fit), to tell global misregistration from non-rigid misfit.

Error map: ``--error-map PNG`` saves, for the pair at the 75th percentile of mesh/DIS of the
first clip and variant, frame t | |error| of mesh | of DIS (x8, inferno), cropped to the mask.

Tracks and fits are cached in out/cache/ (first run: tracking ~1-2 min per clip,
fitting ~1 min per clip and model). Run: .venv/bin/python bench/bench_flow_evidence.py
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from _common import CACHE, SHARED, cached_track

from core.flow import dense_flow
from core.flow.evaluate import compare_flows, dis_flow, endpoint_error
from core.qa.clip import ClipMeshes
from core.render import OffscreenRenderer
from core.video import open_source

CLIPS = ("d6", "d9")
#: (model spec, fit variant): "smoothed" = the tracker's filtered landmarks with the image-motion
#: refinement and the per-clip corrective (what the app fits), "nocorrective" = the same without
#: the corrective, "nomotion" = without either, "raw" = the unfiltered landmarks (diagnostic:
#: the One Euro filter's lag and damping)
VARIANTS = (("builtin", "smoothed"), ("ict", "smoothed"), ("builtin", "nocorrective"), ("ict", "nocorrective"),
            ("builtin", "nomotion"), ("ict", "nomotion"))
PAIRS = 100


#: FitSettings overrides for every variant (``--settings``); fits made with overrides are cached
#: under a tag of them
OVERRIDES: dict = {}


def cached_reconstruction(clip: str, spec: str, track, landmarks: str = "smoothed"):
    import dataclasses
    import hashlib

    from core.fitting import FitSettings, Reconstruction, clip_frames, reconstruct
    from core.model.registry import load_model

    # v2: fits before the corrective (its "smoothed" file is the "nocorrective" variant); v4: with
    # the corrective from dense flow (v3 was its first, LK version)
    if landmarks == "nocorrective":
        path = CACHE / f"flowbench_fit_v2_{spec}_{clip}.npz"
    elif landmarks == "smoothed":
        path = CACHE / f"flowbench_fit_v4_{spec}_{clip}.npz"
    else:
        path = CACHE / f"flowbench_fit_v2_{spec}_{clip}_{landmarks}.npz"
    if OVERRIDES:
        tag = hashlib.sha1(json.dumps(OVERRIDES, sort_keys=True).encode()).hexdigest()[:8]
        path = path.with_name(path.stem + f"_{tag}.npz")
    # a changed fitter or tracker fits again (a stale fit was reused before, even beside a new track)
    from core.result_cache import code_fingerprint

    code = code_fingerprint(("core/fitting", "core/tracking", "core/model"))[:10]
    path = path.with_name(path.stem + f"_{code}.npz")
    if landmarks == "raw":
        track = dataclasses.replace(track, landmarks=track.landmarks_raw)
    model = load_model(spec)
    if path.exists():
        return Reconstruction.load(path), model, None
    t = time.perf_counter()
    settings = {"nomotion": dict(image_motion_frames=0, corrective=False),
                "nocorrective": dict(corrective=False)}.get(landmarks, {})
    settings = FitSettings(**{**OVERRIDES, **settings})
    video = SHARED / "data" / "videos" / f"{clip}.mp4"
    rec = reconstruct(track, model, spec, settings, frames=clip_frames(str(video), track.num_frames))
    elapsed = time.perf_counter() - t
    rec.save(path)
    return rec, model, elapsed


def save_error_map(path: Path, a: np.ndarray, b: np.ndarray, flows: dict, mask: np.ndarray) -> None:
    """Frame t | per-pixel |RGB error| (x8, inferno) of each flow in ``flows``, cropped to the mask."""
    from core.flow.evaluate import warp_backward

    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    tiles = [a[y0:y1, x0:x1, ::-1]]
    for flow in flows.values():
        warped, _ = warp_backward(b, flow)
        err = np.abs(warped.astype(np.float32) - a.astype(np.float32)).mean(-1) * mask
        tiles.append(cv2.applyColorMap(np.clip(err * 8, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[y0:y1, x0:x1])
    cv2.imwrite(str(path), np.concatenate(tiles, 1))


def evaluate_clip(clip: str, pairs: int, variants=VARIANTS, error_map: Path | None = None) -> dict:
    video = SHARED / "data" / "videos" / f"{clip}.mp4"
    track = cached_track(video, clip)
    src = open_source(str(video))
    H, W = src.size
    F = min(src.frame_count, track.num_frames)
    renderer = OffscreenRenderer()   # no Qt in this process
    out = {"clip": clip, "frames": F, "size_hw": [H, W], "models": {}}
    erode = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    for spec, landmarks in variants:
        rec, model, fit_s = cached_reconstruction(clip, spec, track, landmarks)
        name = spec if landmarks == "smoothed" else f"{spec}_{landmarks}_landmarks"
        meshes = ClipMeshes(rec, model)
        renderer.set_mesh(meshes.triangles, meshes.num_vertices)
        valid = np.asarray(rec.valid[:F]) & np.asarray(track.valid[:F])
        cand = np.flatnonzero(valid[:-1] & valid[1:])
        ts = cand[np.unique(np.linspace(0, cand.size - 1, min(pairs, cand.size)).astype(int))]
        rows = {k: [] for k in ("mesh", "dis", "zero", "mesh+dis_residual")}
        eroded = {k: [] for k in ("mesh", "dis", "zero")}
        epe, epe_prev, mag_mesh, mag_dis, shift = [], [], [], [], []
        ratios = []
        for t in ts:
            a, b = src.read(int(t)), src.read(int(t) + 1)
            mf = dense_flow(renderer, meshes.screen(int(t)), meshes.screen(int(t) + 1), (W, H))
            d = dis_flow(a, b)
            m = mf.mask
            resid = np.median((d - mf.flow[..., :2])[m], axis=0)
            flows = {"mesh": mf.flow[..., :2], "dis": d, "zero": np.zeros_like(d),
                     "mesh+dis_residual": mf.flow[..., :2] + resid}
            for k, e in compare_flows(a, b, flows, m).items():
                rows[k].append(e.mae)
            ratios.append(rows["mesh"][-1] / max(rows["dis"][-1], 1e-9))
            me = cv2.erode(m.astype(np.uint8), erode).astype(bool)
            if me.sum() > 100:
                for k, e in compare_flows(a, b, {k: flows[k] for k in eroded}, me).items():
                    eroded[k].append(e.mae)
            epe.append(endpoint_error(mf.flow, d, m))
            if t > 0:   # lag check: the mesh flow t -> t+1 against the image flow t-1 -> t
                epe_prev.append(endpoint_error(mf.flow, dis_flow(src.read(int(t) - 1), a), m))
            mag_mesh.append(float(np.median(np.linalg.norm(mf.flow[m][:, :2], axis=1))))
            mag_dis.append(float(np.median(np.linalg.norm(d[m], axis=1))))
            shift.append(float(np.linalg.norm(resid)))
        med = {k: float(np.median(v)) for k, v in rows.items()}
        if error_map is not None and (spec, landmarks) == tuple(variants[0]):
            t = int(ts[np.argsort(ratios)[int(0.75 * (len(ratios) - 1))]])
            a, b = src.read(t), src.read(t + 1)
            mf = dense_flow(renderer, meshes.screen(t), meshes.screen(t + 1), (W, H))
            save_error_map(error_map, a, b, {"mesh": mf.flow[..., :2], "dis": dis_flow(a, b)}, mf.mask)
            out["error_map"] = {"path": str(error_map), "pair": t, "variant": name}
        out["models"][name] = {
            "pairs": int(ts.size),
            "fit_seconds": None if fit_s is None else round(fit_s, 1),
            "mean_fit_error_px": float(np.nanmean(rec.fit_error_px[:F][valid])),
            "photometric_mae_median": med,
            "photometric_mae_mean": {k: float(np.mean(v)) for k, v in rows.items()},
            "ratio_mesh_to_dis": med["mesh"] / med["dis"],
            "ratio_mesh_to_zero": med["mesh"] / med["zero"],
            "target_met": bool(med["mesh"] <= 1.3 * med["dis"] and med["mesh"] < 0.9 * med["zero"]),
            "eroded6px_mae_median": {k: float(np.median(v)) for k, v in eroded.items()},
            "median_epe_mesh_vs_dis_px": float(np.median(epe)),
            "median_epe_mesh_vs_dis_of_previous_pair_px": float(np.median(epe_prev)),
            "median_flow_px": {"mesh": float(np.median(mag_mesh)), "dis": float(np.median(mag_dis))},
            "median_global_shift_dis_minus_mesh_px": float(np.median(shift)),
            "mask_fraction": float(m.mean()),
        }
        print(json.dumps({clip: {name: out["models"][name]["photometric_mae_median"]}}), file=sys.stderr, flush=True)
    renderer.release()
    src.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=PAIRS)
    ap.add_argument("--settings", default="{}", help="JSON of FitSettings overrides for every fit")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--error-map", type=Path, default=None, help="PNG: error map of the first clip and variant")
    ap.add_argument("--variants", nargs="*", default=[f"{m}:{lm}" for m, lm in VARIANTS],
                    help="model:landmarks pairs, e.g. builtin:smoothed ict:smoothed builtin:raw")
    args = ap.parse_args()
    variants = [tuple(v.split(":")) for v in args.variants]
    OVERRIDES.update(json.loads(args.settings))
    t = time.perf_counter()
    res = [evaluate_clip(c, args.pairs, variants, args.error_map if i == 0 else None)
           for i, c in enumerate(args.clips)]
    print(json.dumps({"bench": "flow_evidence", "metric": "mean |RGB difference| in grey levels, median over pairs",
                      "results": res, "seconds": round(time.perf_counter() - t, 1)}, indent=1))


if __name__ == "__main__":
    main()
