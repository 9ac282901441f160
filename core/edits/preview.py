"""Rendering an expression edit back into the footage with the warp renderer (core.warp).

The fitted face of frame f (``Reconstruction.posed_vertices``: fitted expression, fitted
camera, the frame's corrective) and the edited face (the same with the edited expression)
give a dense correspondence; the warp renderer backward-warps the original frame along it,
so the output shows the person with the edited expression, and the motion fades out
smoothly beyond the face. Both faces carry the frame's corrective, so the mouth-opening test
and the face's hull see the lips and brows where the corrected mesh puts them. Where the
edit is zero the frame is returned unchanged. Gaze is not edited here, so the iris mover is
off (the eyes move with the lids).

While a slider is dragged the editor asks for a reduced-resolution render
(``scale`` < 1: the warp's cost goes with the pixel count, ~4x less at half size) and
for the full-resolution frame on release.

A ``renderer_factory`` (``core.neural.renderer.renderer_factory``: a neural renderer trained on
the clip) renders the edited frames instead of the warp; its hybrid network corrects the warp.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.fitting.reconstruction import Reconstruction
from core.model.face_model import FaceModel
from core.warp import FrameRequest, ProjectedFace, WarpRenderer, WarpSettings, driven_face, target_face

#: offsets below this (in expression units) change no pixel visibly: skip the warp
NO_EDIT_EPS = 1e-4
#: the gaze of an edited face: not edited (eye coordinates; the iris mover is off)
_NO_GAZE = np.zeros((2, 2))


class EditedFrameRenderer:
    """Edited frames of one reconstruction. Not thread-safe: one instance per thread.

    model : the FaceModel the reconstruction was fitted with
    rec   : Reconstruction (F frames)
    renderer_factory : makes the frame renderer of the warp (the neural renderer); None: the warp
    """

    def __init__(self, model: FaceModel, rec: Reconstruction, settings: WarpSettings | None = None,
                 renderer_factory=None):
        self.model = rec.face_model(model)   # the subject's own model for a personalised fit
        self.rec = rec
        self.warp = WarpRenderer(model, settings or WarpSettings(gaze=False))
        self.renderer = renderer_factory(self.warp) if renderer_factory is not None else self.warp
        self._target_cache = None  # ((frame, scale), ProjectedFace)

    def face(self, frame: int, expression: np.ndarray | None, scale: float = 1.0, target: bool = False
             ) -> ProjectedFace:
        """Frame ``frame``'s face with ``expression`` (None: as fitted) in the frame's image
        resized by ``scale``: the target (the face the frame shows) or a driven (edited) face."""
        cam = self.rec.camera(frame).scaled(scale)
        screen = self.rec.posed_vertices(self.model, frame, expression, cam)
        if target:
            return target_face(self.model, self.rec.identity, cam, screen, _NO_GAZE)
        return driven_face(self.model, self.rec.identity, cam, screen, _NO_GAZE)

    def _target(self, frame: int, scale: float) -> ProjectedFace:
        """The fitted face of ``frame`` at ``scale`` (kept: it does not change while a slider moves)."""
        key = (int(frame), float(scale))
        if self._target_cache is None or self._target_cache[0] != key:
            self._target_cache = (key, self.face(frame, None, scale, target=True))
        return self._target_cache[1]

    def render(self, image: np.ndarray, frame: int, edited_expression: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The edited frame: ``image`` (H, W, 3) uint8 RGB is source frame ``frame``; returns a new
        array, or ``image`` itself when the edit is zero at this frame.

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
            request = FrameRequest(image, self._target(frame, 1.0), self.face(frame, edited), frame)
            return self.renderer.render(request).image
        H, W = image.shape[:2]
        w, h = max(8, int(round(W * scale))), max(8, int(round(H * scale)))
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        s = 0.5 * (w / W + h / H)  # one scale for the camera (the axes differ by < 1 px)
        request = FrameRequest(small, self._target(frame, s), self.face(frame, edited, s), ("preview", frame))
        out_small = self.renderer.render(request).image
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
