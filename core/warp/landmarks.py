"""Gaze from the tracker's eye and iris points (MediaPipe's 478-point topology).

The gaze of one eye is the iris centre in an eye frame spanned by the eye corners:
origin at the corners' midpoint, x along the corner-to-corner line (image-left
corner -> image-right corner), y perpendicular (image down for an upright face),
unit = eye width. MediaPipe: 468 = right iris centre, 473 = left iris centre
("right" = the subject's right eye, on the image's left).

When the iris points are unreliable (eye nearly closed, centre outside the eye
opening) the seeds' inverse-intensity pupil centre (thesis Eq. 7.3: the centroid of
the pixels inside the eye polygon weighted by 255 - intensity) is used instead when
the frame is given.
"""
from __future__ import annotations

import cv2
import numpy as np

#: (image-left corner, image-right corner, upper lid, lower lid, iris centre, iris ring)
RIGHT_EYE = dict(corners=(33, 133), lids=(159, 145), iris=468, ring=(469, 470, 471, 472))
LEFT_EYE = dict(corners=(362, 263), lids=(386, 374), iris=473, ring=(474, 475, 476, 477))
EYES = (RIGHT_EYE, LEFT_EYE)
#: eye opening contours (closed polygons), same order as EYES
EYE_CONTOURS = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373, 374, 380, 381, 382),
)
#: inner lip contour (closed polygon around the mouth opening)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
MOUTH_CORNERS = (78, 308)
LIP_MIDDLE = (13, 14)  # upper and lower inner lip centre

#: an eye whose opening is below this fraction of its width counts as closed
MIN_OPENING = 0.12


def eye_frame(points: np.ndarray, eye: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eye frame from (..., 478, >=2) points: origin (...,2), ex (...,2), ey (...,2), width (...)."""
    a = points[..., eye["corners"][0], :2]
    b = points[..., eye["corners"][1], :2]
    d = b - a
    width = np.linalg.norm(d, axis=-1)
    ex = d / np.maximum(width, 1e-9)[..., None]
    ey = np.stack([-ex[..., 1], ex[..., 0]], axis=-1)
    return (a + b) / 2, ex, ey, width


def to_eye_coords(p: np.ndarray, points: np.ndarray, eye: dict) -> np.ndarray:
    """Image points ``p`` (..., 2) px in the eye frame of ``eye`` on ``points`` (478, 2): (..., 2) in eye
    widths."""
    o, ex, ey, w = eye_frame(points, eye)
    d = p - o
    return np.stack([(d * ex).sum(-1), (d * ey).sum(-1)], axis=-1) / np.maximum(w, 1e-9)[..., None]


def from_eye_coords(g: np.ndarray, points: np.ndarray, eye: dict) -> np.ndarray:
    """Eye coordinates ``g`` (..., 2) back to image points (..., 2) px in the eye frame of ``eye`` on
    ``points``."""
    o, ex, ey, w = eye_frame(points, eye)
    return o + w[..., None] * (g[..., :1] * ex + g[..., 1:2] * ey)


def eye_opening(points: np.ndarray, eye: dict) -> np.ndarray:
    """Lid distance / eye width, (...)."""
    up = points[..., eye["lids"][0], :2]
    lo = points[..., eye["lids"][1], :2]
    _, _, _, w = eye_frame(points, eye)
    return np.linalg.norm(up - lo, axis=-1) / np.maximum(w, 1e-9)


def gaze_from_landmarks(landmarks: np.ndarray, frames=None) -> tuple[np.ndarray, np.ndarray]:
    """Gaze of both eyes from tracked points.

    landmarks : (F, 478, >=2) pixels (NaN where untracked), or (478, >=2).
    frames : optional sequence of F RGB frames for the pupil fallback.
    Returns gaze (F, 2, 2) [eye, (x, y)] and reliable (F, 2) bool.
    """
    single = landmarks.ndim == 2
    L = landmarks[None] if single else landmarks
    F = L.shape[0]
    gaze = np.zeros((F, 2, 2))
    ok = np.zeros((F, 2), bool)
    for e, eye in enumerate(EYES):
        c = L[:, eye["iris"], :2]
        g = to_eye_coords(c, L, eye)
        opening = eye_opening(L, eye)
        good = np.isfinite(g).all(-1) & (opening > MIN_OPENING) & (np.abs(g[:, 0]) < 0.45) & (np.abs(g[:, 1]) < 0.3)
        gaze[:, e] = g
        ok[:, e] = good
        if frames is not None:
            for f in np.flatnonzero(~good & np.isfinite(L[:, 0, 0])):
                p = pupil_centre(frames[f], L[f, list(EYE_CONTOURS[e]), :2])
                if p is not None and opening[f] > MIN_OPENING * 0.5:
                    gaze[f, e] = to_eye_coords(p, L[f], eye)
                    ok[f, e] = True
    if single:
        return gaze[0], ok[0]
    return gaze, ok


def pupil_centre(image: np.ndarray, polygon: np.ndarray) -> np.ndarray | None:
    """Inverse-intensity weighted centroid of the pixels inside an eye polygon (thesis Eq. 7.3).

    image (H, W, 3) RGB uint8 or (H, W) grey; polygon (K, 2) pixels. None if empty.
    """
    x0, y0 = np.floor(polygon.min(0)).astype(int)
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + 1
    H, W = image.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    roi = image[y0:y1, x0:x1]
    grey = cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY) if roi.ndim == 3 else roi
    mask = np.zeros(grey.shape, np.uint8)
    cv2.fillPoly(mask, [np.round((polygon - [x0, y0]) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    # squared inverse intensity: the dark iris dominates the bright sclera and skin
    w = ((255.0 - grey.astype(np.float64)) ** 2) * mask
    total = w.sum()
    if total <= 0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return np.array([(w * xs).sum() / total, (w * ys).sum() / total])


def iris_radius(points: np.ndarray, eye: dict) -> float:
    """Iris radius in pixels from the 4 iris ring points (478, >=2)."""
    c = points[eye["iris"], :2]
    r = np.linalg.norm(points[list(eye["ring"]), :2] - c, axis=-1)
    return float(np.median(r))
