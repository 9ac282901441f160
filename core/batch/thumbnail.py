"""The report's picture of a clip: its worst-fitting frame with the mesh over it, cropped to the face.

The picture is the ``overlay`` QA render of that frame (core.qa.render_video.overlay_frame:
wireframe, the model's 68 landmarks, each tracker point's fit error as heat, red at
``ERROR_RED_PX`` as in the editor), cut to the face's box with a margin and scaled so that its
longer side is ``size`` pixels; a clip that was only tracked shows its tracked landmarks.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.atomic import write_bytes_atomic
from core.numeric import clipped_box
from core.qa.frame_scene import ERROR_RED_PX
from core.qa.render_video import overlay_frame
from core.render.overlay import draw_landmarks

#: margin around the face's box, as a fraction of its larger side
MARGIN = 0.35
JPEG_QUALITY = 85


def face_crop(image: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """``image`` (H, W, 3) uint8 cut to the square around ``points`` (N, 2) pixels (x right, y
    down) with MARGIN, clipped to the image, scaled so that its longer side is ``size``."""
    pts = np.asarray(points, np.float64)[:, :2]
    pts = pts[np.isfinite(pts).all(axis=1)]
    H, W = image.shape[:2]
    if len(pts):
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (0.5 + MARGIN)
        box = clipped_box(np.floor(cx - half), np.floor(cy - half), np.ceil(cx + half), np.ceil(cy + half), (H, W), 8)
    else:
        box = None
    x0, y0, x1, y1 = box if box is not None else (0, 0, W, H)
    crop = image[y0:y1, x0:x1]
    f = size / max(crop.shape[:2])
    return cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                      interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def write_jpeg(path: str | Path, image: np.ndarray) -> None:
    """``image`` (H, W, 3) uint8 RGB as a JPEG, written atomically."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"{path}: the thumbnail could not be encoded")
    write_bytes_atomic(path, data.tobytes())


def fit_thumbnail(source, meshes, track, frame: int, size: int) -> np.ndarray:
    """Frame ``frame`` of ``source`` (a core.video source) with the fitted mesh ``meshes``
    (core.qa.ClipMeshes) and the fit error against ``track``, cropped to the face: (h, w, 3)
    uint8 RGB with max(h, w) == size."""
    image = overlay_frame(source.read(frame), meshes, frame, track, ERROR_RED_PX)
    return face_crop(image, meshes.screen(frame), size)


def track_thumbnail(source, track, size: int) -> np.ndarray:
    """The middle tracked frame of ``source`` with its tracked landmarks, cropped to the face
    (the picture of a clip that was tracked but not fitted)."""
    valid = np.flatnonzero(np.asarray(track.valid, bool))
    f = int(valid[len(valid) // 2]) if valid.size else 0
    image = source.read(f)
    pts = track.landmarks[f, :, :2]
    if valid.size:
        image = draw_landmarks(image, pts, colour=(0, 255, 0), radius=1.0)
    return face_crop(image, pts, size)
