"""Batch throughput on Dask against a plain sequential loop, the cost per clip, and the projection.

    flock /work/.bench.lock .venv/bin/python bench/bench_batch.py [--max-frames N] [--steps track,reconstruct]
        [--configs sequential,local-1x1,local-2x1,local-1x2,local-2x2,cluster-2x1] [--clips 'PATTERN']
        [--decode] [--partial out/bench_batch_partial.jsonl] > out/bench_batch.json

Every configuration runs the same clips (default: the 13 clips of ../shared/data/videos) with the
same task (``core.batch.task.run_clip``, the batch's one clip pipeline) in a fresh process of
its own (``--one CONFIG``), so no configuration inherits another's imports or caches:

- ``sequential``: a plain loop over the clips in one process (no Dask), what a shell loop over
  the ``reconstruct`` command does, without its per-clip start-up;
- ``local-NxT``: ``core.batch.runner`` on a LocalCluster of N worker processes with T task
  threads each (the batch command's default path);
- ``cluster-2x1``: a ``dask scheduler`` and two ``dask worker`` processes started as separate
  commands on loopback, used through ``--scheduler`` (the existing-cluster path).

Per configuration: the batch's wall time (the cluster's start-up apart), throughput (clips and
frames per minute), the speed-up over the sequential loop, CPU seconds per clip and per frame
(from the workers' own accounting, which the machine's load does not distort), the per-step
breakdown, the peak resident memory of each worker, the load average sampled every 2 s during
the run, and for Dask the scheduler's overhead per clip from its task stream: on each worker,
the gap between one clip's compute ending and the next one's starting while clips wait, and the
delay from submission to the first compute, against the clip's compute time.

``--decode`` adds the cost of decoding each clip once (what every pass over the frames costs:
tracking, the fit's image motion and the thumbnail each read the clip) to name the bottleneck.
The projection for 12,000 one-minute clips (30 fps) fits CPU seconds per clip as a fixed cost plus
a cost per frame (both >= 0; see ``linear_cost``): clips cut by ``--max-frames`` must still differ
in length (the shared clips run 55 to 1008 frames, so ``--max-frames 200`` leaves 55-200).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
from _common import REPO, VIDEOS  # noqa: E402

CONFIGS = ("sequential", "local-1x1", "local-2x1", "local-1x2", "local-2x2", "cluster-2x1")


class LoadSampler:
    """The 1-minute load average every ``period`` seconds on a background thread."""

    def __init__(self, period: float = 2.0):
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        s = self.samples + [os.getloadavg()[0]]
        return dict(mean=round(statistics.fmean(s), 2), min=round(min(s), 2), max=round(max(s), 2), samples=len(s))


def clip_list(pattern: str | None, max_frames: int | None):
    from core.batch.inputs import collect_clips

    return collect_clips(sorted(glob.glob(pattern or str(VIDEOS / "*.mp4"))), max_frames=max_frames)


def _cpu() -> float:
    """This process's CPU seconds, its waited-for children's (ffmpeg) included."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_one(config: str, args) -> dict:
    """One configuration in this process: the batch over the clips, figures as a dict."""
    from core.batch.task import BatchJob, parse_steps, run_clip

    clips = clip_list(args.clips, args.max_frames)
    out = Path(tempfile.mkdtemp(prefix=f"bench-batch-{config}-"))
    job = BatchJob(str(out), parse_steps(args.steps), run_id=f"bench-{config}")
    result = dict(config=config, clips=len(clips), outdir=str(out))
    if config == "sequential":
        decoded = count_decoded_frames()
        load = LoadSampler()
        t0, c0, m0 = time.perf_counter(), _cpu(), time.thread_time()
        records = [run_clip(c, job) for c in clips]
        main_cpu, proc_cpu = time.thread_time() - m0, _cpu() - c0
        result["decoded_frames"] = decoded[0]
        # the loop's own parallelism: MediaPipe's, the decoder's, the image motion's and the flow pool's
        # threads work beside the main thread (the loop's critical path)
        result.update(wall_s=time.perf_counter() - t0, process_cpu_s=round(proc_cpu, 2),
                      main_thread_cpu_s=round(main_cpu, 2), main_thread_share=round(main_cpu / proc_cpu, 3),
                      load_average=load.stop())
    else:
        records, extra = _run_dask(config, clips, job, args)
        result.update(extra)
    result.update(_figures(records, clips, result["wall_s"]))
    return result


def count_decoded_frames() -> list[int]:
    """Count every frame this process decodes from a video file from now on (converted or only
    grabbed while seeking): how many passes over its frames a clip costs. Returns the counter
    (a one-element list)."""
    from core.video.source import VideoFileSource

    count = [0]
    decode_next, skip_next = VideoFileSource._decode_next, VideoFileSource._skip_next

    def counted_decode(self):
        frame = decode_next(self)
        count[0] += frame is not None
        return frame

    def counted_skip(self):
        ok = skip_next(self)
        count[0] += bool(ok)
        return ok

    VideoFileSource._decode_next, VideoFileSource._skip_next = counted_decode, counted_skip
    return count


def _run_dask(config: str, clips, job, args) -> tuple[list[dict], dict]:
    from distributed import get_task_stream

    from core.batch.runner import ClusterOptions, open_cluster, run_batch

    procs: list[subprocess.Popen] = []
    extra: dict = {}
    try:
        if config.startswith("cluster-"):
            n, threads = (int(v) for v in config.split("-")[1].split("x"))
            address, procs = start_cluster(n, threads)
            options = ClusterOptions(scheduler=address)
        else:
            n, threads = (int(v) for v in config.split("-")[1].split("x"))
            options = ClusterOptions(workers=n, threads=threads, dashboard="127.0.0.1:0")
        t0 = time.perf_counter()
        with open_cluster(options) as cluster:
            extra["startup_s"] = round(time.perf_counter() - t0, 2)
            extra["cluster"] = cluster.description
            load = LoadSampler()
            w0 = cluster.client.run(os.times)
            t1, c1 = time.perf_counter(), _cpu()
            with get_task_stream(cluster.client) as ts:
                outcome = run_batch(cluster.client, clips, job)
            extra.update(wall_s=time.perf_counter() - t1, client_cpu_s=round(_cpu() - c1, 2),
                         load_average=load.stop())
            w1 = cluster.client.run(os.times)
            # the worker processes' own CPU over the batch (exact also with several task threads per worker,
            # where a clip's process CPU counts its neighbour's too)
            extra["worker_cpu_s_total"] = round(sum(w1[w].user + w1[w].system - w0[w].user - w0[w].system
                                                    for w in w1 if w in w0), 2)
            nthreads = {w: info["nthreads"] for w, info in cluster.client.scheduler_info()["workers"].items()}
            extra["scheduler_overhead"] = overhead(ts.data, t1, nthreads)
    finally:
        stop_cluster(procs)
    return [outcome.records[c.clip_id] for c in clips if c.clip_id in outcome.records], extra


def start_cluster(n: int, threads: int) -> tuple[str, list[subprocess.Popen]]:
    """A ``dask scheduler`` and ``n`` ``dask worker`` processes on loopback (as a user starts them)."""
    d = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    # as the README starts workers: the profiler off, as the LocalCluster has it (core.batch.runner)
    env = dict(os.environ, PYTHONPATH=str(REPO), DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False")
    dask = str(Path(sys.executable).with_name("dask"))
    sched_file = d / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                               "127.0.0.1:0", "--scheduler-file", str(sched_file)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(d / "scheduler.log", "w"))]
    for _ in range(1200):
        if sched_file.exists() and sched_file.stat().st_size:
            break
        time.sleep(0.1)
    address = json.loads(sched_file.read_text())["address"]
    for i in range(n):
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", str(threads),
                                       "--host", "127.0.0.1", "--no-dashboard", "--name", f"bench-w{i}"],
                                      cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(d / f"worker{i}.log", "w")))
    from distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(n, timeout=300)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        p.terminate()
    for p in reversed(procs):
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def overhead(stream: list[dict], submitted_at: float, threads: dict[str, int]) -> dict:
    """The scheduler's share per clip from Dask's task stream (times are the workers' clocks,
    this machine's wall clock here): per task thread, the gaps between a clip's compute ending and
    the next one's starting (clips were waiting all along: every clip is submitted at once), and
    the first compute's delay after submission, against the clips' compute times.

    ``threads`` is each worker's task-thread count. The stream does not say which thread ran a
    task, so with T threads a worker's computes are replayed in start order onto T slots: each
    compute after the first T follows the slot that freed first (a worker is given a clip only
    when a thread is free, ``worker-saturation`` 1.0). Gaps taken between consecutive computes of
    a worker regardless of its threads would be negative whenever two clips overlap."""
    import heapq

    by_worker: dict[str, list[tuple[float, float]]] = {}
    computes = []
    for t in stream:
        for ss in t.get("startstops", ()):
            if ss.get("action") == "compute":
                by_worker.setdefault(t["worker"], []).append((ss["start"], ss["stop"]))
                computes.append(ss["stop"] - ss["start"])
    gaps = []
    for worker, spans in by_worker.items():
        spans.sort()
        slots: list[float] = []          # end times of the computes running on the worker's threads
        for start, stop in spans:
            if len(slots) < max(1, threads.get(worker, 1)):
                heapq.heappush(slots, stop)   # a thread's first clip: its delay is the submission's
            else:
                gaps.append(start - heapq.heapreplace(slots, stop))
    first = min((s for spans in by_worker.values() for s, _ in spans), default=None)
    # time.perf_counter() and the stream's time.time() differ by a constant: take the offset now
    offset = time.time() - time.perf_counter()
    mean_compute = statistics.fmean(computes) if computes else float("nan")
    mean_gap = statistics.fmean(gaps) if gaps else 0.0
    return dict(tasks=len(computes), mean_compute_s=round(mean_compute, 3), gaps=len(gaps),
                mean_gap_between_clips_s=round(mean_gap, 4), max_gap_s=round(max(gaps, default=0.0), 4),
                min_gap_s=round(min(gaps, default=0.0), 4),
                first_start_after_submit_s=round(first - (submitted_at + offset), 4) if first is not None else None,
                gap_per_clip_compute_pct=round(100 * mean_gap / mean_compute, 4) if computes else None)


def _figures(records: list[dict], clips, wall: float) -> dict:
    done = [r for r in records if r.get("status") == "done"]
    frames = sum(int(r.get("frames", 0)) for r in done)
    cpu = [r["usage"]["cpu_s"] for r in done]
    steps: dict[str, dict] = {}
    for r in done:
        for name, s in r["usage"]["steps"].items():
            acc = steps.setdefault(name, dict(wall_s=0.0, cpu_s=0.0))
            acc["wall_s"] += s["wall_s"]
            acc["cpu_s"] += s["cpu_s"]
    peaks: dict[str, float] = {}
    for r in records:
        w, p = r.get("worker", "?"), (r.get("usage") or {}).get("peak_rss_mb")
        if p is not None:
            peaks[w] = max(peaks.get(w, 0.0), p)
    per_clip = [dict(clip=r["clip_id"], frames=r.get("frames"), source_frames=r.get("source_frames"),
                     input_bytes=r["input"].get("bytes"), cpu_s=r["usage"]["cpu_s"],
                     wall_s=r["usage"]["wall_s"], peak_rss_mb=r["usage"]["peak_rss_mb"],
                     fit_median_px=r.get("fit_median_px")) for r in done]
    return dict(
        done=len(done), failed=len(records) - len(done), frames=frames,
        wall_s=round(wall, 2), clips_per_min=round(60 * len(done) / wall, 3), frames_per_s=round(frames / wall, 2),
        clip_cpu_s_total=round(sum(cpu), 2), clip_cpu_s_mean=round(statistics.fmean(cpu), 2) if cpu else None,
        cpu_ms_per_frame=round(1000 * sum(cpu) / frames, 2) if frames else None,
        cpu_utilisation=round(sum(cpu) / wall, 3),
        steps={k: dict(wall_s=round(v["wall_s"], 2), cpu_s=round(v["cpu_s"], 2)) for k, v in steps.items()},
        peak_rss_mb_by_worker=peaks, per_clip=per_clip,
        errors=[r.get("error") for r in records if r.get("status") != "done"])


def decode_costs(clips) -> list[dict]:
    """CPU seconds to decode each clip once (frames as the pipeline reads them)."""
    from core.video import open_source

    out = []
    for c in clips:
        c0, t0 = _cpu(), time.perf_counter()
        with open_source(c.path) as s:
            n = 0
            H, W = s.size
            for _ in s.frames(0, c.max_frames or s.frame_count):
                n += 1
        out.append(dict(clip=c.clip_id, frames=n, size=[H, W], decode_cpu_s=round(_cpu() - c0, 3),
                        decode_wall_s=round(time.perf_counter() - t0, 3), frames_mb=round(n * H * W * 3 / 2**20, 1)))
    return out


def linear_cost(frames, values, alike: str = "per frame") -> dict:
    """``values`` per clip (CPU seconds, MB) as ``fixed + per_frame * frames`` with both terms >= 0.

    frames, values : (K,) per clip. Least squares when the clips' lengths differ enough to tell
    the two terms apart (longest >= 1.5x shortest, 3 clips or more); a negative term (noise on a
    narrow spread of lengths) is dropped and the other refitted alone. Clips all of about one
    length (every clip cut by ``--max-frames``) cannot separate them: then with ``alike`` "per
    frame" the mean per frame (the fixed cost spread over the frames: an overestimate for longer
    clips), with "fixed" the largest value as a fixed cost (for memory, mostly fixed)."""
    import numpy as np

    f, v = np.asarray(frames, float), np.asarray(values, float)
    out = dict(clips=int(f.size), frames_min=int(f.min()), frames_max=int(f.max()))
    if f.size >= 3 and f.max() >= 1.5 * f.min():
        A = np.stack([np.ones_like(f), f], 1)
        (c0, c1), *_ = np.linalg.lstsq(A, v, rcond=None)
        method = "least squares"
        if c1 < 0:      # no per-frame cost measurable: a constant
            c0, c1, method = float(v.mean()), 0.0, "constant (the per-frame term came out negative)"
        elif c0 < 0:    # no fixed cost measurable: through the origin
            c0, c1, method = 0.0, float(f @ v / (f @ f)), "through the origin (the fixed term came out negative)"
    elif alike == "fixed":
        c0, c1, method = float(v.max()), 0.0, "largest, as fixed (clip lengths too alike to fit)"
    else:
        c0, c1, method = 0.0, float(v.sum() / f.sum()), "mean per frame (clip lengths too alike to fit)"
    pred = c0 + c1 * f
    ss = float(((v - v.mean()) ** 2).sum())
    out.update(method=method, fixed=round(float(c0), 3), per_frame=round(float(c1), 5),
               r2=round(1 - float(((v - pred) ** 2).sum()) / ss, 3) if ss > 0 else None,
               max_abs_residual=round(float(np.abs(v - pred).max()), 3))
    return out


def projection(results: dict, decode: list[dict] | None, clips_n: int = 12000, seconds: float = 60.0,
               fps: float = 30.0) -> dict:
    """12,000 one-minute clips (30 fps) from the measured costs.

    CPU per clip = fixed + per-frame x frames, fitted over the clips of the 2-worker run (each
    worker's cost with its neighbour beside it: what a worker per core pays; the sequential
    loop's fit beside it). Wall time on N dedicated cores (one single-threaded worker each) =
    total CPU / N / (1 - the scheduler's gap per clip): the workers are busy all along (every
    clip is queued; the last clips' tail is negligible against 12,000), and a core shared with
    other work gives proportionally less. Peak memory per worker from the same kind of fit;
    disk traffic from the input's and outputs' bytes per frame; the decode share from one
    decode pass's CPU and the passes counted in the sequential run."""
    seq = results.get("sequential") or {}
    dep_name = "local-2x1" if (results.get("local-2x1") or {}).get("per_clip") else "sequential"
    dep = results.get(dep_name) or {}
    if len(dep.get("per_clip", ())) < 2:
        return {}
    frames = seconds * fps
    per_clip = dep["per_clip"]
    cpu_fit = linear_cost([p["frames"] for p in per_clip], [p["cpu_s"] for p in per_clip])
    cpu_clip = cpu_fit["fixed"] + cpu_fit["per_frame"] * frames
    total_cpu_h = clips_n * cpu_clip / 3600
    gaps = [r["scheduler_overhead"]["gap_per_clip_compute_pct"] for r in results.values()
            if (r.get("scheduler_overhead") or {}).get("gap_per_clip_compute_pct") is not None]
    over = max(0.0, max(gaps, default=0.0)) / 100
    mem_fit = linear_cost([p["frames"] for p in per_clip], [p["peak_rss_mb"] for p in per_clip], alike="fixed")
    steps = dep.get("steps", {})
    step_cpu = sum(v["cpu_s"] for v in steps.values()) or 1.0
    out = dict(clips=clips_n, frames_per_clip=int(frames), fitted_on=dep_name, cpu_fit=cpu_fit,
               cpu_fit_sequential=linear_cost([p["frames"] for p in seq["per_clip"]],
                                              [p["cpu_s"] for p in seq["per_clip"]]) if seq.get("per_clip") else None,
               cpu_s_per_clip=round(cpu_clip, 1), total_cpu_core_hours=round(total_cpu_h, 1),
               # the clips' mean per frame, fixed cost included: the fit's check (a fit over clips of
               # 55-200 frames split the two terms with R^2 0.62 and projected 56 s where whole clips,
               # 183-1008 frames, had no fixed part and gave 67 s: NOTES.md, issue 18)
               cpu_s_per_clip_by_mean_per_frame=round(sum(p["cpu_s"] for p in per_clip) * frames
                                                      / max(1, sum(p["frames"] for p in per_clip)), 1),
               scheduler_overhead_fraction=round(over, 5),
               wall_hours_by_cores={str(n): round(total_cpu_h / n / (1 - over), 1) for n in (2, 16, 64, 256)},
               cores_for_wall_hours={str(h): int(-(-total_cpu_h // (h * (1 - over)))) for h in (24, 168)},
               peak_rss_mb_fit=mem_fit,
               peak_rss_mb_per_worker=round(mem_fit["fixed"] + mem_fit["per_frame"] * frames),
               step_cpu_share={k: round(v["cpu_s"] / step_cpu, 3) for k, v in steps.items()})
    used = sum(p["frames"] for p in per_clip)
    if all(p.get("input_bytes") and p.get("source_frames") for p in per_clip):
        # the part of each input file the clip read (its first `frames` of `source_frames`)
        in_mb = sum(p["input_bytes"] * p["frames"] / p["source_frames"] for p in per_clip) / 2**20
        out["input_mb_per_frame"] = round(in_mb / used, 4)
    if seq.get("outdir"):
        outputs = [sum(e["bytes"] for e in json.loads((Path(seq["outdir"]) / p["clip"] / "metrics.json")
                                                      .read_text())["outputs"].values()) for p in seq["per_clip"]]
        out["output_mb_per_frame"] = round(sum(outputs) / 2**20 / max(1, sum(p["frames"] for p in seq["per_clip"])), 4)
        out["output_tb_total"] = round(out["output_mb_per_frame"] * frames * clips_n / 2**20, 2)
    io = out.get("input_mb_per_frame", 0.0) + out.get("output_mb_per_frame", 0.0)
    # the disk / network traffic of N workers at the projected CPU per clip
    out["disk_mb_per_s_per_core"] = round(io * frames / cpu_clip, 3)
    if decode:
        dec_ms = 1000 * sum(d["decode_cpu_s"] for d in decode) / max(1, sum(d["frames"] for d in decode))
        out["decode_ms_per_frame_one_pass"] = round(dec_ms, 2)
        if seq.get("decoded_frames") and seq.get("frames"):
            passes = seq["decoded_frames"] / seq["frames"]
            out["decode_passes_per_clip"] = round(passes, 2)
            if cpu_fit["per_frame"] > 0:
                out["decode_share_of_cpu"] = round(passes * dec_ms / (1000 * cpu_fit["per_frame"]), 3)
    return out


def machine() -> dict:
    """The CPU model and memory of this machine (Linux /proc; empty elsewhere)."""
    out = {}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        out["cpu"] = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if ln.startswith("model name")), "")
        mem = Path("/proc/meminfo").read_text().split()
        out["memory_gb"] = round(int(mem[mem.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-frames", type=int, default=None, help="cut every clip to its first N frames")
    ap.add_argument("--steps", default="track,reconstruct")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--clips", default=None, help="glob of clips (default: the shared videos)")
    ap.add_argument("--decode", action="store_true", help="also measure one decode pass per clip")
    ap.add_argument("--partial", default=None, help="append each configuration's result to this file "
                    "as it finishes (kept if the run is stopped before the end)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return 0
    results = {}
    meta = dict(cpus=os.cpu_count(), machine=machine(), started=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                commit=subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                      text=True).stdout.strip(),
                max_frames=args.max_frames, steps=args.steps, configs=args.configs,
                load_average_at_start=list(os.getloadavg()))
    for config in args.configs.split(","):
        cmd = [sys.executable, __file__, "--one", config, "--steps", args.steps]
        if args.max_frames:
            cmd += ["--max-frames", str(args.max_frames)]
        if args.clips:
            cmd += ["--clips", args.clips]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            results[config] = dict(error=r.stderr[-3000:])
            continue
        results[config] = json.loads(r.stdout.strip().splitlines()[-1])
        if args.partial:
            with open(args.partial, "a", encoding="utf-8") as f:
                f.write(json.dumps(results[config]) + "\n")
        print(f"{config}: {results[config]['wall_s']} s, load {results[config]['load_average']}", file=sys.stderr)
    seq = results.get("sequential", {})
    for name, r in results.items():
        if seq.get("wall_s") and r.get("wall_s"):
            r["speedup_vs_sequential"] = round(seq["wall_s"] / r["wall_s"], 3)
            r["cpu_per_clip_vs_sequential"] = round(r["clip_cpu_s_total"] / seq["clip_cpu_s_total"], 3)
    decode = decode_costs(clip_list(args.clips, args.max_frames)) if args.decode else None
    meta["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(dict(meta=meta, results=results, decode=decode, projection=projection(results, decode)),
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
