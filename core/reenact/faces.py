"""Tracked and fitted faces for reenactment: a source or a target, still or video.

``fit_face`` turns a TrackResult into a ``FaceSequence`` (one identity, per-frame
expression, camera, gaze and landmark detail) with core.fitting's whole-video fit
(``core.fitting.pipeline.reconstruct``; a still is a one-frame clip).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import project
from core.fitting.basis import basis_from_embedding
from core.fitting.settings import FitSettings
from core.fitting.pipeline import reconstruct
from core.jobs import CancelToken, ProgressFn
from core.model.face_model import FaceModel
from core.reenact.transfer import FaceSequence
from core.tracking.result import TrackResult
from core.tracking.tracker import require_face

#: How reenactment fits its source and target: the landmarks alone (no image-motion refinement,
#: no corrective). The live path can only fit landmarks (frame by frame), and the offline warp's
#: figures (bench/bench_reenact_quality.py) were measured on this fit; the image evidence has
#: not been evaluated for reenactment.
FIT_SETTINGS = FitSettings(image_motion_frames=0.0, corrective=False)


@dataclass
class FittedFace:
    """A tracked, fitted clip or still. ``name`` is the input's path for messages."""

    name: str
    track: TrackResult
    seq: FaceSequence

    @property
    def num_frames(self) -> int:
        return len(self.seq)


def fit_face(track: TrackResult, model: FaceModel, name: str = "", model_spec: str = "builtin",
             settings: FitSettings | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> FittedFace:
    """Fit ``model`` to a track (``settings`` default: :data:`FIT_SETTINGS`). Raises NoFaceError
    (naming ``name``) when no frame has a face."""
    require_face(track, name or track.source)
    rec = reconstruct(track, model, model_spec, settings=settings or FIT_SETTINGS, progress=progress, cancel=cancel)
    return from_reconstruction(rec, track, model, name)


def from_reconstruction(rec, track: TrackResult, model: FaceModel, name: str = "") -> FittedFace:
    """A FittedFace from a core.fitting Reconstruction and its track (adds gaze and detail)."""
    basis = basis_from_embedding(model)
    L = basis.num_points
    obs = np.asarray(track.landmarks[:, :L, :2], np.float64)
    valid = np.asarray(rec.valid, bool) & track.valid
    seq = FaceSequence.from_reconstruction(rec, landmarks=track.landmarks, valid=valid)
    seq.residual = landmark_residual(basis.points(seq.identity, np.asarray(rec.expression, np.float64)),
                                     np.asarray(rec.scale, np.float64), np.asarray(rec.rotation, np.float64),
                                     np.asarray(rec.translation, np.float64), obs)
    return FittedFace(name or track.source, track, seq.filled())


def landmark_residual(points3d: np.ndarray, scale: np.ndarray, rotation: np.ndarray,
                      translation: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(observed - projected fitted points) / scale: (F, L, 2) cm in the image plane.

    points3d (F, L, 3) model points of the fit; observed (F, L, 2) pixels (NaN where untracked).
    """
    proj = project(points3d, scale, rotation, translation)[..., :2]
    return (observed - proj) / scale[:, None, None]
