"""Live reenactment fidelity: does the result shown agree with the source frame shown beside it?

A simulated camera (``simcam:``, default d6.mp4, real time, looping) drives a photo
(default s42.jpg) through the live pipeline (core.reenact.live) for ``--seconds``. Ten times
a second, as the GUI's preview would, the bench keeps what is on screen: the newest source
frame the pipeline grabbed (what the panel's source view showed until issue 19), the newest
result, and the source frame that result was made from (what it shows now). Afterwards every
kept image is tracked again (MediaPipe, image mode) and the result is compared with each
source frame:

- AED: the mean absolute difference of the 52 ARKit blendshape scores (expression agreement);
- mouth opening: the inner-lip gap over the eye-corner distance, its mean absolute difference,
  and the share of moments where one mouth is closed (< 0.04) while the other is open
  (> 0.12): the issue's "closed source, wide-open result".

Figures for the pipeline paced (the default: the tracker works only on frames the renderer
will take) and unpaced (the tracker tracks every camera frame it can), with ``--load N``
busy processes added to the machine's own load for the "under load" figures. Prints JSON.

    flock /work/.bench.lock .venv/bin/python bench/bench_live_fidelity.py [--seconds 30] [--load 0] [--pace both]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np

from _common import DATA

from core.model.registry import load_model
from core.reenact.faces import fit_face
from core.reenact.live import LivePipeline, fit_photo_to_size
from core.reenact.session import TappedSource
from core.reenact.transfer import TransferSettings
from core.tracking.landmarker import Landmarker
from core.tracking.tracker import track_image
from core.video import open_source

#: MediaPipe point ids: inner lips (upper, lower), outer eye corners
UPPER_LIP, LOWER_LIP, EYE_R, EYE_L = 13, 14, 33, 263
CLOSED, OPEN = 0.04, 0.12


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _unjpeg(b: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def run_live(clip, photo, target, model, seconds: float, pace: bool) -> tuple[list, list]:
    """(samples of (shown source, result, result's own source) as JPEG, stats per second)."""
    samples, stats = [], []
    with open_source(f"simcam:{clip}") as cam:
        tap = TappedSource(cam)
        pipe = LivePipeline(model, tap, target, photo, TransferSettings(mode="head"), pace=pace)
        with pipe:
            time.sleep(3.0)  # warm-up: tracker start, the first fits, the reference frame
            t_end = time.monotonic() + seconds
            next_stat = time.monotonic() + 1.0
            while time.monotonic() < t_end and pipe.running:
                time.sleep(0.1)
                out = pipe.latest_output()
                shown = tap.last
                if out.source is not None and shown is not None:
                    samples.append((_jpeg(shown), _jpeg(out.image), _jpeg(out.source)))
                if time.monotonic() >= next_stat:
                    next_stat += 1.0
                    st = pipe.stats()
                    stats.append((st.fps, st.latency_ms, st.track_ms, st.render_ms))
        if pipe.error is not None:
            raise pipe.error
    return samples, stats


def measure(landmarker: Landmarker, img: np.ndarray):
    """(blendshapes (52,), mouth opening) of the largest face, or None."""
    faces = landmarker.detect(img)
    if faces.count == 0:
        return None
    k = int(np.argmax([np.ptp(lm[:, 0]) for lm in faces.landmarks]))
    lm = faces.landmarks[k]
    iod = np.linalg.norm(lm[EYE_R, :2] - lm[EYE_L, :2])
    gap = np.linalg.norm(lm[UPPER_LIP, :2] - lm[LOWER_LIP, :2])
    return np.asarray(faces.blendshapes[k], np.float64), float(gap / iod)


def agreement(landmarker: Landmarker, samples) -> dict:
    """AED and mouth-opening agreement of the result with the source shown and with its own."""
    rows = {"shown": [], "own": []}
    for shown, result, own in samples:
        r = measure(landmarker, _unjpeg(result))
        if r is None:
            continue
        for name, src in (("shown", shown), ("own", own)):
            s = measure(landmarker, _unjpeg(src))
            if s is not None:
                rows[name].append((np.abs(r[0][1:] - s[0][1:]).mean(), abs(r[1] - s[1]),
                                   (r[1] > OPEN and s[1] < CLOSED) or (r[1] < CLOSED and s[1] > OPEN)))
    out = {}
    for name, v in rows.items():
        a = np.array(v, dtype=np.float64).reshape(-1, 3)
        out[name] = dict(samples=len(a), aed=round(float(a[:, 0].mean()), 4) if len(a) else None,
                         mouth_abs_diff=round(float(a[:, 1].mean()), 4) if len(a) else None,
                         mouth_disagree_pct=round(100 * float(a[:, 2].mean()), 1) if len(a) else None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clip", default=str(DATA / "videos" / "d6.mp4"))
    ap.add_argument("--photo", default="s42.jpg")
    ap.add_argument("--load", type=int, default=0, help="busy processes added while measuring")
    ap.add_argument("--pace", default="both", choices=("on", "off", "both"))
    ap.add_argument("--repeats", type=int, default=1, help="runs of each mode, alternating (medians reported)")
    args = ap.parse_args(argv)
    model = load_model("builtin")
    img = cv2.cvtColor(cv2.imread(str(DATA / "portraits" / "stills" / args.photo)), cv2.COLOR_BGR2RGB)
    photo = fit_photo_to_size(img, (512, 512))
    target = fit_face(track_image(photo, source=args.photo), model, name=args.photo)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    runs: dict[str, list] = {}
    try:
        modes = (True, False) if args.pace == "both" else (args.pace == "on",)
        for _ in range(args.repeats):
            for pace in modes:
                load0 = os.getloadavg()[0]
                samples, stats = run_live(args.clip, photo, target, model, args.seconds, pace)
                s = np.array(stats).reshape(-1, 4)
                runs.setdefault("paced" if pace else "unpaced", []).append(dict(
                    fps=round(float(np.median(s[:, 0])), 1), latency_ms=round(float(np.median(s[:, 1])), 0),
                    track_ms=round(float(np.median(s[:, 2])), 1), render_ms=round(float(np.median(s[:, 3])), 1),
                    load_average=round((load0 + os.getloadavg()[0]) / 2, 1), samples=samples))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    results = {}
    with Landmarker(video=False) as lm:
        for mode, rs in runs.items():
            for r in rs:
                r["agreement"] = agreement(lm, r.pop("samples"))
            med = {k: float(np.median([r[k] for r in rs])) for k in ("fps", "latency_ms", "track_ms", "render_ms",
                                                                       "load_average")}
            for which in ("shown", "own"):
                for k in ("aed", "mouth_abs_diff", "mouth_disagree_pct"):
                    vals = [r["agreement"][which][k] for r in rs if r["agreement"][which][k] is not None]
                    med[f"{which}_{k}"] = round(float(np.median(vals)), 4) if vals else None
            results[mode] = dict(median=med, runs=rs)
    print(json.dumps(dict(benchmark="live_fidelity", clip=os.path.basename(args.clip), photo=args.photo,
                          seconds=args.seconds, added_load=args.load, cpus=os.cpu_count(), runs=results), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
