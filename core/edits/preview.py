"""Rendering an expression edit back into the footage with core.reenact's warp renderer.

The fitted mesh of frame f (identity, fitted expression, fitted camera) and the
edited mesh (same identity and camera, edited expression) give a dense
correspondence; the warp renderer backward-warps the original frame along it, so
the output shows the person with the edited expression, and the motion fades out
smoothly beyond the face. Where the edit is zero the frame is returned unchanged.
Gaze is not edited here, so the iris mover is off (the eyes move with the lids).

While a slider is dragged the editor asks for a reduced-resolution render
(``scale`` < 1: the warp's cost goes with the pixel count, ~4x less at half size) and
for the full-resolution frame on release.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.fitting.reconstruction import Reconstruction
from core.model.face_model import FaceModel
from core.reenact.render import WarpRenderer, driven_face, target_face
from core.reenact.transfer import FaceState
from core.reenact.warp import WarpSettings

#: offsets below this (in expression units) change no pixel visibly: skip the warp
NO_EDIT_EPS = 1e-4


def posed_vertices(model: FaceModel, rec: Reconstruction, frame: int, expression: np.ndarray) -> np.ndarray:
    """(N, 3) x_px, y_px, depth of the mesh with ``expression`` under frame's fitted camera
    (the reconstruction's per-clip corrective of that frame included)."""
    V = rec.vertices(model, frame, expression).astype(np.float64)
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
        self._target_cache = None  # ((frame, scale), ProjectedFace)

    def state(self, frame: int, expression: np.ndarray, scale: float = 1.0) -> FaceState:
        """Frame's fitted camera with ``expression``; ``scale`` scales the image (pixels)."""
        r = self.rec
        return FaceState(np.asarray(expression, np.float64), np.asarray(r.rotation[frame], np.float64),
                         np.asarray(r.translation[frame], np.float64) * scale, float(r.scale[frame]) * scale,
                         np.zeros((2, 2)))

    def image_vertices(self, frame: int, expression: np.ndarray) -> np.ndarray:
        return posed_vertices(self.model, self.rec, frame, expression)

    def _target(self, frame: int, scale: float):
        """The fitted face of ``frame`` at ``scale`` (kept: it does not change while a slider moves)."""
        key = (int(frame), float(scale))
        if self._target_cache is None or self._target_cache[0] != key:
            fitted = np.asarray(self.rec.expression[frame], np.float64)
            self._target_cache = (key, target_face(self.model, self.identity, self.state(frame, fitted, scale), None))
        return self._target_cache[1]

    def render(self, image: np.ndarray, frame: int, edited_expression: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """image (H, W, 3) uint8 RGB = source frame ``frame``; returns the edited frame (a new
        array, or ``image`` itself when the edit is zero at this frame).

        ``scale`` < 1 renders the edit at that fraction of the resolution (a fast preview):
        the changed region is upsampled into a copy of ``image``, so the output keeps the
        frame's size and stays sharp away from the face.

        Frames without a tracked face (``rec.valid`` False: their coefficients are copied
        from the nearest fitted frame) are returned unchanged: there is no face to edit,
        and warping along a borrowed mesh would smear whatever is there.
        """
        if not bool(self.rec.valid[frame]):
            return image
        fitted = np.asarray(self.rec.expression[frame], np.float64)
        edited = np.asarray(edited_expression, np.float64)
        if np.max(np.abs(edited - fitted)) < NO_EDIT_EPS:
            return image
        if scale >= 1.0:
            drv = driven_face(self.model, self.identity, self.state(frame, edited))
            return self.warp.render(image, self._target(frame, 1.0), drv, target_key=frame)
        H, W = image.shape[:2]
        w, h = max(8, int(round(W * scale))), max(8, int(round(H * scale)))
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        s = 0.5 * (w / W + h / H)  # one scale for the camera (the axes differ by < 1 px)
        drv = driven_face(self.model, self.identity, self.state(frame, edited, s))
        out_small = self.warp.render(small, self._target(frame, s), drv, target_key=("preview", frame))
        ys, xs = np.nonzero(np.any(out_small != small, axis=2))
        if ys.size == 0:
            return image
        # the changed box (plus the upsampling filter's reach) in full-resolution pixels
        x0, x1 = max(int((xs.min() - 2) * W / w), 0), min(int((xs.max() + 3) * W / w) + 1, W)
        y0, y1 = max(int((ys.min() - 2) * H / h), 0), min(int((ys.max() + 3) * H / h) + 1, H)
        up = cv2.resize(out_small, (W, H), interpolation=cv2.INTER_LINEAR)
        out = image.copy()
        out[y0:y1, x0:x1] = up[y0:y1, x0:x1]
        return out
