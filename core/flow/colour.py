"""Flow colour codings and their legends (RGB uint8 images).

* 3D flow (DeepFaceFlow section 6.3.3, Eq. 6.5): spherical coordinates
  r = |F|, theta = atan2(y, x) (azimuth in the image plane, image y down),
  phi = atan2(z, sqrt(x^2 + y^2)) (elevation towards +depth, i.e. away from the viewer);
  HSV with hue = (theta + pi) / (2 pi), saturation = (phi + pi/2) / pi,
  value = r / r_max. Black = still.
* 2D flow: the Middlebury colour wheel of Baker et al. (hue = direction, saturation =
  magnitude / max), with image y down as in the thesis' figures.

Normalisation (r_max), one rule everywhere: the ``FLOW_PERCENTILE``-th percentile of the flow
magnitudes (a few extreme values, silhouette slivers or a bad frame, do not darken the rest;
faster motion saturates), taken over the whole clip by default (``"clip"``: the same colour
means the same speed on every frame, which is what a QA user compares across frames), or over
the frame shown (``"frame"``: for looking at one frame's pattern; every frame is then as bright
as the next). ``NORMALISATIONS`` names the two; ``magnitude_scale`` is the percentile.
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np


#: the percentile of the flow magnitudes that maps to full colour (see the module docstring)
FLOW_PERCENTILE = 99.0
#: over what the normalisation is taken: the whole clip (the default) or the frame shown
NORMALISATIONS = ("clip", "frame")


def magnitude_scale(magnitudes: np.ndarray, percentile: float = FLOW_PERCENTILE) -> float:
    """The colour normalisation r_max of flow magnitudes (any shape, >= 0): their
    ``percentile``; 0.0 for none."""
    m = np.asarray(magnitudes, np.float64).ravel()
    return float(np.percentile(m, percentile)) if m.size else 0.0


def clip_max_magnitude(flows: Iterable[np.ndarray], masks: Iterable[np.ndarray] | None = None,
                       percentile: float = FLOW_PERCENTILE, dims: int = 3) -> float:
    """One normalisation for a clip: ``magnitude_scale`` of |flow| over all foreground
    pixels of all frames. flows : iterable of (H, W, >=dims); masks : matching (H, W) bool."""
    mags = []
    masks = iter(masks) if masks is not None else None
    for f in flows:
        m = np.linalg.norm(np.asarray(f)[..., :dims], axis=-1)
        if masks is not None:
            m = m[next(masks)]
        mags.append(m.ravel())
    return magnitude_scale(np.concatenate(mags) if mags else np.zeros(0), percentile)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """h, s, v in [0, 1] (same shape) -> RGB uint8 (..., 3)."""
    hsv = np.stack([h * 360.0, s, v], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(hsv.reshape(-1, 1, 3), cv2.COLOR_HSV2RGB).reshape(hsv.shape)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def flow3d_to_rgb(flow: np.ndarray, max_magnitude: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Eq. 6.5 HSV coding of a 3D flow. flow (..., 3) -> RGB uint8 (..., 3); black off the mask."""
    f = np.asarray(flow, np.float32)
    x, y, z = f[..., 0], f[..., 1], f[..., 2]
    planar = np.hypot(x, y)
    r = np.sqrt(planar ** 2 + z ** 2)
    theta = np.arctan2(y, x)
    phi = np.arctan2(z, planar)
    h = (theta + np.pi) / (2 * np.pi)
    s = (phi + np.pi / 2) / np.pi
    v = np.clip(r / max(max_magnitude, 1e-12), 0.0, 1.0)
    rgb = hsv_to_rgb(h, s, v)
    if mask is not None:
        rgb[~mask] = 0
    return rgb


def _wheel() -> np.ndarray:
    """The Middlebury wheel: (55, 3) float RGB in [0, 1], red -> yellow -> green -> cyan ->
    blue -> magenta -> red with 15, 6, 4, 11, 13, 6 steps (more steps where the eye
    discriminates hues better)."""
    segments = [(15, (1, 0, 0), (1, 1, 0)), (6, (1, 1, 0), (0, 1, 0)), (4, (0, 1, 0), (0, 1, 1)),
                (11, (0, 1, 1), (0, 0, 1)), (13, (0, 0, 1), (1, 0, 1)), (6, (1, 0, 1), (1, 0, 0))]
    rows = []
    for n, a, b in segments:
        t = np.arange(n)[:, None] / n
        rows.append((1 - t) * np.array(a, float) + t * np.array(b, float))
    return np.concatenate(rows)


_WHEEL = _wheel()


def flow2d_to_rgb(flow: np.ndarray, max_magnitude: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Middlebury coding of a 2D flow (..., >=2) (x right, y down, pixels) -> RGB uint8.

    Direction picks the wheel colour (interpolated between its 55 entries), the
    magnitude (/ max_magnitude) its saturation: white = still; beyond the maximum the
    colour is darkened to flag the overflow.
    """
    u = np.asarray(flow[..., 0], np.float64)
    v = np.asarray(flow[..., 1], np.float64)
    rad = np.hypot(u, v) / max(max_magnitude, 1e-12)
    ncols = len(_WHEEL)
    angle = np.arctan2(-v, -u) / np.pi                      # (-1, 1]
    pos = (angle + 1) / 2 * (ncols - 1)
    k0 = np.floor(pos).astype(int)
    k1 = (k0 + 1) % ncols
    frac = (pos - k0)[..., None]
    col = (1 - frac) * _WHEEL[k0] + frac * _WHEEL[k1]
    r = rad[..., None]
    inside = r <= 1
    col = np.where(inside, 1 - r * (1 - col), col * 0.75)
    rgb = (np.clip(col, 0, 1) * 255 + 0.5).astype(np.uint8)
    if mask is not None:
        rgb[~mask] = 0
    return rgb


def _disc_grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = (xx - c) / c, (yy - c) / c
    return x, y, np.hypot(x, y) <= 1.0


def legend_2d(size: int = 256) -> np.ndarray:
    """Colour-wheel legend of :func:`flow2d_to_rgb`: the pixel at offset (x, y) from the
    centre shows the flow (x, y) (y down), the rim is the maximum magnitude."""
    x, y, disc = _disc_grid(size)
    img = flow2d_to_rgb(np.stack([x, y], -1), 1.0)
    img[~disc] = 255
    return img


def legend_3d(size: int = 256) -> np.ndarray:
    """Legend of :func:`flow3d_to_rgb`: RGB uint8 (size, 2 * size + size // 4, 3).

    Left disc: in-plane motions (elevation 0); the offset from the centre is the
    motion (x right, y down), the rim the maximum magnitude.
    Middle disc: motions of maximum magnitude towards the viewer (the near hemisphere
    seen head-on): the offset gives the in-plane part, the centre is straight at the viewer.
    Right bar: elevation from -90 deg (top, towards the viewer) to +90 deg (bottom, away)
    at azimuth 0 and maximum magnitude.
    """
    x, y, disc = _disc_grid(size)
    plane = flow3d_to_rgb(np.stack([x, y, np.zeros_like(x)], -1), 1.0)
    plane[~disc] = 255
    # Unit vectors: in-plane part (x, y) with length rho, depth part +-sqrt(1 - rho^2),
    # towards the viewer (z < 0) shown on this disc.
    rho = np.minimum(np.hypot(x, y), 1.0)
    z = -np.sqrt(1.0 - rho ** 2)
    sphere = flow3d_to_rgb(np.stack([x, y, z], -1), 1.0)
    sphere[~disc] = 255
    bar_w = max(size // 4, 8)
    phi = np.linspace(-np.pi / 2, np.pi / 2, size)
    bar_vec = np.stack([np.cos(phi), np.zeros_like(phi), np.sin(phi)], -1)
    bar = np.repeat(flow3d_to_rgb(bar_vec, 1.0)[:, None, :], bar_w, axis=1)
    out = np.concatenate([plane, sphere, bar], axis=1)
    for text, org in (("in-plane", (4, 14)), ("towards viewer", (size + 4, 14)),
                      ("-90", (2 * size + 2, 14)), ("+90", (2 * size + 2, size - 6))):
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return out
