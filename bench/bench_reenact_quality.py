"""Self-reenactment quality of the warp renderer against two baselines (prints JSON).

For each clip (default d3, d9, d10, d14 from ../shared/data/videos): the target is
the clip's first frame as a still, the source is the clip itself (mode "self").
Every ``--step``-th of the first ``--frames`` frames is compared with the real frame:

- PSNR and SSIM inside the real frame's face box (the 468 face points' box, +10%);
- AED: mean L1 between the 52 blendshape scores of the output re-tracked and of the
  real frame re-tracked (same still-image tracker for both);
- APD: mean angle in degrees between the head rotations of the output and of the
  real frame, both from the tracker's pose matrix.

Baselines in the same run: "still" (the target frame unchanged) and "pwa" (a 2D
piecewise-affine warp over the Delaunay triangulation of the 478 landmarks, driven
by the real frame's tracked landmarks; no motion outside their hull). The warp is given
the source's own fit of frame 0 (the picture the still shows) as the reference of the head's
motion, as the offline pipeline does in self mode (``WarpRenderer.render``).

Tracking and fits are cached under out/cache/. Usage:
    .venv/bin/python bench/bench_reenact_quality.py [--clips d3,d9] [--frames 150] [--step 2]
        [--synthetic-mouth] [--no-neck-release] [--mouth-interior synthetic]
        [--variant NAME:FIELD=VALUE[,FIELD=VALUE...]] [--dump per_frame.json] [--start 1]

Variants: every ``--variant`` adds a renderer NAME beside "warp", with the default
WarpSettings / TransferSettings changed by the given fields (a field of either dataclass;
values parsed as Python literals, bare words as strings), e.g.
``--variant warp_front:outline_depth=None --variant warp_smooth:smooth_sigma=0.8``.
``--synthetic-mouth``, ``--no-neck-release`` and ``--mouth-interior KIND`` are shorthands for
the variants "warp_synthetic", "warp_no_neck" and "warp_<KIND>".
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from _common import CACHE, VIDEOS

from scipy.spatial import Delaunay
from skimage.metrics import structural_similarity

from core.model.builtin import build_builtin_model
from core.fitting.reconstruction import Reconstruction
from core.reenact.faces import FittedFace, fit_face, from_reconstruction
from core.reenact.transfer import TransferSettings, transfer_sequence
from core.warp import FrameRequest, WarpRenderer, WarpSettings
from core.warp.raster import rasterize_triangle_ids, remap, triangle_affines
from core.tracking.landmarker import Landmarker
from core.tracking.result import TrackResult
from core.tracking.tracker import track_frames, track_image



def read_clip(path: Path, n: int) -> tuple[list[np.ndarray], float]:
    from core.video import read_clip as _read

    return _read(str(path), n)


def cached_track(key: str, make) -> TrackResult:
    p = CACHE / f"track_{key}.npz"
    if p.is_file():
        return TrackResult.load(p)
    tr = make()
    tr.save(p)
    return tr


def cached_fit(key: str, track: TrackResult, model) -> FittedFace:
    """The reenactment's fit of ``track`` (``fit_face``), its Reconstruction cached."""
    p = CACHE / f"fit_rec_{model.name}_{key}.npz"
    if p.is_file():
        return from_reconstruction(Reconstruction.load(p), track, model, key)
    f = fit_face(track, model, name=key)
    f.rec.save(p)
    return f


def face_box(points: np.ndarray, size: tuple[int, int], grow: float = 0.1) -> tuple[int, int, int, int]:
    p = points[:468, :2]
    lo, hi = p.min(0), p.max(0)
    pad = (hi - lo) * grow
    x0, y0 = np.maximum(np.floor(lo - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + pad), [size[1], size[0]]).astype(int)
    return x0, y0, x1, y1


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def rotation_angle_deg(P: np.ndarray, Q: np.ndarray) -> float:
    """Angle between the rotation parts of two 4x4 pose matrices (scale removed)."""
    A = P[:3, :3] / np.linalg.norm(P[:3, :3], axis=0, keepdims=True)
    B = Q[:3, :3] / np.linalg.norm(Q[:3, :3], axis=0, keepdims=True)
    c = (np.trace(A.T @ B) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


class PiecewiseAffineBaseline:
    """2D warp of the target still over the Delaunay triangulation of its 478 landmarks."""

    def __init__(self, target_points: np.ndarray):
        self.src = target_points[:, :2].astype(np.float64)
        self.tri = Delaunay(self.src).simplices.astype(np.int32)

    def render(self, image: np.ndarray, driven_points: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        d = driven_points[:, :2].astype(np.float64)
        screen = np.concatenate([d, np.zeros((len(d), 1))], 1)
        ids = rasterize_triangle_ids(screen, self.tri, (H, W), cull_back=False)
        A = triangle_affines(d, self.src, self.tri)
        gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        mp = np.stack([gx, gy], -1)
        ys, xs = np.nonzero(ids >= 0)
        a = A[ids[ys, xs]]
        mp[ys, xs, 0] = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]
        mp[ys, xs, 1] = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
        return remap(image, mp)


_WARP_FIELDS = {f.name for f in dataclasses.fields(WarpSettings)}
_TRANSFER_FIELDS = {f.name for f in dataclasses.fields(TransferSettings)}


def parse_variant(spec: str) -> tuple[str, dict, dict]:
    """"NAME:FIELD=VALUE,..." -> (NAME, WarpSettings changes, TransferSettings changes)."""
    import ast

    name, _, body = spec.partition(":")
    warp, transfer = {}, {}
    for item in filter(None, (x.strip() for x in body.split(","))):
        key, _, val = item.partition("=")
        key = key.strip()
        try:
            value = ast.literal_eval(val.strip())
        except (ValueError, SyntaxError):
            value = val.strip()
        if key in _WARP_FIELDS:
            warp[key] = value
        elif key in _TRANSFER_FIELDS:
            transfer[key] = value
        else:
            raise SystemExit(f"--variant {spec!r}: {key!r} is not a WarpSettings or TransferSettings field")
    if not name.strip():
        raise SystemExit(f"--variant {spec!r}: no name")
    return name.strip(), warp, transfer


def evaluate_clip(name: str, model, n: int, step: int, lm: Landmarker, variants=(),
                  dump: dict | None = None, start: int | None = None) -> dict:
    """Metrics of one clip. ``variants``: (name, warp changes, transfer changes) triples
    (``parse_variant``), each rendered beside the default "warp"; ``dump`` (a dict) receives the
    per-frame values under ``name``; ``start``: the first frame evaluated (default ``step``;
    another start gives another subset)."""
    frames, fps = read_clip(VIDEOS / f"{name}.mp4", n)
    n = len(frames)
    track = cached_track(f"{name}_{n}", lambda: track_frames(iter(frames), fps, max_frames=n, source=name))
    still_track = cached_track(f"{name}_still0", lambda: track_image(frames[0], source=f"{name}[0]"))
    source = cached_fit(f"{name}_{n}", track, model)
    target = cached_fit(f"{name}_still0", still_track, model)
    renderers, drivens, owners = {}, {}, {}
    for vname, wchanges, tchanges in (("warp", {}, {}),) + tuple(variants):
        settings = TransferSettings(**{"mode": "self", **tchanges})
        # the driven face is its identity's owner driven (self mode: the source, frame by frame)
        owners[vname] = (source, True) if settings.mode == "self" else (target, False)
        drivens[vname] = transfer_sequence(source.seq, target.seq, settings, model.expression_names,
                                           model.expression_bounds, target_frames=np.zeros(n, int))
        renderers[vname] = WarpRenderer(model, WarpSettings(**wchanges))
    still = frames[0]
    tface = target.target(model, 0)
    pwa = PiecewiseAffineBaseline(still_track.landmarks[0])
    # self mode: the still is the source's frame 0; its own fit of that frame is the reference of
    # the head's motion (WarpRenderer.render)
    refs = {m: owners[m][0].driven(model, 0, d.frame(0)) for m, d in drivens.items()}
    methods = tuple(renderers) + ("still", "pwa")
    acc = {m: dict(psnr=[], ssim=[], aed=[], apd=[], ms=[]) for m in methods}
    per_frame = []  # (frame, method, psnr, ssim, aed, apd): for --dump
    lost = {m: 0 for m in methods}
    for i in range(step if start is None else start, n, step):
        real = frames[i]
        rf = lm.detect(real)
        if rf.count == 0 or not track.valid[i]:
            continue
        x0, y0, x1, y1 = face_box(rf.landmarks[0], real.shape[:2])
        outs = {}
        for m, renderer in renderers.items():
            t = time.perf_counter()
            driven = drivens[m]
            owner, own_frames = owners[m]
            d = owner.driven(model, i if own_frames else 0, driven.frame(i))
            outs[m] = renderer.render(FrameRequest(still, tface, d, 0, refs[m])).image
            acc[m]["ms"].append((time.perf_counter() - t) * 1000)
        outs["still"] = still
        t = time.perf_counter()
        outs["pwa"] = pwa.render(still, track.landmarks[i])
        acc["pwa"]["ms"].append((time.perf_counter() - t) * 1000)
        for m, img in outs.items():
            a, b = img[y0:y1, x0:x1], real[y0:y1, x0:x1]
            acc[m]["psnr"].append(psnr(a, b))
            acc[m]["ssim"].append(float(structural_similarity(a, b, channel_axis=2, data_range=255)))
            of = lm.detect(img)
            if of.count == 0:
                lost[m] += 1
                per_frame.append((i, m, acc[m]["psnr"][-1], acc[m]["ssim"][-1], np.nan, np.nan))
                continue
            acc[m]["aed"].append(float(np.abs(of.blendshapes[0] - rf.blendshapes[0]).mean()))
            acc[m]["apd"].append(rotation_angle_deg(of.pose[0], rf.pose[0]))
            per_frame.append((i, m, acc[m]["psnr"][-1], acc[m]["ssim"][-1], acc[m]["aed"][-1], acc[m]["apd"][-1]))
    out = {"frames_evaluated": len(acc["warp"]["psnr"])}
    for m in methods:
        out[m] = {k: float(np.mean(v)) if k != "ms" else (float(np.median(v)) if v else None)
                  for k, v in acc[m].items() if v or k == "ms"}
        out[m]["face_lost"] = lost[m]
    if dump is not None:
        dump[name] = per_frame
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="d3,d9,d10,d14")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--synthetic-mouth", action="store_true",
                    help="also run the warp with the synthetic still-target mouth (warp_synthetic)")
    ap.add_argument("--no-neck-release", action="store_true",
                    help="also run the warp without the neck release (warp_no_neck)")
    ap.add_argument("--mouth-interior", default=None,
                    help="also run the warp with this still-target mouth interior (warp_<KIND>)")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:FIELD=VALUE[,FIELD=VALUE...]: another renderer with changed settings")
    ap.add_argument("--dump", default=None, help="write per-frame metrics to this JSON file")
    ap.add_argument("--start", type=int, default=None,
                    help="first frame evaluated (default: --step); e.g. 1 with step 2 for the odd frames")
    args = ap.parse_args(argv)
    variants = []
    if args.synthetic_mouth:
        variants.append(("warp_synthetic", {"mouth_interior": "synthetic"}, {}))
    if args.no_neck_release:
        variants.append(("warp_no_neck", {"neck_release": False}, {}))
    if args.mouth_interior:
        variants.append((f"warp_{args.mouth_interior}", {"mouth_interior": args.mouth_interior}, {}))
    variants += [parse_variant(v) for v in args.variant]
    names = [v[0] for v in variants]
    if len(set(names)) != len(names) or {"warp", "still", "pwa"} & set(names):
        raise SystemExit(f"variant names must be unique and not warp/still/pwa: {names}")
    CACHE.mkdir(parents=True, exist_ok=True)
    model = build_builtin_model()
    t0 = time.perf_counter()
    results = {}
    dump = {} if args.dump else None
    with Landmarker(video=False) as lm:
        for name in args.clips.split(","):
            results[name] = evaluate_clip(name.strip(), model, args.frames, args.step, lm,
                                          variants, dump, args.start)
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump))
    methods = ("warp",) + tuple(names) + ("still", "pwa")
    summary = {m: {k: float(np.mean([results[c][m][k] for c in results if k in results[c][m]]))
                   for k in ("psnr", "ssim", "aed", "apd")} for m in methods}

    def beats(a: dict, b: dict, k: str) -> bool:
        return a[k] > b[k] if k in ("psnr", "ssim") else a[k] < b[k]

    better = {k: all(beats(summary["warp"], summary[b], k) for b in ("still", "pwa"))
              for k in ("psnr", "ssim", "aed", "apd")}
    # the acceptance, per renderer: the metrics of each clip on which it does not beat both baselines
    per_clip = {m: {c: sorted(k for k in ("psnr", "ssim", "aed", "apd")
                              if not all(beats(results[c][m], results[c][b], k) for b in ("still", "pwa")))
                    for c in results} for m in ("warp",) + tuple(names)}
    print(json.dumps(dict(benchmark="reenact_quality", model=model.name, mode="self",
                          frames=args.frames, step=args.step, start=args.start or args.step,
                          clips=results, mean=summary,
                          warp_beats_both_baselines=better,
                          metrics_not_beating_both_per_clip=per_clip,
                          aed_ratio_to_still=summary["warp"]["aed"] / max(summary["still"]["aed"], 1e-12),
                          seconds=round(time.perf_counter() - t0, 1)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
