"""Flow versus image evidence: backward warping and photometric error.

A flow t -> t+k (pixels, x right, y down, pixel centres at integers) predicts frame
t by sampling frame t+k at x + flow: I_t(x) ~ I_{t+k}(x + F(x)). The photometric
error of that prediction inside a mask compares flows from different sources: the
mesh flow of a reconstruction, an image optical flow (OpenCV DIS) and zero flow.
Images are RGB uint8 (H, W, 3) or grey (H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def warp_backward(image_tk: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image_tk`` at x + flow(x) (bilinear). flow (H, W, >=2) of the output grid.

    Returns (warped image with image_tk's dtype, (H, W) bool: the sample fell inside the image).
    """
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = gx + flow[..., 0].astype(np.float32)
    my = gy + flow[..., 1].astype(np.float32)
    warped = cv2.remap(image_tk, mx, my, interpolation=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    hs, ws = image_tk.shape[:2]
    inside = (mx >= 0) & (mx <= ws - 1) & (my >= 0) & (my <= hs - 1)
    return warped, inside


@dataclass
class PhotometricError:
    """Errors in grey levels (0-255) over the evaluated pixels."""

    mae: float
    rmse: float
    psnr: float
    pixels: int


def photometric_error(reference: np.ndarray, prediction: np.ndarray,
                      mask: np.ndarray | None = None) -> PhotometricError:
    """Compare two images (same shape) inside ``mask`` (H, W) bool (all pixels if None)."""
    a = np.asarray(reference, np.float64)
    b = np.asarray(prediction, np.float64)
    m = np.ones(a.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    d = (a - b)[m]
    if d.size == 0:
        raise ValueError("photometric_error: empty mask")
    mse = float(np.mean(d ** 2))
    psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
    return PhotometricError(float(np.mean(np.abs(d))), float(np.sqrt(mse)), psnr, int(m.sum()))


def dis_flow(image_t: np.ndarray, image_tk: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> np.ndarray:
    """OpenCV DIS optical flow t -> t+k on the grey images. Returns (H, W, 2) float32 pixels."""
    def grey(im):
        return im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)

    dis = cv2.DISOpticalFlow_create(preset)
    return dis.calc(grey(image_t), grey(image_tk), None)


def endpoint_error(flow_a: np.ndarray, flow_b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Average end-point error of the x, y parts (pixels) inside ``mask``."""
    e = np.linalg.norm(flow_a[..., :2] - flow_b[..., :2], axis=-1)
    return float(e.mean() if mask is None else e[mask].mean())


def compare_flows(image_t: np.ndarray, image_tk: np.ndarray, flows: dict[str, np.ndarray],
                  mask: np.ndarray) -> dict[str, PhotometricError]:
    """Photometric error of warping frame t+k back to t with each named flow, inside
    ``mask`` and where every flow samples inside the image (the same pixels for all).

    flows : name -> (H, W, >=2); add ``np.zeros`` as the "zero" baseline and
    :func:`dis_flow` as the image-flow baseline.
    """
    warped = {}
    common = np.asarray(mask, bool).copy()
    for name, f in flows.items():
        warped[name], inside = warp_backward(image_tk, f)
        common &= inside
    return {name: photometric_error(image_t, w, common) for name, w in warped.items()}
