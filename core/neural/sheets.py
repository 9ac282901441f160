"""Image sheets of the rendering network: the validation sheet written at each checkpoint.

A sheet is RGB uint8; one row per held-out frame: conditioning (the NMFC image with the eyes
image over it) | base (the picture the output is blended into: the warp's output for the hybrid
network, a reference frame for the pure one) | output | real | error (per-pixel mean absolute
RGB difference, x4, inferno colours: black = equal).
"""
from __future__ import annotations

import cv2
import numpy as np

from core.neural.data import ClipData

COLUMNS = ("conditioning", "base", "output", "real", "error x4")


def conditioning_picture(cond: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8: the NMFC channels with the eyes image drawn over them, from X (S, S, >=6)."""
    nmfc, eyes = cond[..., :3], cond[..., 3:6]
    drawn = eyes.max(axis=-1, keepdims=True) > 0
    return np.where(drawn, eyes, nmfc)


def error_picture(out: np.ndarray, real: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """(S, S, 3) uint8: the mean absolute RGB difference of two images times ``gain``, inferno."""
    e = np.abs(out.astype(np.float32) - real.astype(np.float32)).mean(-1) * gain
    heat = cv2.applyColorMap(np.clip(e, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)


def labelled(img: np.ndarray, text: str, height: int = 18) -> np.ndarray:
    """``img`` with a black strip above it holding ``text`` in white."""
    bar = np.zeros((height, img.shape[1], 3), np.uint8)
    cv2.putText(bar, text, (3, height - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], 0)


def validation_sheet(data: ClipData, frames: np.ndarray, outputs: np.ndarray, title: str = "",
                     min_side: int = 160) -> np.ndarray:
    """The sheet for ``frames`` (K,) of ``data`` and the network's ``outputs`` (K, S, S, 3) uint8
    (every tile upscaled to at least ``min_side`` pixels, nearest neighbour: pixels stay visible)."""
    S = data.size
    k = max(1, int(np.ceil(min_side / S)))
    rows = []
    for f, out in zip(frames, outputs):
        real = np.asarray(data.real[f])
        tiles = [conditioning_picture(np.asarray(data.cond[f])), np.asarray(data.base[f]), out, real,
                 error_picture(out, real)]
        row = np.concatenate([np.kron(t, np.ones((k, k, 1), np.uint8)) for t in tiles], 1)
        rows.append(labelled(row, f"frame {int(f)}"))
    sheet = np.concatenate(rows, 0)
    text = "   ".join(COLUMNS) + ("   |   " + title if title else "")
    head = labelled(np.zeros((0, sheet.shape[1], 3), np.uint8), text)
    return np.concatenate([head, sheet], 0)
