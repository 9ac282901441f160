"""Rasterising the warp's meshes and polygons, and sampling images (the warp's low level).

Triangle ids come from a small painter's-algorithm rasteriser (OpenCV ``fillConvexPoly`` per
triangle, far to near, back faces culled); inside a triangle the dense map is the triangle's
affine map (``triangle_affines``). Pixels, origin top-left, x right, y down; pixel centres at
integer coordinates; screen vertices (N, 3) = x_px, y_px, depth (larger = farther).
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

from core.numeric import clipped_box


SUBPIXEL_SHIFT = 4  # fillPoly fixed-point bits


def rasterize_triangle_ids(screen: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
                           cull_back: bool = True) -> np.ndarray:
    """Triangle-id buffer by painter's algorithm.

    screen : (N, 3) x_px, y_px, depth (larger = farther); triangles (T, 3) counter-clockwise
    seen from outside; size (H, W). Returns (H, W) int32, -1 where no triangle.
    Back faces (clockwise on screen in the y-down image, i.e. facing away) are skipped.
    """
    H, W = size
    ids = np.full((H, W), -1, np.int32)
    xy = screen[:, :2]
    a, b, c = xy[triangles[:, 0]], xy[triangles[:, 1]], xy[triangles[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = np.abs(cross) > 1e-6
    if cull_back:
        # model CCW from outside; the y-down image flips handedness, so visible
        # triangles have negative cross product on screen
        front = cross < 0
        if front.sum() < (keep.sum() / 2):  # mirrored camera: accept the majority orientation
            front = cross > 0
        keep &= front
    order = np.flatnonzero(keep)
    depth = screen[triangles[order], 2].mean(1)
    order = order[np.argsort(-depth, kind="stable")]  # far first, near overwrite
    pts = np.round(xy[triangles[order]] * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    # pixel centres are at integer coordinates: fillPoly samples them directly (plain Python
    # ints and a bound function: the call overhead is most of the cost of a small triangle)
    fill, line = cv2.fillConvexPoly, cv2.LINE_8
    for t, p in zip(order.tolist(), list(pts)):
        fill(ids, p, (t,), line, SUBPIXEL_SHIFT)
    return ids


def triangle_affines(dst_xy: np.ndarray, src_xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-triangle affine maps from output (driven) pixels to target pixels.

    dst_xy, src_xy (N, 2); returns (T, 2, 3) with ``src = A[:, :, :2] @ dst + A[:, :, 2]``
    (degenerate triangles get the translation of their centroid).
    """
    d = np.asarray(dst_xy, np.float64)[triangles]  # (T, 3, 2)
    s = np.asarray(src_xy, np.float64)[triangles]
    # the 2x2 part maps the driven edge vectors onto the target's: S E^-1 in closed form
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-9
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    A = np.empty((len(d), 2, 3))
    # E = [e1 e2] (columns), E^-1 = [[e2y, -e2x], [-e1y, e1x]] / det
    for r in range(2):
        A[:, r, 0] = (f1[:, r] * e2[:, 1] - f2[:, r] * e1[:, 1]) * inv
        A[:, r, 1] = (f2[:, r] * e1[:, 0] - f1[:, r] * e2[:, 0]) * inv
    A[~ok, :, :2] = np.eye(2)
    A[:, :, 2] = s[:, 0] - np.einsum("tij,tj->ti", A[:, :, :2], d[:, 0])
    A[~ok, :, 2] = s[~ok].mean(1) - d[~ok].mean(1)
    return A


#: (gx, gy): the pixel grids of the largest size asked for so far (see ``pixel_grid``)
_GRID: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
_GRID_LOCK = threading.Lock()


def pixel_grid(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (H, W) float32, gx[i, j] = j and gy[i, j] = i (read-only views).

    One pair of grids is kept, grown to the largest size asked for: every smaller grid is its
    top-left corner. (A grid per size, as before, grew without bound in the live pipeline, whose
    warp box changes size from frame to frame: ~0.4 MB per new size, +560 MB in 10 minutes.)
    """
    global _GRID
    gx, gy = _GRID
    if gx.shape[0] < H or gx.shape[1] < W:
        with _GRID_LOCK:
            gx, gy = _GRID
            if gx.shape[0] < H or gx.shape[1] < W:
                h, w = max(H, gx.shape[0]), max(W, gx.shape[1])
                gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
                gx.flags.writeable = gy.flags.writeable = False
                _GRID = (gx, gy)
    return gx[:H, :W], gy[:H, :W]


def remap(image: np.ndarray, mp: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``mp`` (H, W, 2) with bilinear interpolation, edges replicated."""
    return cv2.remap(image, mp[..., 0], mp[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def feathered_polygon_mask(polygon: np.ndarray, size: tuple[int, int], feather: float = 1.5,
                           erode: float = 0.0) -> np.ndarray:
    """Soft mask (H, W) float32 in [0, 1] of a polygon (K, 2), blurred by ``feather`` px."""
    H, W = size
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, [np.round(polygon * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    m = m.astype(np.float32) / 255.0
    if erode > 0:
        r = int(np.ceil(erode))
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return m


def polygon_box(polygon: np.ndarray, size: tuple[int, int], margin: int) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) around ``polygon`` (K, 2) px grown by ``margin``, clipped to
    ``size`` (H, W); None when less than 3 px remain in either direction."""
    x0, y0 = np.floor(polygon.min(0)).astype(int) - margin
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + margin + 1
    return clipped_box(x0, y0, x1, y1, size, min_side=3)
