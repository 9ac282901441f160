"""Tracked and fitted faces for reenactment: a source or a target, still or video, and the
``ProjectedFace`` (``core.warp``) of any of its frames, as fitted or as driven.

``fit_face`` turns a TrackResult into a ``FittedFace``: the Reconstruction of core.fitting's
whole-video fit (``core.fitting.pipeline.reconstruct``; a still is a one-frame clip) and the
``FaceSequence`` transfer works on (one identity, per-frame expression, camera, gaze and
landmark detail). A face in an image is always the reconstruction's posed mesh
(``Reconstruction.posed_vertices``, corrective included) under the state's expression and
camera, plus the state's landmark detail.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.fitting.basis import basis_from_embedding
from core.fitting.pipeline import reconstruct
from core.fitting.reconstruction import Reconstruction
from core.fitting.settings import FitSettings
from core.jobs import CancelToken, ProgressFn
from core.model.face_model import FaceModel
from core.reenact.transfer import FaceSequence, FaceState
from core.tracking.result import TrackResult
from core.tracking.tracker import require_face
from core.warp.face import ProjectedFace, driven_face, landmark_detail, target_face

#: How reenactment fits its source and target: the landmarks alone (no image-motion refinement,
#: no corrective). The live path can only fit landmarks (frame by frame), and the offline warp's
#: figures (bench/bench_reenact_quality.py) were measured on this fit; the image evidence has
#: not been evaluated for reenactment.
FIT_SETTINGS = FitSettings(image_motion_frames=0.0, corrective=False)


@dataclass
class FittedFace:
    """A tracked, fitted clip or still. ``name`` is the input's path for messages; ``seq`` is
    ``rec`` as transfer reads it (gaps filled, gaze and landmark detail added)."""

    name: str
    track: TrackResult
    seq: FaceSequence
    rec: Reconstruction

    @property
    def num_frames(self) -> int:
        return len(self.seq)

    def screen(self, model: FaceModel, frame: int, state: FaceState | None = None) -> np.ndarray:
        """(N, 3) screen vertices of frame ``frame`` with ``state``'s expression, camera and
        landmark detail (default: the frame as fitted): the reconstruction's posed mesh
        (``Reconstruction.posed_vertices``, the frame's corrective included) plus the detail."""
        st = self.seq.frame(frame) if state is None else state
        posed = self.rec.posed_vertices(model, frame, st.expression, st.camera)
        return landmark_detail(model, posed, st.residual, st.scale)

    def target(self, model: FaceModel, frame: int) -> ProjectedFace:
        """Frame ``frame`` as the target picture shows it (its real irises when tracked)."""
        st = self.seq.frame(frame)
        tracked = self.track.landmarks[frame] if self.track.valid[frame] else None
        return target_face(model, self.seq.identity, st.camera, self.screen(model, frame, st), st.gaze, tracked)

    def driven(self, model: FaceModel, frame: int, state: FaceState) -> ProjectedFace:
        """The face driven to ``state`` (transfer's output), on frame ``frame``'s corrective."""
        return driven_face(model, self.seq.identity, state.camera, self.screen(model, frame, state), state.gaze)


def fit_face(track: TrackResult, model: FaceModel, name: str = "", model_spec: str = "builtin",
             settings: FitSettings | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> FittedFace:
    """Fit ``model`` to a track (``settings`` default: :data:`FIT_SETTINGS`). Raises NoFaceError
    (naming ``name``) when no frame has a face."""
    require_face(track, name or track.source)
    rec = reconstruct(track, model, model_spec, settings=settings or FIT_SETTINGS, progress=progress, cancel=cancel)
    return from_reconstruction(rec, track, model, name)


def from_reconstruction(rec: Reconstruction, track: TrackResult, model: FaceModel, name: str = "") -> FittedFace:
    """A FittedFace from a core.fitting Reconstruction and its track (adds gaze and detail).

    The detail is the tracked minus the fitted landmarks, divided by the scale: (F, L, 2) cm
    in the image plane (NaN where untracked; ``FaceSequence.filled`` zeroes it).
    """
    basis = basis_from_embedding(model)
    L = basis.num_points
    obs = np.asarray(track.landmarks[:, :L, :2], np.float64)
    valid = np.asarray(rec.valid, bool) & track.valid
    seq = FaceSequence.from_reconstruction(rec, landmarks=track.landmarks, valid=valid)
    fitted = rec.cameras.project(basis.points(seq.identity, np.asarray(rec.expression, np.float64)))[..., :2]
    seq.residual = (obs - fitted) / np.asarray(rec.scale, np.float64)[:, None, None]
    return FittedFace(name or track.source, track, seq.filled(), rec)
