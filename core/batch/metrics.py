"""The figures of one clip in a batch: how well it was tracked and fitted, and what it cost.

Fit figures (from a TrackResult and a Reconstruction of F frames):

- ``tracked_pct``: frames with a usable face (detected or bridged), percent;
- ``fit_median_px`` / ``fit_p95_px``: median and 95th percentile over the fitted frames of the
  per-frame fit error (``Reconstruction.fit_error_px``: the mean reprojection error of the
  fitted points, pixels);
- ``jitter_px``: the temporal figure, the median over frames t of the mean over the model's 68
  landmarks of |l(t+1) - 2 l(t) + l(t-1)| (pixels per frame squared), counted where the three
  frames are fitted and none repeats its predecessor's picture. Steady footage of a still face
  gives ~0; a trembling fit gives more, a real fast motion too (so compare clips of one kind);
- ``worst_frame``: the fitted frame with the largest fit error (the GUI opens a clip there);
- ``fit_error_hist``: counts of the fitted frames' errors in the bins ``HIST_EDGES_PX`` plus one
  last bin for everything above (the report sums them over the clips).

Cost figures (:class:`Usage`): wall and CPU seconds of the worker process (with its ffmpeg
children), and its peak
resident memory during the clip (Linux resets the peak through ``/proc/self/clear_refs``;
where that is refused, the process's peak since it started). With one task thread per
worker (the default), the process's CPU time is the clip's own.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np

#: fit-error histogram bin edges (pixels); one more bin counts everything above the last edge
HIST_EDGES_PX = tuple(float(x) for x in np.round(np.arange(0.0, 10.01, 0.25), 2))


def fit_metrics(track, rec) -> dict:
    """Fit figures of a reconstruction ``rec`` of the clip tracked as ``track`` (module docstring).
    NaN (written as null) where a figure has no frame to come from."""
    err = np.asarray(rec.fit_error_px, np.float64)
    fitted = np.asarray(rec.valid, bool) & np.isfinite(err)
    e = err[fitted]
    hist = np.histogram(e, bins=[*HIST_EDGES_PX, np.inf])[0]
    worst = int(np.flatnonzero(fitted)[np.argmax(e)]) if e.size else 0
    return dict(
        frames=int(rec.num_frames),
        tracked_pct=100.0 * float(track.tracked_fraction),
        fitted_frames=int(fitted.sum()),
        fit_median_px=float(np.median(e)) if e.size else float("nan"),
        fit_p95_px=float(np.percentile(e, 95)) if e.size else float("nan"),
        jitter_px=landmark_jitter(np.asarray(rec.landmarks68, np.float64), fitted, rec.repeated),
        worst_frame=worst,
        fit_error_hist=[int(c) for c in hist],
    )


def track_metrics(track) -> dict:
    """The figures a clip that was only tracked has (no fit)."""
    return dict(frames=int(track.num_frames), tracked_pct=100.0 * float(track.tracked_fraction))


def landmark_jitter(landmarks: np.ndarray, fitted: np.ndarray, repeated: np.ndarray | None = None) -> float:
    """Median second difference of ``landmarks`` (F, L, 2) pixels over the frames t where
    t-1, t, t+1 are ``fitted`` (F,) and none of t, t+1 ``repeated`` (F,) (a repeated picture is
    a copied fit: its zero motion is no measurement); mean over the L points. NaN when no
    such frame exists."""
    F = landmarks.shape[0]
    if F < 3:
        return float("nan")
    ok = fitted[:-2] & fitted[1:-1] & fitted[2:]
    if repeated is not None:
        rep = np.asarray(repeated, bool)
        ok &= ~rep[1:-1] & ~rep[2:]
    if not ok.any():
        return float("nan")
    d2 = landmarks[2:] - 2.0 * landmarks[1:-1] + landmarks[:-2]          # (F-2, L, 2)
    per_frame = np.linalg.norm(d2, axis=2).mean(axis=1)                   # (F-2,)
    return float(np.median(per_frame[ok]))


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (ffmpeg encoding the QA videos)."""
    ru, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime + ch.ru_utime + ch.ru_stime


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident set (VmHWM) to its current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Usage:
    """Wall time, CPU time and peak memory of this process over a span (see the module docstring).

    ``start()`` begins a span; ``lap(name)`` records the wall and CPU seconds since the previous
    lap under ``name``; ``finish()`` returns the totals with the laps."""

    wall0: float = 0.0
    cpu0: float = 0.0
    peak_is_clip: bool = False
    last_wall: float = 0.0
    last_cpu: float = 0.0
    steps: dict = field(default_factory=dict)

    @classmethod
    def start(cls) -> "Usage":
        """Begin a span now (and reset the process's peak memory to its current size)."""
        reset = _reset_peak_rss()
        w, c = time.perf_counter(), _cpu_seconds()
        return cls(w, c, reset, w, c)

    def lap(self, name: str) -> None:
        """Charge the wall and CPU seconds since the previous lap (or the start) to step ``name``."""
        w, c = time.perf_counter(), _cpu_seconds()
        self.steps[name] = dict(wall_s=round(w - self.last_wall, 3), cpu_s=round(c - self.last_cpu, 3))
        self.last_wall, self.last_cpu = w, c

    def finish(self) -> dict:
        """``wall_s``, ``cpu_s`` (totals), ``peak_rss_mb`` and whether that peak is this span's own
        (``peak_rss_is_clip``; else the process's since it started), and the ``steps``."""
        hwm = _status_kb("VmHWM")
        peak_kb = hwm if hwm is not None else float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return dict(wall_s=round(time.perf_counter() - self.wall0, 3), cpu_s=round(_cpu_seconds() - self.cpu0, 3),
                    peak_rss_mb=round(peak_kb / 1024.0, 1), peak_rss_is_clip=bool(self.peak_is_clip and hwm),
                    steps=dict(self.steps))
