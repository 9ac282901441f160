"""Video I/O speed on the shared clips: open, sequential decode, random seek, H.264 write.

Prints one JSON object. Timings on the shared VM are noisy: medians over repeats.
Usage: .venv/bin/python bench/bench_video.py [--clips d6 d9 obama] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import VIDEOS
from core.video import VideoWriter, open_source
from core.video.source import _FrameCache



def bench_clip(path: Path, repeats: int, seeks: int) -> dict:
    opens, seq_fps, seek_ms = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        src = open_source(path)
        opens.append(time.perf_counter() - t)
        n = min(src.frame_count, 300)
        t = time.perf_counter()
        for _ in src.frames(0, n):
            pass
        seq_fps.append(n / (time.perf_counter() - t))
        src._cache = _FrameCache(max_bytes=0)  # measure real seeks, not cache hits
        for i in np.random.default_rng(len(seek_ms)).integers(0, src.frame_count, seeks):
            t = time.perf_counter()
            src.read(int(i))
            seek_ms.append(1000 * (time.perf_counter() - t))
        src.close()
    with open_source(path) as src:
        frames = [f for _, f in src.frames(0, 90)]
        h, w = src.size
        fc, fps = src.frame_count, src.fps
    writes = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            t = time.perf_counter()
            with VideoWriter(Path(tmp) / f"w{r}.mp4", fps=fps, audio_from=path) as wr:
                for f in frames:
                    wr.write(f)
            writes.append(len(frames) / (time.perf_counter() - t))
    return {"size_hw": [h, w], "frames": fc, "open_s": round(statistics.median(opens), 3),
            "sequential_fps": round(statistics.median(seq_fps), 1),
            "random_seek_ms_median": round(statistics.median(seek_ms), 1),
            "random_seek_ms_p90": round(float(np.percentile(seek_ms, 90)), 1),
            "write_fps_with_audio_mux": round(statistics.median(writes), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=["d6", "d9", "obama"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeks", type=int, default=10)
    args = ap.parse_args()
    out = {name: bench_clip(VIDEOS / f"{name}.mp4", args.repeats, args.seeks) for name in args.clips}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
