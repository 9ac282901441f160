"""Temporal filtering of tracked landmarks: the One Euro filter.

One Euro (Casiez et al., CHI 2012) is a first-order low-pass whose cutoff rises
with the speed of the signal: a still face gets a low cutoff (jitter removed), a
moving face a high one (little lag). Each coordinate has its own cutoff, driven by
its own filtered speed.

Speeds are measured in face widths per second (coordinates are divided by the
face's width in pixels), so the parameters do not depend on the image size or how
close the face is.

Live use runs the filter forward (causal). Offline, ``smooth_track`` runs it
forward and backward and averages the two: the forward pass lags motion by the
same amount the backward pass leads it, so the average has almost no lag while
both passes remove jitter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Defaults measured on the shared talking-head clips (bench/bench_tracking.py --filter).
MIN_CUTOFF_HZ = 0.5
BETA = 4.0
D_CUTOFF_HZ = 1.0


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroParams:
    """min_cutoff (Hz) for still signals, beta (cutoff increase per face width/s of speed),
    d_cutoff (Hz) of the speed estimate."""

    min_cutoff: float = MIN_CUTOFF_HZ
    beta: float = BETA
    d_cutoff: float = D_CUTOFF_HZ


class OneEuroFilter:
    """Causal One Euro filter over arrays of any fixed shape (e.g. (478, 3) landmarks).

    ``scale`` is the length (pixels) that counts as 1 unit of speed: the face width.
    """

    def __init__(self, params: OneEuroParams | None = None, scale: float = 1.0):
        self.p = params or OneEuroParams()
        self.scale = float(scale) if scale > 0 else 1.0
        self.reset()

    def reset(self) -> None:
        """Forget the filter's state (a new track segment starts unfiltered)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter one sample ``x`` taken at time ``t`` seconds; returns the filtered sample."""
        x = np.asarray(x, np.float64) / self.scale
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x * self.scale
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.p.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.p.min_cutoff + self.p.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x * self.scale


def one_euro(samples: np.ndarray, fps: float, scale: float,
             params: OneEuroParams | None = None) -> np.ndarray:
    """Causal One Euro over a sequence ``samples`` (n, ...) sampled at ``fps``."""
    f = OneEuroFilter(params, scale)
    out = np.empty(samples.shape, np.float64)
    for i in range(samples.shape[0]):
        out[i] = f(samples[i], i / fps)
    return out


def smooth_track(samples: np.ndarray, fps: float, scale: float,
                 params: OneEuroParams | None = None) -> np.ndarray:
    """Offline, lag-free smoothing of one contiguous segment ``samples`` (n, ...):
    the mean of a forward and a backward One Euro pass. Returns float32, same shape."""
    if samples.shape[0] < 3:
        return samples.astype(np.float32)
    fwd = one_euro(samples, fps, scale, params)
    bwd = one_euro(samples[::-1], fps, scale, params)[::-1]
    return (0.5 * (fwd + bwd)).astype(np.float32)


def face_width(landmarks: np.ndarray) -> float:
    """Median width in pixels of the face boxes of ``landmarks`` (n, 478, 3) (NaN-free frames)."""
    w = np.nanmax(landmarks[..., 0], axis=-1) - np.nanmin(landmarks[..., 0], axis=-1)
    w = w[np.isfinite(w)]
    return float(np.median(w)) if w.size else 1.0


#: The live path's causal filter (``FaceTracker``: webcam reenactment). Forward-only
#: filtering pays every bit of smoothing in lag, so the live filter smooths less than the
#: offline two-pass one. Chosen with bench/bench_live_filter.py as the setting closest to
#: the offline (lag-free) track on d6/d9/d12/d14: 1.60 % of the face width vs 2.03 % with
#: the offline defaults, lag on a slow head turn 15 vs 32 ms, jitter 3.4 vs 2.4 px (raw 6.0).
LIVE_PARAMS = OneEuroParams(min_cutoff=2.5, beta=10.0)
