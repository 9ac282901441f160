"""``main.py render INPUT --mode MODE -o OUT.mp4``: QA videos of a reconstruction.

Modes (core/qa/render_video.py): ``overlay`` (wireframe, landmarks and per-point
reprojection error heat over the frame), ``shaded`` (the fitted mesh blended over the
frame with ``--alpha``; ``--alpha 1`` shows it alone on black), ``nmfc`` and ``pncc``
(the encodings), ``textured`` (the first fitted frame's face texture carried by the
mesh). One output frame per input frame; the source's audio is kept. Without
``--reconstruction`` the video is tracked and reconstructed first. INPUT may be a
project folder (core/project): its source video with its reconstruction and track;
for a project the default mode is ``edited``: the clip with the project's expression
edits rendered back into the footage (core/edits/export.py, the same function as the
GUI's export), audio kept.
"""
from __future__ import annotations

import argparse
import sys
import time

from app.commands import add_model_argument

NAME = "render"
HELP = "render QA videos of a reconstruction: overlay, shaded, nmfc, pncc, textured"

MODES = ("overlay", "shaded", "nmfc", "pncc", "textured", "edited")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, or a project folder")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="what to render (default: edited for a project, overlay for a video)")
    p.add_argument("--reconstruction", metavar="R.npz", help="use this reconstruction of INPUT instead of fitting")
    p.add_argument("--track", metavar="T.npz",
                   help="use this track of INPUT (the overlay's observed points; and for fitting)")
    add_model_argument(p, fitting_only=True)
    p.add_argument("--alpha", type=float, default=0.6,
                   help="shaded mode: opacity of the mesh over the frame, 1 = mesh alone (default 0.6)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use only the first N frames")
    p.add_argument("--full-size", action="store_true",
                   help="render frames larger than 2048 px at their own size (default: scaled to 2048 px "
                        "on the long side)")


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from core.errors import InputError
    from core.jobs import ConsoleProgress
    from core.qa.inputs import is_project, prepare, prepare_project
    from core.qa.render_video import write_render_video
    from core.video.writer import OUTPUT_MAX_SIDE, VIDEO_OUT_EXTS

    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha {args.alpha}: must be between 0 and 1")
    offline_input(args.input, announce=False)  # live specs, FIFOs, missing paths: one clear line
    out = output_path(args.output, VIDEO_OUT_EXTS)
    if args.mode is None:
        args.mode = "edited" if is_project(args.input) else "overlay"
    if args.mode == "edited":
        return _render_edited(args)
    t0 = time.perf_counter()
    bar = ConsoleProgress("render")
    try:
        need_track = args.mode == "overlay"
        if is_project(args.input):
            if args.reconstruction or args.track:
                raise InputError(f"{args.input}: a project brings its own reconstruction and track; "
                                 "drop --reconstruction/--track")
            inp = prepare_project(args.input, args.max_frames, need_track=need_track, progress=bar)
        else:
            inp = prepare(args.input, args.reconstruction, args.track, args.model, args.max_frames,
                          need_track=need_track, progress=bar)
        try:
            res = write_render_video(inp.source, inp.meshes, out, inp.frames, args.mode, track=inp.track,
                                     alpha=args.alpha, progress=bar,
                                     max_side=None if args.full_size else OUTPUT_MAX_SIDE)
        finally:
            inp.source.close()
    finally:
        bar.close()
    rec = inp.meshes.rec
    extra = f", error colour scale {res.error_scale_px:.2f} px" if args.mode == "overlay" else ""
    print(f"{args.input}: {args.mode} render of {res.frames_written} frames, model {rec.model_name}"
          f"{' (fitted now)' if inp.reconstructed else ''}{extra}, audio {'kept' if res.audio_kept else 'none'}, "
          f"{time.perf_counter() - t0:.1f} s -> {out}")
    H, W = inp.source.size
    if tuple(res.size) != (H, W):
        print(f"{args.input}: {W}x{H} frames rendered at {res.size[1]}x{res.size[0]} (--full-size for their own size)",
              file=sys.stderr)
    return 0


def _render_edited(args: argparse.Namespace) -> int:
    """A project's edited clip, exactly as the GUI exports it."""
    from core.edits.export import render_project
    from core.errors import InputError
    from core.jobs import ConsoleProgress
    from core.qa.inputs import is_project

    if not is_project(args.input):
        raise InputError(f"{args.input}: --mode edited needs a project folder (save one from the editor)")
    if args.reconstruction or args.track or args.max_frames:
        raise InputError("--mode edited renders the whole project as saved; drop --reconstruction/--track/--max-frames")
    t0 = time.perf_counter()
    bar = ConsoleProgress("render")
    try:
        n = render_project(args.input, args.output, progress=bar)
    finally:
        bar.close()
    print(f"{args.input}: edited render of {n} frames, {time.perf_counter() - t0:.1f} s -> {args.output}")
    return 0
