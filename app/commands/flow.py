"""``main.py flow INPUT -o OUT.mp4``: dense 3D facial flow of a video as a QA video.

Each output frame is [frame | mesh overlay | 3D flow (Eq. 6.5 HSV) | 2D flow (wheel)]
for the flow of frame t to t+K (``--step K``), so the video has F-K frames; the colours
use one normalisation per clip by default (the 99th percentile of the clip's flow magnitudes;
``--normalise frame``: of each frame's own; see core/flow/colour.py). The source's audio is
kept. Without ``--reconstruction`` the video is tracked and reconstructed first. ``--npz`` also writes the flow arrays
(``flow`` (F-K, h, w, 3) float16 pixels, ``mask``, ``stride``: subsampled when the
full-resolution array would exceed 256 MB).
"""
from __future__ import annotations

import argparse
import time

from app.commands import add_model_argument

NAME = "flow"
HELP = "dense 3D facial flow of a video: side-by-side QA video and flow arrays"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--reconstruction", metavar="R.npz", help="use this reconstruction of INPUT instead of fitting")
    p.add_argument("--track", metavar="T.npz", help="use this track of INPUT instead of tracking (when fitting)")
    p.add_argument("--step", type=int, default=1, metavar="K", help="flow from frame t to t+K (default 1)")
    p.add_argument("--npz", metavar="FLOW.npz", help="also write the flow arrays to this .npz")
    p.add_argument("--normalise", choices=("clip", "frame"), default="clip",
                   help="colour scale: one for the whole clip (default: colours compare across frames) "
                        "or one per frame (each frame's own pattern at full brightness)")
    add_model_argument(p, fitting_only=True)
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use only the first N frames")


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from core.errors import InputError
    from core.jobs import ConsoleProgress
    from core.qa.clip import frames_to_use
    from core.qa.flow_video import write_flow_video
    from core.qa.inputs import prepare, prepare_project
    from core.video import open_source
    from core.video.writer import VIDEO_OUT_EXTS

    if args.step < 1:
        raise InputError(f"--step {args.step}: must be at least 1")
    given = offline_input(args.input, announce=False)  # (a project: its source and reconstruction)
    out = output_path(args.output, VIDEO_OUT_EXTS)
    if args.npz is not None:
        output_path(args.npz, (".npz",), what="--npz file")
    if given.project is not None and (args.reconstruction or args.track):
        raise InputError(f"{args.input}: a project brings its own reconstruction and track; "
                         "drop --reconstruction/--track")
    # a still (or too short a clip) is refused before any tracking or fitting
    with open_source(str(given.path)) as src:
        n = frames_to_use(src.frame_count, args.max_frames)
    if n <= args.step:
        kind = "a still image" if n == 1 else f"only {n} frame(s) are used"
        raise InputError(f"{args.input}: the flow over {args.step} frame(s) needs more than {args.step} "
                         f"frames, but {kind}; give a video")
    t0 = time.perf_counter()
    bar = ConsoleProgress("flow")
    try:
        if given.project is not None:
            inp = prepare_project(given.project, args.max_frames, progress=bar)
        else:
            inp = prepare(str(given.path), args.reconstruction, args.track, args.model, args.max_frames,
                          progress=bar)
        try:
            if inp.frames <= args.step:
                raise InputError(f"{args.input}: the flow over {args.step} frame(s) needs more than "
                                 f"{args.step} frames, but only {inp.frames} are used")
            res = write_flow_video(inp.source, inp.meshes, out, inp.frames, args.step, args.npz,
                                   progress=bar, normalisation=args.normalise)
        finally:
            inp.source.close()
    finally:
        bar.close()
    rec = inp.meshes.rec
    print(f"{args.input}: flow t -> t+{res.step} for {res.frames_written} frames, model {rec.model_name}"
          f"{' (fitted now)' if inp.reconstructed else ''}, colour scale {res.max_magnitude_3d:.2f} px (3D) / "
          f"{res.max_magnitude_2d:.2f} px (2D){' per frame' if res.normalisation == 'frame' else ''}, "
          f"audio {'kept' if res.audio_kept else 'none'}, "
          f"{time.perf_counter() - t0:.1f} s -> {out}"
          + (f" + {args.npz} (stride {res.npz_stride})" if args.npz else ""))
    return 0
