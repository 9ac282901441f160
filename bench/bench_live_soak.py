"""Live reenactment soak: does the live pipeline run for hours? (prints JSON)

Runs the live reenactment exactly as the GUI's panel starts it, without Qt
(``core.reenact.session.prepare_target`` and ``open_live``: a ``LivePipeline`` with its grab/track
and render threads) with a simulated camera playing ../shared/data/videos/d6.mp4 in real time,
looping, driving a target for ``--minutes``
(default 60), and samples every ``--interval`` seconds (default 10): resident memory
(VmRSS), the glibc heap (``mallinfo2``: bytes in use and bytes held), Python's traced
memory when ``--tracemalloc`` is on, output fps, grab-to-output latency, frames out,
dropped frames, threads and open files.

Targets (``--target``): ``still`` (portraits/stills/d9.jpg, at most 512 px as the preview
shows it) or ``video`` (videos/d3.mp4 fitted whole, the preview driving its first frame);
``both`` runs the two one after the other.

The summary per target compares each sample after ``--settle`` minutes (default 2) with
the sample at that time: RSS growth in MB per minute (least squares over the samples
after settling), the last RSS minus the settled one, and fps / latency medians of the
first and the last quarter of the run (flat = they agree).

``--tracemalloc N``: keep N frames of traceback and print, at each sample, the 12 sites
whose traced memory grew most since the settled sample (Python and numpy allocations;
native allocations of MediaPipe or OpenCV do not show there, ``heap_*`` tells them apart).

    .venv/bin/python bench/bench_live_soak.py --minutes 60 --target both --out out/soak.json
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("FACESTUDIO_SHARED", REPO.parent / "shared")) / "data"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo2():
    """glibc heap figures in bytes: (in use, held from the OS), or (None, None)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return lambda: (None, None)
    fn.restype = _MallInfo2

    def read():
        m = fn()
        return m.uordblks + m.hblkhd, m.arena + m.hblkhd
    return read


def rss_mb() -> float:
    """Resident set size of this process in MB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def soak(kind: str, minutes: float, interval: float, settle: float, trace_frames: int) -> dict:
    from core.reenact.session import open_live, prepare_target
    from core.reenact.transfer import TransferSettings

    heap = _mallinfo2()
    path = SHARED / "portraits" / "stills" / "d9.jpg" if kind == "still" else SHARED / "videos" / "d3.mp4"
    target = prepare_target(str(path))
    target_name = f"{path.name} ({target.kind}, preview {target.frame.shape[1]}x{target.frame.shape[0]})"
    clip = SHARED / "videos" / "d6.mp4"
    samples: list[dict] = []
    settled_snapshot = None
    growth_sites: list = []
    if trace_frames:
        tracemalloc.start(trace_frames)
    t_start = time.monotonic()
    session = open_live(f"simcam:{clip}", target, TransferSettings(mode="head"))
    pipe = session.pipe
    try:
        t_next = t_start + interval
        while time.monotonic() - t_start < minutes * 60 and pipe.running:
            time.sleep(max(0.0, t_next - time.monotonic()))
            t_next += interval
            st = pipe.stats()
            used, held = heap()
            s = dict(t_s=round(time.monotonic() - t_start, 1), rss_mb=round(rss_mb(), 1),
                     heap_in_use_mb=None if used is None else round(used / 2**20, 1),
                     heap_held_mb=None if held is None else round(held / 2**20, 1),
                     fps=round(st.fps, 2), latency_ms=round(st.latency_ms, 1), frames=st.frames,
                     dropped=st.dropped, threads=threading.active_count(), files=open_files(),
                     load=round(os.getloadavg()[0], 2))
            if trace_frames:
                s["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                if settled_snapshot is None and s["t_s"] >= settle * 60:
                    settled_snapshot = tracemalloc.take_snapshot()
                elif settled_snapshot is not None:
                    snap = tracemalloc.take_snapshot()
                    top = snap.compare_to(settled_snapshot, "traceback")[:12]
                    growth_sites = [dict(kb=round(d.size_diff / 1024, 1), count=d.count_diff,
                                         where=[f"{fr.filename.replace(str(REPO) + '/', '')}:{fr.lineno}"
                                                for fr in d.traceback][:trace_frames]) for d in top]
                    print(json.dumps(dict(t_s=s["t_s"], rss_mb=s["rss_mb"], traced_mb=s["traced_mb"],
                                          grew=growth_sites[:6])), file=sys.stderr, flush=True)
            samples.append(s)
            print(json.dumps(s), file=sys.stderr, flush=True)
    finally:
        session.close()
    if pipe.error is not None:
        raise pipe.error
    if trace_frames:
        tracemalloc.stop()
    return dict(target=target_name, kind=kind, summary=summarise(samples, settle), samples=samples,
                traced_growth_sites=growth_sites)


def summarise(samples: list[dict], settle: float) -> dict:
    """RSS growth after ``settle`` minutes and fps / latency in the first and last quarter."""
    after = [s for s in samples if s["t_s"] >= settle * 60]
    if len(after) < 2:
        return {}
    t = np.array([s["t_s"] for s in after]) / 60.0
    rss = np.array([s["rss_mb"] for s in after])
    slope = float(np.polyfit(t, rss, 1)[0])
    q = max(1, len(after) // 4)
    first, last = after[:q], after[-q:]

    def med(part, key):
        return round(float(np.median([s[key] for s in part])), 2)
    return dict(settled_at_min=settle, rss_settled_mb=float(rss[0]), rss_end_mb=float(rss[-1]),
                rss_max_mb=float(rss.max()), rss_end_minus_settled_mb=round(float(rss[-1] - rss[0]), 1),
                rss_slope_mb_per_min=round(slope, 3),
                fps_first_quarter=med(first, "fps"), fps_last_quarter=med(last, "fps"),
                latency_ms_first_quarter=med(first, "latency_ms"), latency_ms_last_quarter=med(last, "latency_ms"),
                frames=after[-1]["frames"], dropped=after[-1]["dropped"],
                threads=[after[0]["threads"], after[-1]["threads"]], files=[after[0]["files"], after[-1]["files"]],
                meets_target=bool(slope < 1.0 and rss[-1] - rss[0] < 50.0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--settle", type=float, default=2.0, help="minutes before growth is counted (default 2)")
    ap.add_argument("--target", choices=("still", "video", "both"), default="both")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                    help="trace Python allocations with N frames per traceback (slows the pipeline)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    kinds = ("still", "video") if args.target == "both" else (args.target,)
    runs = [soak(k, args.minutes, args.interval, args.settle, args.tracemalloc) for k in kinds]
    result = dict(benchmark="live_soak", source="simcam:d6.mp4 (looping)", minutes=args.minutes,
                  interval_s=args.interval, transfer="head: expression,pose,gaze",
                  targets=dict(rss_slope_mb_per_min="< 1 after the settle time",
                               rss_end_minus_settled_mb="< 50", fps_latency="flat"),
                  runs=runs)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(json.dumps(dict(result, runs=[dict(r, samples=f"{len(r['samples'])} samples") for r in runs]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
