"""A/B of the two worker settings the batch makes, on a LocalCluster of 1 worker x 1 thread:
Dask's worker profiler off (``core.batch.runner``) and the heap retention at the start of
``core.batch.task.run_clip`` (``core.render.memory.retain_freed_memory``).

    flock /work/.bench.lock .venv/bin/python bench/bench_batch_settings.py [--reps 2] [--max-frames 120]
        > out/bench_batch_settings.jsonl

Four conditions (both as shipped; profiler on; retention off; both undone), interleaved ``reps``
times on the same clips, one JSON line per run: the clips' CPU seconds (their own accounting),
the worker process's CPU and its minor page faults over the batch, wall time and load average.
Retention is undone by replacing the function in the worker (before any clip calls it); the
profiler by leaving Dask's default on.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

from _common import VIDEOS

import core.batch.runner as runner
from core.batch.inputs import collect_clips
from core.batch.task import BatchJob, parse_steps

CONDITIONS = ("shipped", "profiler_on", "retention_off", "both_undone")
SHIPPED_KEY = runner.WORKER_PROFILE


def _retention_off() -> bool:
    """In a worker: make run_clip's call a no-op (glibc keeps the nanny's trim threshold)."""
    import core.render.memory as memory

    memory.retain_freed_memory = lambda *a, **k: False
    return True


def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return dict(cpu=r.ru_utime + r.ru_stime, minflt=r.ru_minflt)


def run(condition: str, clips) -> dict:
    # an unused key in place of the profiler's leaves Dask's default (profiler on)
    runner.WORKER_PROFILE = SHIPPED_KEY if condition in ("shipped", "retention_off") else "facestudio-bench.unused"
    job = BatchJob(tempfile.mkdtemp(prefix=f"bench-settings-{condition}-"), parse_steps("track,reconstruct"),
                   run_id=f"bench-{condition}")
    with runner.open_cluster(runner.ClusterOptions(workers=1, threads=1, dashboard="127.0.0.1:0")) as cluster:
        client = cluster.client
        profiler = next(iter(client.run(lambda: __import__("dask").config.get(SHIPPED_KEY)).values()))
        if condition in ("retention_off", "both_undone"):
            client.run(_retention_off)
        u0, t0, load = client.run(_usage), time.perf_counter(), os.getloadavg()[0]
        outcome = runner.run_batch(client, clips, job)
        wall, u1 = time.perf_counter() - t0, client.run(_usage)
    records = [outcome.records[c.clip_id] for c in clips]
    w = next(iter(u1))
    return dict(condition=condition, profiler=profiler, wall_s=round(wall, 2), load_average=round(load, 2),
                frames=sum(r.get("frames", 0) for r in records), status=[r["status"] for r in records],
                clip_cpu_s=round(sum(r["usage"]["cpu_s"] for r in records), 2),
                worker_cpu_s=round(u1[w]["cpu"] - u0[w]["cpu"], 2), minor_faults=u1[w]["minflt"] - u0[w]["minflt"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--max-frames", type=int, default=120)
    ap.add_argument("--clips", default="d10,d14,d3,d9", help="names in the shared videos folder")
    args = ap.parse_args()
    clips = collect_clips([str(VIDEOS / f"{n}.mp4") for n in args.clips.split(",")], max_frames=args.max_frames)
    for _ in range(args.reps):
        for condition in CONDITIONS:
            print(json.dumps(run(condition, clips)), flush=True)
    return 0


if __name__ == "__main__":   # the LocalCluster's worker processes import this module again
    sys.exit(main())
