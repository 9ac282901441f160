"""The live (causal) landmark filter: lag against jitter, for choosing the live path's
One Euro parameters. Prints one JSON object.

    .venv/bin/python bench/bench_live_filter.py

Offline tracking smooths forward and backward (no lag); live use can only filter
forward, so every bit of smoothing is paid in lag, which a presenter sees as the
driven face trailing their own. For a grid of (min_cutoff, beta) this measures, on the
tracker's raw detections:

- **lag** on a known motion: a still portrait (d19.jpg, 360 px) slid horizontally
  on a sine at 30 fps, slow (0.25 Hz, amplitude 0.5 face widths: peak 0.8 face widths/s,
  a presenter turning the head) and fast (1 Hz, 1 face width: 6.3 face widths/s);
  the delay (ms) of the filtered face centre behind the true one, and the largest
  error in % of the face width;
- **jitter** on real talking heads (d6, d9, d12 and the stillest shared clip): median
  RMS landmark second difference in px, raw vs filtered;
- **error against the offline smoothing** on the same clips (mean landmark distance to
  the two-pass, lag-free filtered track, % of the face width): lag and noise together.

Raw tracks are cached in out/cache/ (``livefilter_*.npz``).
"""
from __future__ import annotations

import json
import os

os.environ.setdefault("MPLBACKEND", "Agg")
from _common import CACHE, DATA

import cv2
import numpy as np

from bench_tracking import _lag_frames, _rms_second_diff
from core.tracking import track_frames, track_image, track_video
from core.tracking.filtering import LIVE_PARAMS, OneEuroParams, face_width, one_euro, smooth_track

CLIPS = ("d6", "d9", "d12", "d14")
FPS = 30.0
GRID = [(mc, b) for mc in (0.5, 1.0, 1.5, 2.5) for b in (4.0, 10.0, 20.0, 40.0)]


def _cached(name: str, make) -> np.ndarray:
    """(F, 478, 3) raw landmarks of the first track segment, cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"livefilter_{name}.npz"
    if path.exists():
        return np.load(path)["raw"]
    raw = make()
    np.savez(path, raw=raw)
    return raw


def clip_raw(clip: str) -> np.ndarray:
    def make():
        r = track_video(str(DATA / "videos" / f"{clip}.mp4"), max_frames=600)
        return r.landmarks_raw[r.segment == 0]
    return _cached(clip, make)


def _slide(freq_hz: float, amp_fw: float, n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Raw landmarks (n, 478, 3) of d19.jpg slid on a sine, and the true x shift (n,) px."""
    img = cv2.cvtColor(cv2.imread(str(DATA / "portraits" / "stills" / "d19.jpg")), cv2.COLOR_BGR2RGB)
    h, w0 = img.shape[:2]
    k = 360.0 / max(h, w0)
    img = cv2.resize(img, (int(w0 * k), int(h * k)), interpolation=cv2.INTER_AREA)
    fw = face_width(track_image(img).landmarks)
    shift = amp_fw * fw * np.sin(2 * np.pi * freq_hz * np.arange(n) / FPS)
    canvas_w = img.shape[1] * 3
    x0 = (canvas_w - img.shape[1]) / 2.0

    def make():
        def frames():
            for i in range(n):
                m = np.float32([[1, 0, x0 + shift[i]], [0, 1, 0]])
                yield cv2.warpAffine(img, m, (canvas_w, img.shape[0]), flags=cv2.INTER_LINEAR)
        return track_frames(frames(), FPS, smooth=False).landmarks_raw

    raw = _cached(f"slide_{freq_hz:g}hz_{amp_fw:g}fw", make)
    return raw, shift


def _motion_figures(raw: np.ndarray, shift: np.ndarray, p: OneEuroParams) -> dict:
    fw = face_width(raw)
    x = one_euro(raw, FPS, fw, p)[..., 0].mean(axis=1)
    truth = shift + (raw[..., 0].mean(axis=1) - shift).mean()
    skip = 15  # the filter's start-up
    return dict(lag_ms=round(1000.0 * _lag_frames(truth[skip:], x[skip:]) / FPS, 1),
                max_err_pct_fw=round(float(np.max(np.abs(x - truth)[skip:]) / fw * 100), 2))


def _clip_figures(raw: np.ndarray, p: OneEuroParams | None) -> dict:
    fw = face_width(raw)
    ref = smooth_track(raw, FPS, fw)
    live = raw if p is None else one_euro(raw, FPS, fw, p)
    err = np.linalg.norm((live - ref)[..., :2], axis=-1).mean() / fw * 100
    return dict(jitter_px=round(_rms_second_diff(live, fw), 3), err_vs_offline_pct_fw=round(float(err), 3))


def main() -> None:
    slow = _slide(0.25, 0.5)
    fast = _slide(1.0, 1.0)
    clips = {c: clip_raw(c) for c in CLIPS}
    rows = []
    settings = [("raw", None)] + [(f"mc{mc:g}_b{b:g}", OneEuroParams(mc, b)) for mc, b in GRID]
    for name, p in settings:
        row = dict(name=name)
        if p is not None:
            row.update(min_cutoff_hz=p.min_cutoff, beta=p.beta,
                       slow=_motion_figures(*slow, p), fast=_motion_figures(*fast, p))
        per = {c: _clip_figures(raw, p) for c, raw in clips.items()}
        row["clips"] = per
        row["mean_jitter_px"] = round(float(np.mean([v["jitter_px"] for v in per.values()])), 3)
        row["mean_err_vs_offline_pct_fw"] = round(float(np.mean([v["err_vs_offline_pct_fw"] for v in per.values()])), 3)
        rows.append(row)
    live = next((r for r in rows if r.get("min_cutoff_hz") == LIVE_PARAMS.min_cutoff
                 and r.get("beta") == LIVE_PARAMS.beta), None)
    print(json.dumps(dict(
        setup=dict(fps=FPS, clips=list(CLIPS), slow="0.25 Hz sine, 0.5 face widths", fast="1 Hz, 1 face width",
                   d_cutoff_hz=OneEuroParams().d_cutoff),
        live_params=dict(min_cutoff_hz=LIVE_PARAMS.min_cutoff, beta=LIVE_PARAMS.beta), live_row=live,
        rows=rows), indent=1))


if __name__ == "__main__":
    main()
