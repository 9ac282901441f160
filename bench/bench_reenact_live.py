"""Live reenactment speed: simulated camera -> track -> per-frame fit -> transfer -> warp (prints JSON).

The source is ``simcam:`` playing ../shared/data/videos/d6.mp4 in real time (30 fps, looping),
the target a photo from ../shared/data/portraits/stills/ cropped to 512x512, transferring
expression + pose + gaze. Reports the median output frame rate and grab-to-output latency
over ``--seconds`` (default 60), the stage times, and the bare tracker's throughput on
the same clip's frames (FaceTracker alone, frames fed as fast as it takes them). The render
thread's stages (fit, transfer, warp, sample, mouth, eyes) are reported as medians, and
mouth_open: the mouth stage over the frames where an interior was filled (``--interior``
ict, the default, or synthetic: compare the two in the same period).

    .venv/bin/python bench/bench_reenact_live.py [--seconds 60] [--photo d9.jpg] [--interior ict|synthetic]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from _common import DATA, sample_live_stats

from core.model.registry import load_model
from core.reenact.faces import fit_face
from core.reenact.live import LivePipeline, fit_photo_to_size
from core.reenact.transfer import TransferSettings
from core.warp import WarpSettings
from core.tracking.tracker import FaceTracker, track_image
from core.video import open_source



def tracker_throughput(path: Path, n: int = 150) -> float:
    from core.video import read_clip

    frames, _ = read_clip(str(path), n)
    with FaceTracker(smooth=True) as tr:
        tr.process(frames[0], 0)
        t = time.perf_counter()
        for i, f in enumerate(frames[1:], 1):
            tr.process(f, int(i * 1000 / 30))
        return (len(frames) - 1) / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--photo", default="d9.jpg")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--interior", default="ict", choices=("ict", "synthetic"),
                    help="the photo's mouth interior (core.warp.WarpSettings.mouth_interior)")
    args = ap.parse_args(argv)
    model = load_model("builtin")
    img = cv2.cvtColor(cv2.imread(str(DATA / "portraits" / "stills" / args.photo)), cv2.COLOR_BGR2RGB)
    photo = fit_photo_to_size(img, (args.size, args.size))
    target = fit_face(track_image(photo, source=args.photo), model, name=args.photo)
    clip = DATA / "videos" / "d6.mp4"
    with open_source(f"simcam:{clip}") as cam:
        pipe = LivePipeline(model, cam, target, photo, TransferSettings(mode="head"),
                            WarpSettings(mouth_interior=args.interior))
        samples = sample_live_stats(pipe, args.seconds, warmup_s=2.0)  # warm-up: tracker start, first fit
    last = samples[-1] if samples else pipe.stats()
    med = lambda k: float(np.median([getattr(s, k) for s in samples])) if samples else None  # noqa: E731
    print(json.dumps(dict(
        benchmark="reenact_live", source=f"simcam:{clip.name}", target=args.photo,
        output_size=[args.size, args.size], transfer="expression,pose,gaze", seconds=args.seconds,
        fps_median=med("fps"), latency_ms_median=med("latency_ms"), track_ms_median=med("track_ms"),
        render_ms_median=med("render_ms"),
        mouth_interior=args.interior,
        render_stages_ms_median={k: float(np.median([s.stages[k] for s in samples if k in s.stages]))
                                 for k in dict.fromkeys(k for s in samples for k in s.stages)},
        mouth_open_seconds=sum("mouth_open" in s.stages for s in samples),
        load_average=list(os.getloadavg()),
        frames_out=last.frames, frames_dropped=last.dropped,
        camera_fps=30.0, tracker_alone_fps=round(tracker_throughput(clip), 1),
        targets=dict(fps=">= 25", latency_ms="< 80")), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
