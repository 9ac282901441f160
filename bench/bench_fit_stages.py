"""Whole-video fit time by stage (tracking excluded), with and without the corrective, paired.

For each repeat the fit runs once with the given settings and once with the corrective off,
alternately (so a drift in the machine's speed hits both), on the clip's cached track.
Prints JSON: per run the total seconds and when each progress stage began; medians; the
machine's load average before and after (other jobs on the 2 cores inflate every figure).

    .venv/bin/python bench/bench_fit_stages.py [--clip d6] [--model ict] [--repeats 3]
        [--settings '{"corrective_passes": 3}']
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import SHARED, cached_track


def timed_fit(track, model, spec: str, settings, video: Path) -> dict:
    from core.fitting import clip_frames, reconstruct

    stages: list[tuple[float, str]] = []
    t0 = time.perf_counter()

    def progress(done: int, total: int, message: str = "") -> None:
        if not stages or stages[-1][1] != message:
            stages.append((round(time.perf_counter() - t0, 2), message))

    rec = reconstruct(track, model, spec, settings, progress=progress,
                      frames=clip_frames(str(video), track.num_frames))
    return dict(seconds=round(time.perf_counter() - t0, 2), stages=stages,
                corrective=rec.has_corrective,
                corrective_mb=round(rec.corrective.nbytes / 1e6, 1) if rec.has_corrective else 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="d6")
    ap.add_argument("--model", default="ict")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settings", default="{}", help="JSON of FitSettings overrides")
    args = ap.parse_args(argv)
    from core.fitting import FitSettings
    from core.model.registry import load_model

    video = SHARED / "data" / "videos" / f"{args.clip}.mp4"
    track = cached_track(video, args.clip)
    model = load_model(args.model)
    on = FitSettings(**json.loads(args.settings))
    off = FitSettings(**{**on.to_dict(), "corrective": False})
    load_before = list(os.getloadavg())
    timed_fit(track, model, args.model, off, video)  # warm-up: caches, page faults
    runs = {"with_corrective": [], "without_corrective": []}
    for _ in range(args.repeats):
        runs["with_corrective"].append(timed_fit(track, model, args.model, on, video))
        runs["without_corrective"].append(timed_fit(track, model, args.model, off, video))
    med = {k: float(np.median([r["seconds"] for r in v])) for k, v in runs.items()}
    paired = [a["seconds"] - b["seconds"] for a, b in zip(runs["with_corrective"], runs["without_corrective"])]
    print(json.dumps(dict(benchmark="fit_stages", clip=args.clip, frames=int(track.num_frames), model=args.model,
                          settings=on.to_dict(), median_seconds=med,
                          corrective_cost_s_paired_median=round(float(np.median(paired)), 2),
                          runs=runs, load_average_before=load_before, load_average_after=list(os.getloadavg())),
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
