"""QA overlays drawn with OpenCV: mesh wireframe, landmarks, reprojection error.

Images are RGB uint8 (H, W, 3) in and out (a new array; the input is not modified).
Points are pixels, origin top-left, x right, y down, pixel centres at integers.
Drawing uses 4 bits of sub-pixel precision (cv2 ``shift``), so sub-pixel positions
are not rounded away.
"""
from __future__ import annotations

import cv2
import numpy as np

from core.render.geometry import front_facing

_SHIFT = 4
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64)[..., :2] * _ONE).astype(np.int32)


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangle list (T, 3)."""
    t = np.asarray(triangles)
    e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def draw_wireframe(image: np.ndarray, screen_vertices: np.ndarray, triangles: np.ndarray,
                   colour=(0, 255, 0), thickness: int = 1, cull_back: bool = True,
                   alpha: float = 1.0) -> np.ndarray:
    """Mesh edges over an image.

    screen_vertices : (N, 2) pixels, or (N, 3) with depth (needed for ``cull_back``,
    which hides triangles facing away, i.e. whose normal points along +depth).
    alpha < 1 blends the lines with the image.
    """
    tri = np.asarray(triangles)
    v = np.asarray(screen_vertices)
    if cull_back and v.shape[1] == 3:
        tri = tri[front_facing(v, tri)]
    lines = _fixed(v)[mesh_edges(tri)]  # (E, 2, 2)
    out = np.ascontiguousarray(image, np.uint8).copy()
    layer = out.copy() if alpha < 1 else out
    cv2.polylines(layer, list(lines), False, tuple(int(c) for c in colour), thickness,
                  cv2.LINE_AA, _SHIFT)
    if alpha < 1:
        out = cv2.addWeighted(layer, alpha, out, 1 - alpha, 0)
    return out


def draw_landmarks(image: np.ndarray, points: np.ndarray, colour=(255, 0, 0), radius: float = 2.0,
                   filled: bool = True) -> np.ndarray:
    """Dots at (L, 2) pixel positions."""
    out = np.ascontiguousarray(image, np.uint8).copy()
    r = int(round(radius * _ONE))
    for p in _fixed(points):
        cv2.circle(out, (int(p[0]), int(p[1])), r, tuple(int(c) for c in colour),
                   -1 if filled else 1, cv2.LINE_AA, _SHIFT)
    return out


def heat_colours(values: np.ndarray, vmax: float) -> np.ndarray:
    """Scalar values -> RGB uint8 (L, 3) on a blue (0) -> red (vmax) scale (OpenCV 'jet')."""
    t = np.clip(np.asarray(values, np.float64) / max(vmax, 1e-12), 0, 1)
    bgr = cv2.applyColorMap((t * 255 + 0.5).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_JET)
    return bgr.reshape(-1, 3)[:, ::-1].copy()


def draw_reprojection_error(image: np.ndarray, observed: np.ndarray, projected: np.ndarray,
                            vmax: float | None = None, radius: float = 3.0) -> tuple[np.ndarray, float]:
    """Per-landmark reprojection error as heat colour.

    observed : (L, 2) tracked landmarks; projected : (L, 2) the model's landmarks
    projected into the frame. Each projected point is drawn in the colour of its error
    (|projected - observed| in pixels; blue = 0, red >= vmax) with a line to the observed
    point. vmax defaults to the largest error. Returns (image, vmax used).
    """
    obs = np.asarray(observed, np.float64)
    prj = np.asarray(projected, np.float64)
    err = np.linalg.norm(prj - obs, axis=1)
    vmax = float(err.max()) if vmax is None else float(vmax)
    cols = heat_colours(err, vmax)
    out = np.ascontiguousarray(image, np.uint8).copy()
    po, pp = _fixed(obs), _fixed(prj)
    r = int(round(radius * _ONE))
    for a, b, c in zip(po, pp, cols):
        c = tuple(int(x) for x in c)
        cv2.line(out, tuple(int(x) for x in a), tuple(int(x) for x in b), c, 1, cv2.LINE_AA, _SHIFT)
        cv2.circle(out, tuple(int(x) for x in b), r, c, -1, cv2.LINE_AA, _SHIFT)
    return out, vmax


def heat_legend(vmax: float, height: int = 200, width: int = 60, unit: str = "px") -> np.ndarray:
    """Vertical colour bar for :func:`draw_reprojection_error` (top = vmax). RGB uint8."""
    vals = np.linspace(vmax, 0, height)
    bar = np.repeat(heat_colours(vals, vmax)[:, None, :], width // 3, axis=1)
    out = np.full((height, width, 3), 255, np.uint8)
    out[:, :width // 3] = bar
    for text, y in ((f"{vmax:.1f}{unit}", 12), (f"0{unit}", height - 4)):
        cv2.putText(out, text, (width // 3 + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return out
