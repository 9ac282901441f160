"""Live recording length: is a recording of N seconds a file of N seconds?

Issue 19: a 10 to 12 s recording came out as 16.6 s (414 frames at 25 fps), the frames
written at the encoder's pace instead of on the camera's timeline. A simulated camera
(``simcam:``, default d6.mp4) drives a photo (default d12.jpg) through the live session the
GUI uses (core.reenact.session: open_live, start_recording, the clip's sound), records for
``--seconds`` of wall clock, and compares the file (ffprobe's duration, frames, sound) with the
time recorded; with ``--load N`` busy processes added (the original report came from a busy
machine). Prints JSON.

    flock /work/.bench.lock .venv/bin/python bench/bench_live_recording.py [--seconds 11] [--load 0] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA

from core.reenact.session import open_live, prepare_target, start_recording
from core.reenact.transfer import TransferSettings
from core.video import probe


def record_once(clip: str, still: str, seconds: float, out: Path) -> dict:
    target = prepare_target(still)
    live = open_live(f"simcam:{clip}", target, TransferSettings())
    try:
        time.sleep(3.0)  # warm-up: the first fits, as a presenter starts the camera before REC
        load0 = os.getloadavg()[0]
        t_call = time.monotonic()
        rec = start_recording(live, out)
        start_call = time.monotonic() - t_call
        time.sleep(seconds)
        t_stop = time.monotonic()
        rec.stop()
        # the recording's span: from its first frame's time (what REC counts from) to the stop
        recorded = t_stop - rec.started_at
        stats = live.pipe.stats()
        rec.join(300)
        fps = live.fps
    finally:
        live.close()
    if rec.error is not None:
        raise rec.error
    info = probe(out)
    return dict(recorded_s=round(recorded, 3), file_duration_s=round(float(info["duration"]), 3),
                error_s=round(float(info["duration"]) - recorded, 3), frames=rec.written, camera_fps=fps,
                frames_over_fps_s=round(rec.written / fps, 3), has_audio=bool(info["has_audio"]),
                start_call_s=round(start_call, 3),
                pipeline_fps=round(float(stats.fps), 1), load_average=round((load0 + os.getloadavg()[0]) / 2, 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=11.0)
    ap.add_argument("--clip", default=str(DATA / "videos" / "d6.mp4"))
    ap.add_argument("--photo", default="d12.jpg")
    ap.add_argument("--load", type=int, default=0, help="busy processes added while recording")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    still = str(DATA / "portraits" / "stills" / args.photo)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    runs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.repeats):
                runs.append(record_once(args.clip, still, args.seconds, Path(tmp) / f"rec{k}.mp4"))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    print(json.dumps(dict(benchmark="live_recording", clip=os.path.basename(args.clip), photo=args.photo,
                          seconds=args.seconds, added_load=args.load, cpus=os.cpu_count(), runs=runs), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
