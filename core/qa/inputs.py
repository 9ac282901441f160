"""Inputs of the QA exports: a video and its reconstruction (loaded, or made on the spot),
checked against each other. Shared by the ``flow`` and ``render`` commands and the GUI."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.errors import InputError
from core.jobs import CancelToken, ProgressFn
from core.qa.clip import ClipMeshes, check_model_matches, check_reconstruction_matches, frames_to_use


@dataclass
class QAInputs:
    """A video opened for a QA command with its reconstruction (as posed meshes) and, when asked for, its
    track."""

    source: object            # core.video VideoSource (caller closes it)
    meshes: ClipMeshes
    frames: int               # frames to process (from 0)
    track: object = None      # TrackResult, when one was loaded or made
    reconstructed: bool = False


def open_video(path) -> object:
    """Open a video (or image / image folder) that has a known frame count; InputError otherwise."""
    from core.video import open_source

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: input not found")
    src = open_source(str(p))
    if src.is_live or src.frame_count < 1:
        src.close()
        raise InputError(f"{p}: not a video file, image or image folder with frames")
    return src


def load_track(path, source, frames: int, where_video: str):
    """A TrackResult (file or object) checked against the video (size, enough frames)."""
    from core.project.validate import load_track_file
    from core.tracking import TrackResult

    tr = path if isinstance(path, TrackResult) else load_track_file(path)
    if isinstance(path, TrackResult):
        path = "the track"
    if tuple(int(v) for v in tr.size) != tuple(source.size):
        raise InputError(f"{path}: track was made on {tr.size[1]}x{tr.size[0]} frames but {where_video} "
                         f"is {source.size[1]}x{source.size[0]}")
    if tr.num_frames < frames:
        raise InputError(f"{path}: track has {tr.num_frames} frames but {frames} frames of {where_video} are used")
    return tr


def prepare(video_path, reconstruction=None, track_path=None, model_spec: Optional[str] = None,
            max_frames: Optional[int] = None, need_track: bool = False,
            progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
            label: Optional[str] = None) -> QAInputs:
    """Open ``video_path`` and get its reconstruction.

    reconstruction : a Reconstruction or its ``.npz`` (checked against the video: frame count,
    size, model), or None to track the first ``max_frames`` frames (all by default) and
    fit ``model_spec`` (default "builtin") over the whole clip. ``need_track``: also
    return a TrackResult (from ``track_path``, or by tracking) when a reconstruction is given.
    label : how messages name a reconstruction/track given as objects (e.g. the project).
    Raises InputError / NoFaceError (one clear line) for bad files and faceless videos.
    """
    from core.fitting import Reconstruction
    from core.fitting.clip import reconstruct_clip
    from core.model.registry import load_model
    from core.tracking import require_face, track_video

    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames {max_frames}: must be at least 1")
    where = str(video_path)
    src = open_video(video_path)
    try:
        track = None
        if reconstruction is not None:
            is_obj = isinstance(reconstruction, Reconstruction)
            if is_obj:
                rec = reconstruction
            else:
                from core.project.validate import load_reconstruction_file

                rec = load_reconstruction_file(reconstruction)
            rec_where = (label or "the reconstruction") if is_obj else str(reconstruction)
            frames = check_reconstruction_matches(rec, src.size, src.frame_count, max_frames, rec_where, where)
            model = load_model(model_spec or rec.model_spec)
            check_model_matches(rec, model, rec_where)
            if track_path is not None:
                track = load_track(track_path, src, frames, where)
            elif need_track:
                track = track_video(src, max_frames=frames, progress=progress, cancel=cancel)
            built = False
        else:
            frames = frames_to_use(src.frame_count, max_frames)
            if track_path is not None:
                track = load_track(track_path, src, frames, where)
                if track.num_frames != frames:
                    raise InputError(f"{track_path}: track has {track.num_frames} frames but {frames} frames of "
                                     f"{where} are used (pass --max-frames {track.num_frames})")
            clip = reconstruct_clip(src, model_spec or "builtin", max_frames=frames, track=track,
                                    progress=progress, cancel=cancel)
            track, rec, model = clip.track, clip.reconstruction, clip.model
            built = True
        if track is not None:
            require_face(track, where)
        return QAInputs(src, ClipMeshes(rec, model), frames, track, built)
    except BaseException:
        src.close()
        raise


def is_project(path) -> bool:
    """A FaceStudio project folder (holds ``project.json``)."""
    return Path(path).is_dir() and (Path(path) / "project.json").is_file()


def prepare_project(project_path, max_frames: Optional[int] = None, need_track: bool = False,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> QAInputs:
    """Open a project folder's source video with the project's reconstruction (and track).

    The source path is the project's ``source_path`` (relative paths are relative to the
    project folder). InputError when the project has no reconstruction or its video is missing.
    """
    from core.project import load_project

    proj = load_project(project_path)
    rec, src = proj.reconstruction_and_source()
    return prepare(src, rec, proj.track, proj.model_spec or None, max_frames,
                   need_track=need_track, progress=progress, cancel=cancel,
                   label=f"{project_path} (its reconstruction)")
