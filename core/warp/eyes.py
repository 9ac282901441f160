"""Moving the irises to the driven gaze.

The target's iris disc is sampled at the warp's map shifted by the gaze change and
composited over a "sclera-only" version of the target eye (the iris inpainted), clipped to
the driven lids. Pixels, origin top-left; images RGB uint8 (H, W, 3); points (478, 2) in
MediaPipe's topology (``core.warp.landmarks``); gaze in eye coordinates.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.numeric import smoothstep
from core.warp.landmarks import EYE_CONTOURS, EYES, from_eye_coords, to_eye_coords
from core.warp.raster import feathered_polygon_mask, polygon_box, remap


class IrisMover:
    """Moves the irises to the driven gaze. Caches the sclera-only eye of a target frame."""

    def __init__(self):
        self._cache_key = None
        self._sclera: np.ndarray | None = None

    def sclera_image(self, target_frame: np.ndarray, target_iris: np.ndarray, target_radius: np.ndarray,
                     key) -> np.ndarray:
        """The target frame with both irises inpainted (only the eye areas change)."""
        if key is not None and key == self._cache_key and self._sclera is not None:
            return self._sclera
        img = target_frame.copy()
        for e in range(2):
            r = float(target_radius[e]) * 1.25 + 1.0
            c = target_iris[e]
            roi = polygon_box(np.array([c - 2.5 * r, c + 2.5 * r]), img.shape[:2], margin=0)
            if roi is None:
                continue
            x0, y0, x1, y1 = roi
            m = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.circle(m, tuple(np.round((c - [x0, y0]) * 16).astype(int)), int(round(r * 16)), 255, -1,
                       lineType=cv2.LINE_8, shift=4)
            img[y0:y1, x0:x1] = cv2.inpaint(np.ascontiguousarray(img[y0:y1, x0:x1]), m, 3, cv2.INPAINT_TELEA)
        self._cache_key, self._sclera = key, img
        return img

    def apply(self, out: np.ndarray, target_frame: np.ndarray, warp, target_points: np.ndarray,
              target_iris: np.ndarray, target_radius: np.ndarray, driven_points: np.ndarray,
              driven_gaze: np.ndarray, key=None) -> None:
        """Composite moved irises into ``out`` in place.

        warp: the ``core.warp.dense.DenseWarp`` (its backward map); target_iris (2, 2) iris centres in the target
        frame and target_radius (2,) pixels; driven_gaze (2, 2) in eye coordinates.
        """
        sclera = None
        for e, eye in enumerate(EYES):
            natural = from_eye_coords(to_eye_coords(target_iris[e], target_points, eye), driven_points, eye)
            desired = from_eye_coords(np.asarray(driven_gaze[e], float), driven_points, eye)
            delta = desired - natural
            if not np.isfinite(delta).all() or np.hypot(*delta) < 0.3:
                continue
            tw = np.linalg.norm(target_points[eye["corners"][1], :2] - target_points[eye["corners"][0], :2])
            dw = np.linalg.norm(driven_points[eye["corners"][1], :2] - driven_points[eye["corners"][0], :2])
            k = tw / max(dw, 1e-6)
            poly = driven_points[list(EYE_CONTOURS[e]), :2]
            roi = polygon_box(poly, out.shape[:2], margin=2)
            if roi is None:
                continue
            if sclera is None:
                sclera = self.sclera_image(target_frame, target_iris, target_radius, key)
            x0, y0, x1, y1 = roi
            m = warp.map_region(x0, y0, x1, y1)
            eye_mask = feathered_polygon_mask(poly - [x0, y0], (y1 - y0, x1 - x0), feather=0.7, erode=0.5)
            r = float(target_radius[e]) / k
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            dist = np.hypot(xs - desired[0], ys - desired[1])
            iris_mask = smoothstep((r + 0.75 - dist) / 1.5)
            iris = remap(target_frame, m - (delta * k).astype(np.float32)).astype(np.float32)
            back = remap(sclera, m).astype(np.float32)
            eye_img = back + iris_mask[..., None] * (iris - back)
            region = out[y0:y1, x0:x1].astype(np.float32)
            out[y0:y1, x0:x1] = np.clip(region + eye_mask[..., None] * (eye_img - region) + 0.5, 0, 255
                                        ).astype(np.uint8)
