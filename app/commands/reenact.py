"""``main.py reenact --source SRC --target TGT -o OUT.mp4``: a source face drives a target.

The source (video or image folder) is tracked and fitted, its expression, head pose
and gaze are transferred onto the target (a photo or a video) and the target frames
are warped accordingly (core.reenact), or rendered by a neural renderer trained on the
target (``--renderer neural --renderer-model DIR``, from ``train-renderer``). The output has
the source's length, frame rate and audio, and the target's frame size.
"""
from __future__ import annotations

import argparse
import sys
import time

from app.commands import add_model_argument

NAME = "reenact"
HELP = "reenact: a source video drives the face of a target photo or video (expression, pose, gaze)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="driving video or image folder")
    p.add_argument("--target", required=True, help="target photo, video or image folder")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--transfer", default="expression,pose,gaze",
                   help="attributes to transfer, comma-separated: expression, pose, gaze "
                        "(default: all three)")
    p.add_argument("--mode", choices=("head", "face", "self"), default="head",
                   help="head: expression + pose + gaze; face: expression + gaze, the target keeps its "
                        "head pose; self: source and target are the same person/clip (default: head)")
    add_model_argument(p)
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="use only the first N frames of the source (and of a target video)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the source's audio")
    p.add_argument("--renderer", choices=("warp", "neural"), default="warp",
                   help="warp: the mesh-driven image warp (default); neural: a renderer trained on the "
                        "target with train-renderer (--renderer-model)")
    p.add_argument("--renderer-model", default=None, metavar="DIR",
                   help="the trained renderer's folder (default: the newest one trained on the target, "
                        "beside it as TARGET.renderer/ or in the per-user renderers folder)")
    p.add_argument("--device", default="auto", help="where the neural renderer runs: auto, cpu, cuda, cuda:N")
    p.add_argument("--full-size", action="store_true",
                   help="a still target larger than 2048 px is worked on at most 2048 px on its long side "
                        "(the whole picture scaled, or a crop around a small face) and the output has that "
                        "size; --full-size puts every frame back into the picture at its own size (slow)")


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from core.errors import InputError
    from core.jobs import ConsoleProgress
    from core.model.registry import load_model
    from core.reenact.pipeline import ReenactmentPipeline
    from core.reenact.transfer import TransferSettings
    from core.video.writer import VIDEO_OUT_EXTS

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames {args.max_frames}: must be at least 1")
    source = offline_input(args.source, "source").path
    target = offline_input(args.target, "target").path
    out = output_path(args.output, VIDEO_OUT_EXTS, what="output video")
    try:
        settings = TransferSettings.from_attributes(args.transfer, mode=args.mode)
    except ValueError as e:
        raise InputError(f"--transfer {args.transfer}: {e}") from e
    if args.renderer == "neural" and not args.renderer_model:
        # the newest renderer trained on the target (beside it, or in the per-user renderers folder)
        from core.neural.library import find_renderer

        found = find_renderer(args.target)
        if found is None:
            raise InputError(f"{args.target}: no trained renderer found for this target; pass --renderer-model DIR "
                             f"(a folder made by train-renderer) or train one: main.py train-renderer {args.target}")
        args.renderer_model = found["folder"]
    if args.renderer_model and args.renderer != "neural":
        raise InputError("--renderer-model is for --renderer neural")
    model = load_model(args.model)
    factory = None
    if args.renderer == "neural":
        from core.neural.renderer import renderer_factory

        factory = renderer_factory(args.renderer_model, model, args.device)
    pipe = ReenactmentPipeline(model, settings, model_spec=args.model, renderer_factory=factory)
    progress = ConsoleProgress("reenact")
    t = time.perf_counter()
    try:
        res = pipe.export(str(source), str(target), out, max_frames=args.max_frames,
                          keep_audio=not args.no_audio, progress=progress, full_size=args.full_size)
    finally:
        progress.close()
    elapsed = time.perf_counter() - t
    if res.target_reduced:
        print(f"{args.target}: {res.target_work}; output {res.output_size[1]}x{res.output_size[0]}"
              f"{'' if args.full_size else ' (--full-size for the picture at its own size)'}", file=sys.stderr)
    print(f"{args.source} -> {args.target}: {res.frames} frames ({args.mode} mode, {args.transfer}) "
          f"in {elapsed:.1f} s with the {args.renderer} renderer -> {out}", file=sys.stdout)
    return 0
