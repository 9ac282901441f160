"""``main.py reconstruct INPUT -o OUT.npz``: 4D face reconstruction.

INPUT is a video, an image (F = 1), an image folder, or a ``track`` result
``.npz``. Tracks the face when needed, fits the face model over the whole clip
(one identity, per-frame expressions and cameras; ``--per-frame`` for the fast
frame-by-frame fitter) and writes a Reconstruction ``.npz`` (``core.fitting.clip``).
``--export-meshes DIR`` also writes one mesh per frame, ``DIR/mesh_000000.obj`` ... (model
space, cm; the editor's mesh export). Prints a one-line summary.
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
    p.add_argument("--per-frame", action="store_true",
                   help="fit frame by frame (the live fitter) instead of the whole-video fit")
    p.add_argument("--no-corrective", action="store_true",
                   help="skip the per-clip corrective deformation from the face's optical flow (faster; "
                        "the mesh then moves only as the model's expressions can)")
    p.add_argument("--personalise", action=argparse.BooleanOptionalAction, default=None,
                   help="personalise the model to the clip's subject before fitting (its rest face and "
                        "expressions from the clip; built-in model only; default: the fit settings' default)")
    p.add_argument("--shape-from-motion", action=argparse.BooleanOptionalAction, default=True,
                   help="take the face's 3D shape from how its skin moves where the head turns (truer in 3D; "
                        "the default), or, with --no-shape-from-motion, from the tracker's points alone (the "
                        "mesh then follows those points a little more closely)")
    p.add_argument("--jaw-landmarks", choices=("3d", "silhouette"), default="3d",
                   help="jaw line of the 68 landmarks in the output: '3d', the face's fixed jaw points "
                        "(AFLW2000-3D's 3D-aware convention; on a turned head the far side lies behind the "
                        "cheek), or 'silhouette', on the face's visible outline (300-W's 2D convention)")
    p.add_argument("--export-meshes", metavar="DIR", help="write one mesh per frame into DIR")
    p.add_argument("--mesh-format", choices=("obj", "ply"), default="obj",
                   help="mesh format for --export-meshes (default obj)")


def run(args: argparse.Namespace) -> int:
    from app.commands import offline_input, output_path
    from app.commands.track import faces_note
    from core.atomic import check_writable
    from core.fitting import FitSettings
    from core.fitting.clip import reconstruct_clip
    from core.jobs import ConsoleProgress
    from core.project.validate import load_track_file
    from core.tracking import TrackResult

    given = offline_input(args.input)
    inp = given.path
    out_file = output_path(args.output, (".npz",))
    if args.export_meshes:
        check_writable(Path(args.export_meshes) / f"mesh_000000.{args.mesh_format}")
    t0 = time.perf_counter()
    source = load_track_file(inp) if inp.suffix.lower() == ".npz" else str(inp)
    if given.project is not None:  # a project's saved track spares the tracking
        from core.project import load_project

        source = load_project(given.project).track or source
    bar = ConsoleProgress("reconstruct")
    try:
        settings = FitSettings(corrective=not args.no_corrective, jaw_landmarks=args.jaw_landmarks,
                               identity_from_motion=args.shape_from_motion)
        if args.personalise is not None:
            settings.personalise = args.personalise
        clip = reconstruct_clip(source, args.model, settings, per_frame=args.per_frame, progress=bar)
    finally:
        bar.close()
    rec, model = clip.reconstruction, clip.model
    note = faces_note(clip.track)
    if note:
        print(f"{args.input}: {note}", file=sys.stderr)
    t_track = 0.0 if isinstance(source, TrackResult) else float(clip.track.meta.get("processing_seconds", 0.0))
    t_fit = time.perf_counter() - t0 - t_track
    rec.save(out_file)
    if args.export_meshes:
        from core.edits.export import export_meshes

        bar = ConsoleProgress("meshes")
        try:
            export_meshes(args.export_meshes, rec, model, None, args.mesh_format, progress=bar)
        finally:
            bar.close()
    import numpy as np

    err = rec.fit_error_px[rec.valid]
    mean_err = float(np.nanmean(err)) if err.size else float("nan")
    skin = ", identity from the skin's motion" if rec.identity_source == "skin motion" else ""
    print(f"{rec.num_frames} frames ({int(rec.valid.sum())} fitted), model {rec.model_name}"
          f"{' (personalised to this clip)' if rec.is_personalised else ''}{skin}, "
          f"{rec.method} fit, mean fit error {mean_err:.2f} px, fit {t_fit:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s -> {args.output}")
    return 0
