"""Rendering an expression edit back into the footage with core.reenact's warp renderer.

The fitted mesh of frame f (identity, fitted expression, fitted camera) and the
edited mesh (same identity and camera, edited expression) give a dense
correspondence; the warp renderer backward-warps the original frame along it, so
the output shows the person with the edited expression, and the motion fades out
smoothly beyond the face. Where the edit is zero the frame is returned unchanged.
Gaze is not edited here, so the iris mover is off (the eyes move with the lids).
"""
from __future__ import annotations

import numpy as np

from core.fitting.reconstruction import Reconstruction
from core.model.face_model import FaceModel
from core.reenact.render import WarpRenderer, driven_face, target_face
from core.reenact.transfer import FaceState
from core.reenact.warp import WarpSettings

#: offsets below this (in expression units) change no pixel visibly: skip the warp
NO_EDIT_EPS = 1e-4


def posed_vertices(model: FaceModel, rec: Reconstruction, frame: int, expression: np.ndarray) -> np.ndarray:
    """(N, 3) x_px, y_px, depth of the mesh with ``expression`` under frame's fitted camera."""
    V = model.vertices(rec.identity, expression).astype(np.float64)
    out = float(rec.scale[frame]) * (V @ np.asarray(rec.rotation[frame], np.float64).T)
    out[:, :2] += np.asarray(rec.translation[frame], np.float64)
    return out


class EditedFrameRenderer:
    """Edited frames of one reconstruction. Not thread-safe: one instance per thread.

    model : the FaceModel the reconstruction was fitted with
    rec   : Reconstruction (F frames)
    """

    def __init__(self, model: FaceModel, rec: Reconstruction, settings: WarpSettings | None = None):
        self.model = model
        self.rec = rec
        self.identity = np.asarray(rec.identity, np.float64)
        self.warp = WarpRenderer(model, settings or WarpSettings(gaze=False))

    def state(self, frame: int, expression: np.ndarray) -> FaceState:
        r = self.rec
        return FaceState(np.asarray(expression, np.float64), np.asarray(r.rotation[frame], np.float64),
                         np.asarray(r.translation[frame], np.float64), float(r.scale[frame]), np.zeros((2, 2)))

    def image_vertices(self, frame: int, expression: np.ndarray) -> np.ndarray:
        return posed_vertices(self.model, self.rec, frame, expression)

    def render(self, image: np.ndarray, frame: int, edited_expression: np.ndarray) -> np.ndarray:
        """image (H, W, 3) uint8 RGB = source frame ``frame``; returns the edited frame (a new
        array, or ``image`` itself when the edit is zero at this frame)."""
        fitted = np.asarray(self.rec.expression[frame], np.float64)
        edited = np.asarray(edited_expression, np.float64)
        if np.max(np.abs(edited - fitted)) < NO_EDIT_EPS:
            return image
        tgt = target_face(self.model, self.identity, self.state(frame, fitted), None)
        drv = driven_face(self.model, self.identity, self.state(frame, edited))
        return self.warp.render(image, tgt, drv, target_key=frame)
