"""The neural renderer (core/neural): speed per preset and self-reenactment quality (prints JSON).

    .venv/bin/python bench/bench_neural.py speed [--presets tiny,cpu,cpu-mouth,cpu-wide,medium,paper]
        [--device auto|cpu|cuda] [--threads N] [--frames 40] [--steps 3] [--runs 20]
    .venv/bin/python bench/bench_neural.py quality --clip d9 [--train NAME:PRESET[:hybrid],...]
        [--minutes 5 | --iterations N] [--renderer NAME=DIR ...] [--device auto] [--threads N] [--step 1]

``live``: the live preview (``core.reenact.live.LivePipeline``: simulated camera playing d6 ->
track -> per-frame fit -> transfer -> renderer) driving ``--clip``'s first frame, with the
warp and with the trained renderer ``--renderer-model`` (trained on that clip), ``--seconds``
each: median output fps, grab-to-output latency and the render thread's stages.

    .venv/bin/python bench/bench_neural.py live --clip d9 --renderer-model out/bench_neural/d9_hybrid
        [--seconds 30] [--threads 2]

``speed``: for each preset, on the frames of the first ``--frames`` frames of ``--clip``
(prepared at the preset's size and region): training iterations per second (``Trainer.step``
at the preset's temporal scales in turn, after one warm-up step), and inference: the generator
alone (BatchNorm folded, ``autocast`` on CUDA) in ms per frame, and on the CPU the whole
``NeuralRenderer.render`` of a full frame (warp for a hybrid, conditioning, network, paste)
beside the warp renderer alone. Mouth-region presets are hybrid, head presets pure (their
speed differs from the hybrid only by three input channels). On a CUDA machine, ``--device
cuda`` runs the same code (AMP and channels-last).

``quality``: self-reenactment on the held-out last 20% of ``--clip``: the renderers trained
here (``--train``, each for ``--minutes`` or ``--iterations`` with ``train-renderer``'s code, into
``out/bench_neural/<clip>_<NAME>``; an existing folder there is resumed up to the budget)
and any given ``--renderer NAME=DIR`` (trained on the same clip, whole) are compared with the
warp renderer on the same frames. The target picture is frame 0 (the still the warp is given
in the quality bench), the driven face each held-out frame's own fit, frames in order (the
network keeps its history). Metrics against the real frame, in the frame's face box (the 468
points' box + 10%): PSNR, SSIM, APD (mean RGB L2 distance, grey levels), MAPD (APD inside
the driven face's NMFC mask), mouth APD (APD in a square of 0.3 face-box sides around the
inner lips), temporal (mean |(out_t - out_t-1) - (real_t - real_t-1)| in the face box).
The seeds' 3D figures (thesis 5.7) come from the app's own tracker and whole-video fit
(the target's model, the built-in one by default; no image motion) run on the real held-out
frames and on each method's output:
AED (mean absolute difference of the expression coefficients over frames and shapes), ARD (mean
absolute difference of the cameras' yaw, pitch and roll, degrees) and DAI (mean absolute
difference of the two sequences' identity coefficients, std units). Beside the renderers, the
PWA baseline of issue 7 (``bench_reenact_quality.PiecewiseAffineBaseline``: frame 0 warped in 2D
over the Delaunay triangles of its 478 tracked points onto each held-out frame's tracked points).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import CACHE, REPO, VIDEOS, sample_live_stats

OUT = REPO / "out" / "bench_neural"


def _torch(threads: int | None):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch


def _target(clip: str, frames: int | None):
    from core.neural.data import load_target

    cache = CACHE / "neural" / f"{clip}_{frames or 'all'}"
    return load_target(str(VIDEOS / f"{clip}.mp4"), max_frames=frames, cache=cache)


def _median(values) -> float:
    return round(float(np.median(np.asarray(values, float))), 2)


# -- speed ----------------------------------------------------------------------------------------
def speed(args) -> dict:
    torch = _torch(args.threads)
    from core.neural.data import prepare_clip
    from core.neural.device import autocast, describe, is_cuda, memory_format, pick_device
    from core.neural.networks import count_parameters, fuse_batchnorm
    from core.neural.presets import PRESETS
    from core.neural.renderer import LoadedRenderer, NeuralRenderer
    from core.neural.train import Trainer, TrainSettings, frame_condition, to_tensor
    from core.warp import FrameRequest, WarpRenderer
    from core.video import read_clip

    dev = pick_device(args.device)
    target = _target(args.clip, args.frames)
    model, face = target.model, target.face
    frames, _ = read_clip(target.video, args.frames)
    warp = WarpRenderer(model)
    tgt0 = face.target(model, 0)
    requests = [FrameRequest(frames[0], tgt0, face.driven(model, i, face.seq.frame(i)), i) for i in range(len(frames))]
    warp_ms = []
    if not is_cuda(dev):
        for r in requests[:args.runs]:
            t = time.perf_counter()
            warp.render(r)
            warp_ms.append((time.perf_counter() - t) * 1e3)
    out = dict(device=describe(dev), threads=torch.get_num_threads(), clip=args.clip, frames=args.frames,
               warp_frame_ms=_median(warp_ms) if warp_ms else None, presets={})
    prepared = {}
    for name in args.presets.split(","):
        cfg = PRESETS[name]
        hybrid = cfg.region == "mouth" or args.hybrid
        key = (cfg.size, hybrid, cfg.region)
        if key not in prepared:
            prepared[key] = prepare_clip(target, cfg.size, hybrid, region=cfg.region)
        data = prepared[key]
        folder = OUT / "speed_tmp"
        tr = Trainer(data, TrainSettings(preset=name, hybrid=hybrid, device=args.device, seed=0), folder)
        row = dict(hybrid=hybrid, size=cfg.size, region=cfg.region, generator_parameters=count_parameters(tr.G),
                   discriminator_parameters=count_parameters(tr.D))
        # training: one warm-up step, then --steps at the scales in turn (or until --max-seconds)
        tr.step()
        times, t_all = [], time.perf_counter()
        for _ in range(args.steps):
            if is_cuda(dev):
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            tr.step()
            if is_cuda(dev):
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t)
            if time.perf_counter() - t_all > args.max_seconds:
                break
        row["train_its_per_s"] = round(len(times) / sum(times), 4)
        row["train_steps_timed"] = len(times)
        # inference: the generator alone on one frame (history in place), BatchNorm folded
        G = fuse_batchnorm(copy.deepcopy(tr.G).eval())
        fmt = memory_format(dev)
        f = min(10, data.num_frames - 1)
        cond = to_tensor(frame_condition(data, np.array([f - 2, f - 1, f])), dev).flatten(0, 1)[None]
        base = to_tensor(np.asarray(data.base[f]), dev)[None]
        prev = torch.cat([base, base], 1)
        cond, prev = cond.contiguous(memory_format=fmt), prev.contiguous(memory_format=fmt)
        ms = []
        with torch.no_grad():
            for i in range(args.runs + 3):
                if is_cuda(dev):
                    torch.cuda.synchronize(dev)
                t = time.perf_counter()
                with autocast(dev):
                    o, _ = G(cond, prev, base)
                o.float().cpu()
                if i >= 3:
                    ms.append((time.perf_counter() - t) * 1e3)
        row["generator_ms"] = _median(ms)
        row["generator_fps"] = round(1e3 / row["generator_ms"], 1)
        # the whole renderer on full frames (a renderer made of the trainer's weights)
        net = LoadedRenderer(folder, {}, cfg, hybrid, data.box, tuple(frames[0].shape[:2]), G, dev)
        r = NeuralRenderer(net, model, warp)
        stage, total = {}, []
        for req in requests[:args.runs]:
            t = time.perf_counter()
            res = r.render(req)
            total.append((time.perf_counter() - t) * 1e3)
            for k, v in res.stage_ms.items():
                stage.setdefault(k, []).append(v)
        row["frame_ms"] = _median(total[2:] or total)
        row["frame_stage_ms"] = {k: _median(v[2:] or v) for k, v in stage.items()}
        out["presets"][name] = row
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    return out


# -- live -----------------------------------------------------------------------------------------
def live(args) -> dict:
    from core.neural.renderer import renderer_factory
    from core.reenact.live import LivePipeline
    from core.reenact.transfer import TransferSettings
    from core.video import open_source

    target = _target(args.clip, None)
    model = target.model
    with open_source(target.video) as src:
        frame0 = src.read(0)
    clip = VIDEOS / "d6.mp4"
    out = dict(source=f"simcam:{clip.name}", target=f"{args.clip} frame 0", seconds=args.seconds,
               renderer_model=str(args.renderer_model), threads=args.threads, renderers={})
    factory = renderer_factory(args.renderer_model, model, args.device)
    torch = _torch(args.threads)   # --threads overrides the app's choice (renderer_factory's)
    out["torch_threads"] = torch.get_num_threads()
    for name, fac in (("warp", None), ("neural", factory)):
        with open_source(f"simcam:{clip}") as cam:
            pipe = LivePipeline(model, cam, target.face, frame0, TransferSettings(mode="head"), renderer_factory=fac)
            # warm-up: tracker start, first fit, the network's first frames
            samples = sample_live_stats(pipe, args.seconds, warmup_s=3.0)

        def med(k):
            return round(float(np.median([getattr(s, k) for s in samples])), 2) if samples else None

        out["renderers"][name] = dict(
            renderer=pipe.renderer_name, fps_median=med("fps"), latency_ms_median=med("latency_ms"),
            track_ms_median=med("track_ms"), render_ms_median=med("render_ms"),
            stages_ms_median={k: round(float(np.median([s.stages[k] for s in samples if k in s.stages])), 2)
                              for k in dict.fromkeys(k for s in samples for k in s.stages)})
        print(f"{name}: {json.dumps(out['renderers'][name])}", file=sys.stderr, flush=True)
    out["load_average"] = list(os.getloadavg())
    out["targets"] = dict(fps=">= 15", latency_ms="< 120")
    return out


# -- backends -------------------------------------------------------------------------------------
def backends(args) -> dict:
    """The generator's inference time per back end on the CPU, interleaved frame by frame (each
    round times every back end once, so a busy machine slows them alike): eager (BatchNorm folded,
    as ``load_renderer`` runs it), eager channels-last, TorchScript (trace + freeze +
    ``optimize_for_inference``), ``torch.compile`` (inductor; needs a C++ compiler) and ONNX
    Runtime (when importable). Random weights: the time does not depend on their values."""
    torch = _torch(args.threads)
    from core.neural.networks import Generator, fuse_batchnorm
    from core.neural.presets import PRESETS
    from core.neural.train import cond_channels

    out = dict(threads=torch.get_num_threads(), runs=args.runs, presets={})
    for name in args.presets.split(","):
        cfg = PRESETS[name]
        hybrid = cfg.region == "mouth"
        G = fuse_batchnorm(Generator(cfg, cond_channels(hybrid)).eval())
        S = cfg.size
        torch.manual_seed(0)
        inputs = (torch.randn(1, 3 * cond_channels(hybrid), S, S), torch.randn(1, 6, S, S), torch.randn(1, 3, S, S))
        runners, setup_s, errors = {}, {}, {}

        def add(label, make):
            t = time.perf_counter()
            try:
                fn = make()
                with torch.no_grad():
                    fn(*inputs)  # warm-up (compiles)
                runners[label] = fn
            except Exception as e:  # noqa: BLE001  (a back end this machine lacks is reported, not fatal)
                errors[label] = f"{type(e).__name__}: {e}"[:300]
            setup_s[label] = round(time.perf_counter() - t, 2)

        add("eager", lambda: (lambda c, p, b: G(c, p, b)[0]))
        G_cl = copy.deepcopy(G).to(memory_format=torch.channels_last)
        cl = tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)
        add("eager_channels_last", lambda: (lambda c, p, b: G_cl(*cl)[0]))

        def script():
            with torch.no_grad():
                m = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(G, inputs).eval()))
            return lambda c, p, b: m(c, p, b)[0]

        add("torchscript", script)

        def compiled():
            m = torch.compile(G, mode="max-autotune-no-cudagraphs" if args.autotune else "default")
            return lambda c, p, b: m(c, p, b)[0]

        add("torch_compile", compiled)

        def onnx_runtime():
            import io

            import onnxruntime as ort

            buf = io.BytesIO()
            torch.onnx.export(G, inputs, buf, input_names=["cond", "prev", "base"], output_names=["out", "mask"],
                              opset_version=17, dynamo=False)
            so = ort.SessionOptions()
            so.intra_op_num_threads = torch.get_num_threads()
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
            return lambda c, p, b: sess.run(["out"], {"cond": c.numpy(), "prev": p.numpy(), "base": b.numpy()})[0]

        add("onnxruntime", onnx_runtime)
        ref = runners["eager"](*inputs).detach().numpy() if "eager" in runners else None
        ms = {k: [] for k in runners}
        with torch.no_grad():
            for _ in range(args.runs):
                for k, fn in runners.items():
                    t = time.perf_counter()
                    fn(*inputs)
                    ms[k].append((time.perf_counter() - t) * 1e3)
            diff = {k: round(float(np.abs(np.asarray(fn(*inputs)) - ref).max()), 6) for k, fn in runners.items()}
        row = {k: dict(ms=_median(v), ratio_to_eager=round(_median(v) / _median(ms["eager"]), 3),
                       setup_s=setup_s[k], max_abs_diff=diff[k]) for k, v in ms.items()}
        row.update({k: dict(error=e, setup_s=setup_s[k]) for k, e in errors.items()})
        out["presets"][name] = row
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    return out


# -- quality --------------------------------------------------------------------------------------
def _face_box(points: np.ndarray, shape, grow: float = 0.1) -> tuple[int, int, int, int]:
    P = points[:468, :2]
    lo, hi = P.min(0), P.max(0)
    pad = (hi - lo) * grow / 2
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(hi + pad).astype(int), [shape[1], shape[0]])
    return int(x0), int(y0), int(x1), int(y1)


def _train(clip: str, name: str, preset: str, hybrid: bool, minutes: float | None, iterations: int | None,
           device: str, threads: int | None, reconstruction: str = "l1+msssim") -> Path:
    from core.jobs import ConsoleProgress
    from core.neural import store
    from core.neural.job import train_renderer
    from core.neural.train import TrainSettings

    folder = OUT / f"{clip}_{name}"
    resume = (folder / store.CHECKPOINT).is_file()
    settings = TrainSettings(preset=preset, hybrid=hybrid, minutes=minutes, iterations=iterations, device=device,
                             threads=threads, checkpoint_minutes=max(1.0, (minutes or 30) / 3),
                             reconstruction=reconstruction,
                             snapshots=tuple(m for m in (5.0, 10.0, 20.0, 30.0) if m < (minutes or 30)))
    progress = ConsoleProgress(f"train {name}")
    try:
        train_renderer(str(VIDEOS / f"{clip}.mp4"), folder, settings, resume=resume, progress=progress)
    finally:
        progress.close()
    return folder


def _sequence_fit(frames: list[np.ndarray], fps: float, model, model_spec: str):
    """The app's tracker and whole-video fit (``model``, loaded from ``model_spec``) over
    ``frames``: the Reconstruction."""
    from core.fitting import reconstruct
    from core.tracking.tracker import track_frames

    track = track_frames(frames, fps, total=len(frames), source="bench")
    return reconstruct(track, model, model_spec)


def _fit_distances(real, out) -> dict:
    """AED, ARD (degrees) and DAI between two Reconstructions of the same frames (module docstring);
    frames fitted in both only."""
    from core.camera import matrix_to_euler

    both = np.asarray(real.valid, bool) & np.asarray(out.valid, bool)
    if not both.any():
        return dict(aed=None, ard=None, dai=None, fitted_frames=0)
    aed = np.abs(np.asarray(real.expression, float)[both] - np.asarray(out.expression, float)[both]).mean()
    ea = np.degrees([matrix_to_euler(R) for R in np.asarray(real.rotation, float)[both]])
    eb = np.degrees([matrix_to_euler(R) for R in np.asarray(out.rotation, float)[both]])
    ard = np.abs(ea - eb).mean()
    dai = np.abs(np.asarray(real.identity, float) - np.asarray(out.identity, float)).mean()
    return dict(aed=round(float(aed), 4), ard=round(float(ard), 3), dai=round(float(dai), 4),
                fitted_frames=int(both.sum()))


def quality(args) -> dict:
    import cv2
    from skimage.metrics import structural_similarity

    _torch(args.threads)
    from core.neural.conditioning import INNER_LIPS, Conditioner, CropBox
    from core.neural.data import load_target, split
    from core.neural.renderer import NeuralRenderer, load_renderer
    from core.reenact.pipeline import read_frames
    from core.warp import FrameRequest, WarpRenderer

    if args.minutes is None and args.iterations is None:
        args.minutes = 5.0
    renderers: dict[str, Path] = {}
    for spec in filter(None, args.train.split(",")):
        parts = spec.split(":")
        name, preset, hybrid = parts[0], parts[1], "hybrid" in parts[2:]
        rec = next((p.split("=", 1)[1] for p in parts[2:] if p.startswith("rec=")), "l1+msssim")
        t = time.perf_counter()
        renderers[name] = _train(args.clip, name, preset, hybrid, args.minutes, args.iterations, args.device,
                                  args.threads, rec)
        print(f"trained {name} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    for spec in args.renderer:
        name, d = spec.split("=", 1)
        renderers[name] = Path(d)
    target = load_target(str(VIDEOS / f"{args.clip}.mp4"), cache=CACHE / "neural" / f"{args.clip}_all")
    model, face = target.model, target.face
    N = target.num_frames
    start = split(N)
    nets = {}
    for name, folder in renderers.items():
        net = load_renderer(folder, args.device)
        held = net.manifest["training"]["held_out"]
        if held != [start, N]:
            raise SystemExit(f"{folder}: trained with held-out frames {held}, this clip's are {[start, N]}")
        nets[name] = net
    frames = list(read_frames(target.video, N))
    ref = 0
    tgt = face.target(model, ref)
    warp = WarpRenderer(model)
    from bench_reenact_quality import PiecewiseAffineBaseline

    pwa = PiecewiseAffineBaseline(face.track.landmarks[ref])
    methods = {"warp": None, "pwa": pwa,
               **{n: NeuralRenderer(net, model, WarpRenderer(model)) for n, net in nets.items()}}
    outputs: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    reals: list[np.ndarray] = []
    cond = Conditioner(model)
    H, W = frames[0].shape[:2]
    side = max(H, W)
    full = CropBox(0.0, 0.0, float(side), side)
    acc = {m: dict(psnr=[], ssim=[], apd=[], mapd=[], mouth_apd=[], temporal=[], ms=[]) for m in methods}
    prev_out: dict[str, np.ndarray] = {}
    last = -1
    sheet_rows = []
    for f in range(start, N):
        if not face.track.valid[f]:
            continue
        driven = face.driven(model, f, face.seq.frame(f))
        req = FrameRequest(frames[ref], tgt, driven, f)
        real = frames[f].astype(np.float64)
        x0, y0, x1, y1 = _face_box(face.track.landmarks[f], real.shape)
        mask = cond.nmfc(driven, full)[:H, :W].any(-1)[y0:y1, x0:x1]
        lips = np.asarray(driven.points)[list(INNER_LIPS), :2].mean(0)
        m = 0.3 * max(x1 - x0, y1 - y0) / 2
        mx0, my0 = int(max(lips[0] - m, 0)), int(max(lips[1] - m, 0))
        mx1, my1 = int(min(lips[0] + m, W)), int(min(lips[1] + m, H))
        row = [frames[f]]
        reals.append(frames[f])
        for name, r in methods.items():
            t = time.perf_counter()
            if r is None:
                img = warp.render(req).image
            elif r is pwa:
                img = pwa.render(frames[ref], face.track.landmarks[f])
            else:
                img = r.render(req).image
            outputs[name].append(img)
            acc[name]["ms"].append((time.perf_counter() - t) * 1e3)
            o = img.astype(np.float64)
            a, b = img[y0:y1, x0:x1], frames[f][y0:y1, x0:x1]
            dist = np.linalg.norm(o - real, axis=-1)                  # (H, W) RGB L2
            mse = np.mean((a.astype(np.float64) - b) ** 2)
            acc[name]["psnr"].append(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))
            acc[name]["ssim"].append(float(structural_similarity(a, b, channel_axis=2, data_range=255)))
            acc[name]["apd"].append(float(dist[y0:y1, x0:x1].mean()))
            acc[name]["mapd"].append(float(dist[y0:y1, x0:x1][mask].mean()) if mask.any() else np.nan)
            acc[name]["mouth_apd"].append(float(dist[my0:my1, mx0:mx1].mean()))
            if name in prev_out and last == f - 1:
                d_out = o[y0:y1, x0:x1] - prev_out[name][y0:y1, x0:x1]
                d_real = real[y0:y1, x0:x1] - frames[f - 1][y0:y1, x0:x1]
                acc[name]["temporal"].append(float(np.abs(d_out - d_real).mean()))
            prev_out[name] = o
            row.append(img)
        last = f
        if len(sheet_rows) < 4 and (f - start) % max(1, (N - start) // 4) == 0:
            crop = lambda im: cv2.resize(im[y0:y1, x0:x1], (192, 192), interpolation=cv2.INTER_AREA)  # noqa: E731
            sheet_rows.append(np.concatenate([crop(im) for im in row], 1))
    res = dict(clip=args.clip, held_out=[start, N], reference_frame=ref, methods={})
    real_fit = _sequence_fit(reals, target.fps, model, target.model_spec)
    for name in methods:
        res["methods"][name] = {k: round(float(np.nanmean(v)), 3) if v else None for k, v in acc[name].items()}
        res["methods"][name].update(_fit_distances(real_fit, _sequence_fit(outputs[name], target.fps, model,
                                                                            target.model_spec)))
        outputs[name] = []  # the frames are no longer needed
        res["methods"][name]["frames"] = len(acc[name]["psnr"])
        if name in nets:
            t = nets[name].manifest["training"]
            res["methods"][name]["training"] = dict(preset=nets[name].config.name, hybrid=nets[name].hybrid,
                                                    iterations=t["iterations"], seconds=t["seconds"],
                                                    device=t["device"], folder=str(renderers[name]))
    if sheet_rows:
        OUT.mkdir(parents=True, exist_ok=True)
        sheet = OUT / f"quality_{args.clip}.png"
        cv2.imwrite(str(sheet), cv2.cvtColor(np.concatenate(sheet_rows, 0), cv2.COLOR_RGB2BGR))
        res["sheet"] = str(sheet.relative_to(REPO))
        res["sheet_columns"] = ["real"] + list(methods)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--presets", default="tiny,cpu,cpu-mouth,cpu-wide,medium,paper")
    sp.add_argument("--clip", default="d9")
    sp.add_argument("--frames", type=int, default=40)
    sp.add_argument("--steps", type=int, default=3)
    sp.add_argument("--max-seconds", type=float, default=60.0, help="stop timing a preset's steps after this")
    sp.add_argument("--runs", type=int, default=20)
    sp.add_argument("--hybrid", action="store_true", help="head presets hybrid too")
    q = sub.add_parser("quality")
    q.add_argument("--clip", default="d9")
    q.add_argument("--train", default="hybrid:cpu-mouth:hybrid",
                   help="renderers to train here, NAME:PRESET[:hybrid][:rec=l1|l1+msssim|none] separated by "
                        "commas ('' for none; rec: the reconstruction loss, TrainSettings.reconstruction)")
    q.add_argument("--minutes", type=float, default=None, help="training budget of each (default 5 minutes "
                   "unless --iterations)")
    q.add_argument("--iterations", type=int, default=None, help="training budget of each, in steps")
    q.add_argument("--renderer", action="append", default=[], metavar="NAME=DIR")
    bk = sub.add_parser("backends")
    bk.add_argument("--presets", default="cpu-mouth,cpu")
    bk.add_argument("--runs", type=int, default=60)
    bk.add_argument("--autotune", action="store_true", help="torch.compile with max-autotune")
    lv = sub.add_parser("live")
    lv.add_argument("--clip", default="d9")
    lv.add_argument("--renderer-model", required=True)
    lv.add_argument("--seconds", type=float, default=30.0)
    for p in (sp, q, bk, lv):
        p.add_argument("--device", default="auto")
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads or 1))
    t = time.perf_counter()
    res = {"speed": speed, "quality": quality, "backends": backends, "live": live}[args.mode](args)
    res["bench_seconds"] = round(time.perf_counter() - t, 1)
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
