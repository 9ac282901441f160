"""Exporting an edited clip: video (with the source's audio), PNG frames, meshes, curves.

All functions take the reconstruction, the face model and the :class:`ExpressionEdits`
and run with the plain core/ progress and cancel (``progress(done, total, message)``,
``cancel``: a :class:`~core.jobs.CancelToken`). Exported frames are the source's
first ``rec.num_frames`` frames with the edit warped in (see core.edits.preview);
meshes are model space (cm, y up, face looking down +z) or, with ``posed``, image
space (pixels, y down, depth away from the viewer).

``render_project(project_or_path, out_path)`` renders a saved project: the command
line's ``render`` and the GUI's export use it.

Pixel aspect: a source with non-square pixels (d9: 512x480 stored, sample aspect 15:16,
a square picture) keeps its stored pixels in a video export, which carries the source's
sample aspect ratio (players show it the shape it was filmed); PNG frames, which image
viewers always show with square pixels, are resampled to square pixels (d9: 480x480).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterator

import numpy as np

from core.atomic import write_text_atomic
from core.edits.curves import PROJECT_KEY, ExpressionEdits
from core.edits.preview import EditedFrameRenderer
from core.errors import InputError
from core.fitting.reconstruction import Reconstruction
from core.jobs import CancelToken, ProgressFn, check, report
from core.model.face_model import FaceModel

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv")


def model_bounds(model: FaceModel, names) -> np.ndarray | None:
    """(Ke, 2) bounds of ``names`` from the model (by name), or None when it has none."""
    if model.expression_bounds is None:
        return None
    idx = [model.expression_index(str(n)) for n in names]
    return np.asarray(model.expression_bounds, np.float64)[idx]


def edited_expressions(rec: Reconstruction, model: FaceModel, edits: ExpressionEdits) -> np.ndarray:
    """(F, Ke) edited expressions of every frame, clipped to the model's bounds."""
    names = [str(n) for n in rec.expression_names]
    return edits.apply(rec.expression, names, model_bounds(model, names))


def source_pixel_aspect(source: str) -> float:
    """The pixel aspect (width over height of a pixel as meant to be seen) of a source."""
    from core.video import open_source

    with open_source(source) as src:
        return float(getattr(src, "pixel_aspect", 1.0) or 1.0)


def square_pixels(frame: np.ndarray, pixel_aspect: float) -> np.ndarray:
    """``frame`` (H, W, 3) resampled so its pixels are square: width round(W * pixel_aspect)
    (the height kept); the frame itself when the pixels are square already."""
    if abs(pixel_aspect - 1.0) < 1e-6:
        return frame
    import cv2

    h, w = frame.shape[:2]
    nw = max(1, int(round(w * pixel_aspect)))
    return cv2.resize(frame, (nw, h), interpolation=cv2.INTER_AREA if nw < w else cv2.INTER_CUBIC)


def iter_edited_frames(source: str, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits,
                       progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                       renderer_factory=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, edited frame (H, W, 3) uint8 RGB, as stored) for the reconstruction's frames
    (``renderer_factory``: rendered by the neural renderer it makes, see EditedFrameRenderer)."""
    from core.video import open_source

    E = edited_expressions(rec, model, edits)
    renderer = EditedFrameRenderer(model, rec, renderer_factory=renderer_factory)
    F = rec.num_frames
    with open_source(source) as src:
        if src.is_live:
            raise InputError(f"{source}: a live source cannot be exported")
        n = min(F, src.frame_count)
        if n <= 0:
            raise InputError(f"{source}: no frames to export")
        for i, frame in src.frames(0, n):
            check(cancel)
            yield i, renderer.render(frame, i, E[i])
            report(progress, i + 1, n, "rendering edited frames")


def export_video(path, source: str, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits,
                 keep_audio: bool = True, quality="high", progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None, renderer_factory=None) -> int:
    """Write the edited clip as H.264 video (the source's audio kept). Returns frames written.
    On cancel or error the partial file is deleted and ``path`` is left untouched."""
    from core.video import VideoWriter

    from core.video import open_source

    fps = float(rec.fps) if rec.fps and rec.fps > 0 else 30.0
    with open_source(source) as src:  # the clip's own frame times (a variable frame rate keeps them)
        times = src.timestamps if not src.is_live else None
    writer = VideoWriter(path, fps=fps, audio_from=source if keep_audio else None, quality=quality,
                         pixel_aspect=source_pixel_aspect(source))
    try:
        for i, frame in iter_edited_frames(source, rec, model, edits, progress, cancel, renderer_factory):
            writer.write(frame, t=None if times is None else float(times[i]))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.frames_written


def export_png_sequence(folder, source: str, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits,
                        progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                        renderer_factory=None) -> list[Path]:
    """Edited frames as ``folder/frame_000000.png`` ... with square pixels; returns the paths."""
    from core.video import write_png_sequence

    aspect = source_pixel_aspect(source)
    return write_png_sequence((square_pixels(f, aspect)
                               for _i, f in iter_edited_frames(source, rec, model, edits, progress, cancel,
                                                               renderer_factory)), folder)


def export_meshes(folder, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits | None, fmt: str = "obj",
                  posed: bool = False, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> list[Path]:
    """One mesh per frame, ``folder/mesh_000000.obj`` (or .ply), corrective included: the
    fitted face (``edits`` None: the ``reconstruct`` command) or the edited one (the editor).
    Model space (cm) or, with ``posed``, image space (``Reconstruction.posed_vertices``)."""
    from core.model.mesh_io import write_obj, write_ply

    fmt = fmt.lower().lstrip(".")
    if fmt not in ("obj", "ply"):
        raise ValueError(f"mesh format must be obj or ply, got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    E = rec.expression if edits is None else edited_expressions(rec, model, edits)
    paths = []
    F = rec.num_frames
    for f in range(F):
        check(cancel)
        V = rec.posed_vertices(model, f, E[f]) if posed else rec.vertices(model, f, E[f])
        p = folder / f"mesh_{f:06d}.{fmt}"
        if fmt == "obj":
            write_obj(p, np.asarray(V, np.float32), model.triangles, model.uv)
        else:
            write_ply(p, np.asarray(V, np.float32), model.triangles)
        paths.append(p)
        report(progress, f + 1, F, "writing meshes")
    return paths


def curves_table(rec: Reconstruction, model: FaceModel, edits: ExpressionEdits) -> dict:
    """JSON-safe curves: per component the fitted, offset and edited values per frame."""
    names = [str(n) for n in rec.expression_names]
    frames = np.arange(rec.num_frames)
    off = edits.offsets(names, frames)
    E = edited_expressions(rec, model, edits)
    fit = np.asarray(rec.expression, np.float64)
    return {
        "fps": float(rec.fps), "frames": int(rec.num_frames), "names": names,
        "components": {n: {"fitted": np.round(fit[:, k], 6).tolist(), "offset": np.round(off[:, k], 6).tolist(),
                           "edited": np.round(E[:, k], 6).tolist()} for k, n in enumerate(names)},
        "edits": edits.to_dict(),
    }


def export_curves_json(path, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits) -> None:
    """JSON of :func:`curves_table`: per component the fitted, offset and edited values per frame, and the
    edits."""
    write_text_atomic(Path(path), json.dumps(curves_table(rec, model, edits), indent=1))


def export_curves_csv(path, rec: Reconstruction, model: FaceModel, edits: ExpressionEdits) -> None:
    """CSV: one row per frame; columns frame, time_s, then ``<name>`` (edited value) for each
    component, then ``<name>.fitted`` and ``<name>.offset``."""
    names = [str(n) for n in rec.expression_names]
    E = edited_expressions(rec, model, edits)
    off = edits.offsets(names, np.arange(rec.num_frames))
    fit = np.asarray(rec.expression, np.float64)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "time_s"] + names + [f"{n}.fitted" for n in names] + [f"{n}.offset" for n in names])
    fps = float(rec.fps) if rec.fps else 30.0
    for f in range(rec.num_frames):
        w.writerow([f, f"{f / fps:.4f}"] + [f"{v:.6f}" for v in E[f]] + [f"{v:.6f}" for v in fit[f]]
                   + [f"{v:.6f}" for v in off[f]])
    write_text_atomic(Path(path), buf.getvalue())


def render_project(project, out_path, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None, keep_audio: bool = True) -> int:
    """Render a project's edited clip. ``project``: a core.project.Project or its folder.

    ``out_path`` ending in .mp4/.m4v/.mov/.mkv -> video with the source's audio; any other
    path -> a folder of PNG frames. Returns the number of frames written.
    """
    from core.model.registry import load_model
    from core.project import Project, load_project

    if not isinstance(project, Project):
        project = load_project(project)
    rec, source_path = project.reconstruction_and_source()
    source = str(source_path)
    model = load_model(project.model_spec or rec.model_spec or "builtin")
    edits = ExpressionEdits.from_dict(project.edits.get(PROJECT_KEY) if project.edits else None,
                                      where=f"{source}: project edits")
    out = Path(out_path)
    if out.suffix.lower() in VIDEO_EXTS:
        return export_video(out, source, rec, model, edits, keep_audio=keep_audio, progress=progress,
                            cancel=cancel)
    return len(export_png_sequence(out, source, rec, model, edits, progress=progress, cancel=cancel))
