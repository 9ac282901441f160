"""Composing QA frames: labelled panels side by side, legends pasted in corners,
a rendering alpha-blended over a video frame. Pure functions on RGB uint8 images
(H, W, 3); every function returns a new array."""
from __future__ import annotations

import cv2
import numpy as np


def label(image: np.ndarray, text: str, org: tuple[int, int] = (6, 18), scale: float = 0.5) -> np.ndarray:
    """Text at ``org`` (x, y of the baseline, pixels) in white with a dark outline, so it
    reads on any background."""
    out = np.ascontiguousarray(image, np.uint8).copy()
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def paste(image: np.ndarray, inset: np.ndarray, corner: str = "bottom-right", margin: int = 4,
          max_fraction: float = 0.3) -> np.ndarray:
    """Paste ``inset`` into a corner of ``image`` ("top-left", "top-right", "bottom-left",
    "bottom-right"), shrunk (aspect kept) so that neither side exceeds ``max_fraction`` of
    the image's."""
    out = np.ascontiguousarray(image, np.uint8).copy()
    h, w = out.shape[:2]
    ih, iw = inset.shape[:2]
    f = min(1.0, max_fraction * h / ih, max_fraction * w / iw)
    if f < 1.0:
        inset = cv2.resize(inset, (max(1, int(iw * f)), max(1, int(ih * f))), interpolation=cv2.INTER_AREA)
        ih, iw = inset.shape[:2]
    y = margin if corner.startswith("top") else h - ih - margin
    x = margin if corner.endswith("left") else w - iw - margin
    out[y:y + ih, x:x + iw] = inset
    return out


def side_by_side(panels: list[np.ndarray], titles: list[str] | None = None) -> np.ndarray:
    """Panels of one height (H, Wi, 3) joined left to right, each titled in its top-left
    corner. Returns (H, sum Wi, 3)."""
    h = panels[0].shape[0]
    if any(p.shape[0] != h for p in panels):
        raise ValueError(f"side_by_side: panels must share a height, got {[p.shape for p in panels]}")
    if titles is not None:
        panels = [label(p, t) for p, t in zip(panels, titles)]
    return np.concatenate([np.ascontiguousarray(p, np.uint8) for p in panels], axis=1)


def blend_over(frame: np.ndarray, rendered: np.ndarray, mask: np.ndarray, alpha: float) -> np.ndarray:
    """``rendered`` over ``frame`` where ``mask`` (H, W) is set, with opacity ``alpha`` in [0, 1]."""
    out = np.ascontiguousarray(frame, np.uint8).copy()
    m = np.asarray(mask, bool)
    mixed = alpha * rendered[m].astype(np.float32) + (1.0 - alpha) * out[m].astype(np.float32)
    out[m] = (mixed + 0.5).astype(np.uint8)
    return out


def wireframe_alpha(num_triangles: int, base: float = 0.35, dense: int = 2000) -> float:
    """Line opacity for a mesh wireframe over a frame: ``base`` up to ``dense`` triangles,
    fading as 1/triangles beyond, so a dense mesh (ICT: ~13k triangles in the face) shows
    its surface as a light veil instead of hiding the frame."""
    return float(base * min(1.0, dense / max(int(num_triangles), 1)))
