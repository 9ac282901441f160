"""``main.py reconstruct INPUT -o OUT.npz``: 4D face reconstruction.

INPUT is a video, an image (F = 1), an image folder, or a ``track`` result
``.npz``. Tracks the face when needed, fits the face model over the whole clip
(one identity, per-frame expressions and cameras; ``--per-frame`` for the fast
frame-by-frame fitter) and writes a Reconstruction ``.npz``. ``--export-meshes DIR``
also writes one mesh per frame (model space, cm). Prints a one-line summary.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.commands import add_model_argument

NAME = "reconstruct"
HELP = "fit the 3D face model to a video, image or track result (4D reconstruction)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, image, image folder, or a track result .npz")
    p.add_argument("-o", "--output", required=True, help="output .npz (Reconstruction)")
    add_model_argument(p)
    p.add_argument("--per-frame", action="store_true", help="fit frame by frame (the live fitter) instead of the whole-video fit")
    p.add_argument("--no-corrective", action="store_true",
                   help="skip the per-clip corrective deformation from the face's optical flow (faster; "
                        "the mesh then moves only as the model's expressions can)")
    p.add_argument("--export-meshes", metavar="DIR", help="write one mesh per frame into DIR")
    p.add_argument("--mesh-format", choices=("obj", "ply"), default="obj", help="mesh format for --export-meshes (default obj)")


def _load_track(inp: Path, progress, project: Path | None = None):
    """The input's track: a ``track`` result .npz, a project's saved track, or tracked now."""
    from core.project.validate import load_track_file
    from core.tracking import track_video

    if inp.suffix.lower() == ".npz":
        return load_track_file(inp)
    if project is not None:
        from core.project import load_project

        track = load_project(project).track
        if track is not None:
            return track
    return track_video(str(inp), progress=progress)


def _frames_of(inp: Path, track):
    """The clip's frames for the image-motion refinement: the input video itself, or the
    video a track result was made from when it is still there (None: refinement skipped)."""
    from core.fitting import clip_frames

    video = track.source if inp.suffix.lower() == ".npz" else str(inp)
    if track.num_frames < 3 or not video or not Path(video).exists():
        return None
    return clip_frames(video, track.num_frames)


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from app.commands.track import faces_note
    from core.atomic import check_writable
    from core.fitting import FitSettings, reconstruct
    from core.jobs import ConsoleProgress
    from core.model.registry import load_model

    given = offline_input(args.input)
    inp = given.path
    out_file = output_path(args.output, (".npz",))
    if args.export_meshes:
        check_writable(Path(args.export_meshes) / f"frame_00000.{args.mesh_format}")
    t0 = time.perf_counter()
    bar = ConsoleProgress("track")
    try:
        track = _load_track(inp, bar, given.project)
    finally:
        bar.close()
    note = faces_note(track)
    if note:
        print(f"{args.input}: {note}", file=sys.stderr)
    model = load_model(args.model)
    t1 = time.perf_counter()
    bar = ConsoleProgress("fit")
    try:
        rec = reconstruct(track, model, args.model, FitSettings(corrective=not args.no_corrective),
                          per_frame=args.per_frame, progress=bar, frames=_frames_of(inp, track))
    finally:
        bar.close()
    t_fit = time.perf_counter() - t1
    rec.save(out_file)
    if args.export_meshes:
        from core.atomic import ensure_folder
        from core.model.mesh_io import write_obj, write_ply

        out = ensure_folder(args.export_meshes)
        bar = ConsoleProgress("meshes")
        try:
            for f in range(rec.num_frames):
                v = rec.vertices(model, f)
                if args.mesh_format == "obj":
                    write_obj(out / f"frame_{f:05d}.obj", v, model.triangles, model.uv)
                else:
                    write_ply(out / f"frame_{f:05d}.ply", v, model.triangles)
                bar(f + 1, rec.num_frames, "")
        finally:
            bar.close()
    import numpy as np

    err = rec.fit_error_px[rec.valid]
    mean_err = float(np.nanmean(err)) if err.size else float("nan")
    print(f"{rec.num_frames} frames ({int(rec.valid.sum())} fitted), model {rec.model_name}, "
          f"{rec.method} fit, mean fit error {mean_err:.2f} px, fit {t_fit:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s -> {args.output}")
    return 0
