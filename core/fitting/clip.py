"""One clip reconstruction: track a video, image or image folder (unless a track is given),
then fit the face model over the whole clip.

Every caller goes through :func:`reconstruct_clip`: the GUI's Reconstruct job (in the worker
process), the ``reconstruct`` command, the QA commands (``flow``, ``render``) and the
reenactment's preparation of a source or target. What it decides, once for all of them:

- the frames: the first ``max_frames`` of the input (all by default); a given track decides
  its own length;
- the image evidence: the whole-video fit follows the clip's own frames (image motion,
  corrective; ``FitSettings``) whenever the input's frames can be read again, i.e. the input
  is a file or folder, or the track's recorded source still exists;
- progress: tracking takes the first ``TRACK_SHARE`` of the bar, the fit the rest, with
  named stages and real counts (``"tracking 120/587"``, ``"fitting: camera initialisation"``);
- caching (when the caller passes a ``core.result_cache.ResultCache``, as the GUI does): the
  track and the reconstruction are kept by the input's content, the settings and the code
  version, so a crash or a restart does not cost them again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.fitting.pipeline import clip_frames, reconstruct
from core.fitting.reconstruction import Reconstruction
from core.fitting.settings import FitSettings
from core.jobs import CancelToken, ProgressFn, check, report, sub_progress
from core.model.face_model import FaceModel
from core.tracking.result import TrackResult

#: share of the progress bar spent tracking when the clip is tracked here (d6 with ICT: tracking
#: ~11 s of ~25 s)
TRACK_SHARE = 0.4
#: progress total of :func:`reconstruct_clip`
PROGRESS_TOTAL = 1000


@dataclass
class ClipReconstruction:
    """What :func:`reconstruct_clip` made: the track, the reconstruction and the model fitted."""

    track: TrackResult
    reconstruction: Reconstruction
    model: FaceModel


def reconstruct_clip(source, model: FaceModel | str = "builtin", settings: FitSettings | None = None,
                     max_frames: int | None = None, track: TrackResult | None = None, per_frame: bool = False,
                     model_spec: str | None = None, progress: ProgressFn | None = None,
                     cancel: CancelToken | None = None, cache=None) -> ClipReconstruction:
    """Track ``source`` (unless ``track`` is given) and fit ``model`` over the clip.

    source : a video file, image or image folder (path), an open non-live ``core.video``
        source, or a TrackResult (then its recorded source, when it still exists, gives the
        frames for the image evidence).
    model : a FaceModel, or a spec for ``core.model.registry.load_model`` ("builtin", "ict", a
        path); the reconstruction records the spec (for a FaceModel: ``model_spec``, default its name).
    settings : FitSettings (default: the defaults); ``image_motion_frames=0`` fits the landmarks
        alone, ``corrective=False`` skips the corrective.
    max_frames : track at most this many frames (ignored when a track is given).
    per_frame : the per-frame fitter (identity fixed, no temporal terms) instead of the whole-video fit.
    cache : a ``core.result_cache.ResultCache`` to take earlier results from and keep new ones in
        (only for a source given as a path).
    Raises NoFaceError (naming the input) when no frame has a face, InputError for unreadable
    input, Cancelled when ``cancel`` is cancelled.
    """
    from core.model.registry import load_model
    from core.tracking.tracker import require_face, track_video

    if isinstance(source, TrackResult):
        track, source = source, None
    path = _path_of(source) if source is not None else (track.source if track is not None else "")
    total = PROGRESS_TOTAL
    if cache is not None and not isinstance(source, (str, os.PathLike)):
        cache = None  # (an open source has no content to key by)
    if track is None:
        track_progress = sub_progress(progress, 0, TRACK_SHARE * total, total, "tracking")
        if cache is not None:
            from core.result_cache import track_cached

            track = track_cached(str(source), max_frames, cache, progress=track_progress, cancel=cancel)
        else:
            track = track_video(source, max_frames=max_frames, cancel=cancel, progress=track_progress)
        fit_start = TRACK_SHARE * total
    else:
        fit_start = 0.0
    require_face(track, path or track.source or "the input")
    check(cancel)
    if isinstance(model, str):
        spec = model
        report(progress, int(fit_start), total, "loading the face model")
        model = load_model(spec)
    else:
        spec = model_spec or model.name
    key = None
    if cache is not None:
        from dataclasses import asdict

        from core.result_cache import track_digest

        key = cache.key(path, "reconstruction", dict(
            model=spec, settings=asdict(settings) if settings is not None else None, per_frame=per_frame,
            track=track_digest(track)))
        rec = cache.get_reconstruction(key, path)
        if rec is not None:
            report(progress, total, total, "taken from the cache")
            return ClipReconstruction(track, rec, model)
    rec = reconstruct(track, model, spec, settings, per_frame=per_frame, cancel=cancel,
                      progress=sub_progress(progress, fit_start, total - fit_start, total, "fitting"),
                      frames=_frames_of(path, track))
    if cache is not None:
        cache.put_reconstruction(key, rec)
    return ClipReconstruction(track, rec, model)


def _path_of(source) -> str:
    """The path of a source given as a path or as an open ``core.video`` source."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "path", ""))


def _frames_of(path: str, track: TrackResult):
    """The clip's frames for the fit's image evidence (``reconstruct(frames=...)``), or None
    when they cannot be read again (a track whose video is gone, a live source, a still)."""
    if track.num_frames < 3 or not path or not Path(path).exists():
        return None
    return clip_frames(path, track.num_frames)
