"""``main.py track INPUT -o OUT.npz``: track the face in a video, image or image folder.

Writes a TrackResult ``.npz`` (landmarks (F,478,3), valid (F,), blendshapes (F,52),
blendshape_names (52,), pose (F,4,4), fps, size (H, W), plus landmarks_raw,
bridged, segment, n_faces, source) and prints a one-line summary.

When some frames have no face, the file is written and the summary lists the
untracked frame ranges (``valid`` is False there). When no frame has a face at
all, nothing is written and the command fails with exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import time

NAME = "track"
HELP = "track the face (478 landmarks, 52 blendshapes, head pose) in a video, image or folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, image, or folder of images")
    p.add_argument("-o", "--output", required=True, help="output .npz (TrackResult)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="track only the first N frames")
    p.add_argument("--no-smooth", action="store_true",
                   help="skip the temporal filter (raw landmarks are saved either way)")
    p.epilog = ("If no frame contains a face, no file is written and the exit code is 2; "
                "otherwise frames without a face have valid=False and NaN landmarks.")


def _ranges_text(ranges: list[tuple[int, int]], limit: int = 5) -> str:
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    if len(ranges) > limit:
        parts.append(f"... ({len(ranges) - limit} more)")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from core.errors import InputError, UserFacingError
    from core.jobs import ConsoleProgress
    from core.tracking import lost_ranges, require_face, track_video
    from core.tracking.model_file import ModelFileError

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames {args.max_frames}: must be at least 1")
    inp = offline_input(args.input)
    out = output_path(args.output, (".npz",))
    progress = ConsoleProgress("track")
    t = time.perf_counter()
    try:
        result = track_video(str(inp.path), max_frames=args.max_frames, smooth=not args.no_smooth,
                             progress=progress)
    except ModelFileError as e:       # an installation problem, reported like bad input
        raise UserFacingError(str(e)) from e
    finally:
        progress.close()
    elapsed = time.perf_counter() - t
    require_face(result, str(args.input))
    result.save(out)
    F = result.num_frames
    line = (f"{args.input}: {F} frame{'s' if F != 1 else ''}, tracked {100 * result.tracked_fraction:.1f}%"
            f" ({int(result.bridged.sum())} bridged, {int(result.segment.max()) + 1} segment(s)),"
            f" in {elapsed:.1f} s ({F / max(elapsed, 1e-9):.1f} frames/s) -> {out}")
    lost = lost_ranges(result.valid)
    if lost:
        line += f"; no face in frames {_ranges_text(lost)}"
    print(line, file=sys.stdout)
    several = faces_note(result)
    if several:
        print(f"{args.input}: {several}", file=sys.stderr)
    return 0


def faces_note(result) -> str:
    """What to tell when frames show several faces ("" when none does): which face the track
    follows (the tracker takes the largest, then the one nearest its last position)."""
    import numpy as np

    n = np.asarray(result.n_faces)
    multi = np.flatnonzero(n > 1)
    if multi.size == 0:
        return ""
    f = int(multi[0])
    where = ""
    if result.valid[f]:
        lm = np.asarray(result.landmarks[f, :, :2])
        (x0, y0), (x1, y1) = np.nanmin(lm, 0), np.nanmax(lm, 0)
        where = f" (in frame {f}: the face at x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f})"
    return (f"several faces in {multi.size} frame(s) (up to {int(n.max())}); the largest face is followed, "
            f"then the one nearest its last position{where}; n_faces in the result counts them per frame")
