"""Per-pixel encodings derived from the renderer's buffers.

PNCC (DeepFaceFlow Eq. 6.2): the normalised [0, 1] x, y, z of the visible posed
surface point. With screen-space input the posed x, y of the surface point seen at
pixel (row r, col c) is the pixel centre (c, r) itself, so PNCC follows exactly from
the depth buffer; no extra render pass is needed.
"""
from __future__ import annotations

import numpy as np


def pncc_from_depth(depth: np.ndarray, mask: np.ndarray,
                    depth_range: tuple[float, float]) -> np.ndarray:
    """PNCC image.

    depth : (H, W) float32 screen-space depth buffer (RenderOutput.depth)
    mask : (H, W) bool foreground
    depth_range : (near, far) mapped to z = 0 and 1 (the seeds use a dataset-wide
        maximum depth D; pass one range for a whole clip so colours are comparable).
    Returns (H, W, 3) float32: x / W, y / H, (depth - near) / (far - near); 0 on background.
    """
    h, w = depth.shape
    out = np.zeros((h, w, 3), np.float32)
    out[..., 0] = (np.arange(w, dtype=np.float32) / w)[None, :]
    out[..., 1] = (np.arange(h, dtype=np.float32) / h)[:, None]
    near, far = depth_range
    out[..., 2] = (depth - near) / (far - near)
    out[~mask] = 0.0
    return out


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """[0, 1] float image -> uint8 (clipped, rounded)."""
    return (np.clip(image01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def id_false_colour(triangle_id: np.ndarray, seed: int = 7) -> np.ndarray:
    """Triangle-id buffer (H, W) int -> RGB uint8, a random colour per id, black background."""
    ids = np.asarray(triangle_id)
    n = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 1
    palette = np.random.default_rng(seed).integers(40, 256, size=(n, 3), dtype=np.uint8)
    out = np.zeros(ids.shape + (3,), np.uint8)
    fg = ids >= 0
    out[fg] = palette[ids[fg]]
    return out
