"""The warp renderer: the driven face drawn into the target frame by warping the frame
(``core.warp.dense``), then what the target never showed filled in (mouth interior,
``core.warp.mouth``; irises moved to the driven gaze, ``core.warp.eyes``). Runs live on a CPU.
Implements ``core.warp.interface.FaceRenderer``.
"""
from __future__ import annotations

import time

import numpy as np

from core.model.face_model import FaceModel
from core.warp.dense import dense_warp
from core.warp.eyes import IrisMover
from core.warp.face import CHIN, EYE_OUTER_CORNERS, warp_triangles
from core.warp.interface import FrameRequest, FrameResult
from core.warp.interior import preload_interior, shared_interior
from core.warp.mouth import MouthBank, fill_mouth
from core.warp.raster import remap
from core.warp.rigid import head_motion
from core.warp.settings import WarpSettings


class WarpRenderer:
    """Renders the driven face into the target frame by warping the frame (a ``FaceRenderer``).

    One instance per output stream (it keeps small caches: the sclera image of
    the current target frame and the mouth retrieval's hysteresis). ``mouth_bank``: mouth
    interiors of a target video (None: a still, filled from ICT's interior or synthesised).
    """

    name = "warp"

    def __init__(self, model: FaceModel, settings: WarpSettings | None = None,
                 mouth_bank: MouthBank | None = None):
        self.model = model
        self.settings = settings or WarpSettings()
        self.triangles = warp_triangles(model)
        self.mouth_bank = mouth_bank
        self._irises = IrisMover()
        if self.settings.mouth_fill and self.settings.mouth_interior == "ict":
            preload_interior()  # in the background: the first open mouth waits for it only if early

    def render(self, request: FrameRequest) -> FrameResult:
        """The output frame for ``request`` (``core.warp.interface``). Stages: warp (the dense
        map), sample (remapping the target frame), mouth (interior fill), eyes (moved irises)."""
        target_frame, target, driven = request.target_frame, request.target, request.driven
        target_key, reference = request.target_key, request.reference
        t0 = time.perf_counter()
        H, W = target_frame.shape[:2]
        hull = np.concatenate([driven.points[:468], target.points[:468]])
        rigid = head_motion(target, driven, self.settings.outline_depth, reference)
        # the rigid motion fades out from the eyes' level to the chin's (WarpSettings.neck_release)
        release = (float(driven.points[list(EYE_OUTER_CORNERS), 1].mean()), float(driven.points[CHIN, 1]))
        warp = dense_warp(driven.screen, target.screen, self.triangles, (H, W), hull_points=hull,
                          settings=self.settings, rigid=rigid, release_rows=release)
        t1 = time.perf_counter()
        out = target_frame.copy()
        x0, y0, x1, y1 = warp.box
        if x1 > x0 and y1 > y0:  # only the box moves
            out[y0:y1, x0:x1] = remap(target_frame, warp.box_map)
        t2 = time.perf_counter()
        mouth_filled = False
        if self.settings.mouth_fill:
            # ICT's interior is looked up (and waited for) only when a mouth is to be filled
            interior = shared_interior if self.settings.mouth_interior == "ict" else None
            mouth_filled = fill_mouth(out, driven.points, target.points, target_frame, self.mouth_bank,
                                           key=target_key, interior=interior, rim=self.settings.mouth_rim)
        t3 = time.perf_counter()
        if self.settings.gaze:
            self._irises.apply(out, target_frame, warp, target.points, target.iris, target.iris_radius,
                               driven.points, driven.gaze, key=target_key)
        t4 = time.perf_counter()
        stages = dict(warp=(t1 - t0) * 1e3, sample=(t2 - t1) * 1e3, mouth=(t3 - t2) * 1e3, eyes=(t4 - t3) * 1e3)
        return FrameResult(out, stages, mouth_filled)
