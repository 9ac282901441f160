"""The long GUI soak: the real app driven like a person for 10 minutes per input (prints JSON).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/bench_gui_soak.py [--minutes 10]

Runs tools/gui_soak.py (one process per input, so a crash ends only that run) on d12, d6
and a still, each with live reenactment from a simulated camera (d6 playing) into a
still. For each: whether the process survived, its exit code, the actions done, error
dialogs, the largest heartbeat gap of the GUI thread, the slowest answer after an action,
the reference count of None (first, lowest, last, trend per minute) and the resident
memory (after 1 minute, at the end, growth per minute after the first 2 minutes).
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESTUDIO_SHARED", REPO.parent / "shared"))
INPUTS = {
    "d12": SHARED / "data" / "videos" / "d12.mp4",
    "d6": SHARED / "data" / "videos" / "d6.mp4",
    "still": SHARED / "data" / "portraits" / "stills" / "d12.jpg",
}


def _summary(name: str, proc: subprocess.CompletedProcess, report: dict, wall_s: float) -> dict:
    refs = np.array(report.get("refcount_none") or [[0, 0]], float)
    rss = np.array(report.get("rss_mb") or [[0, 0]], float)
    late = rss[rss[:, 0] >= rss[0, 0] + 120] if len(rss) > 1 else rss
    growth = float(np.polyfit(late[:, 0], late[:, 1], 1)[0] * 60) if len(late) > 2 else float("nan")
    answers = report.get("answer_ms") or [0]
    return dict(
        input=name, exit_code=proc.returncode, survived=bool(report.get("survived")), wall_s=round(wall_s, 1),
        phases=report.get("phases"), actions=report.get("actions"), errors=report.get("errors"),
        heartbeat_max_gap_s=report.get("heartbeat_max_gap_s"),
        answer_ms_median=round(float(np.median(answers)), 1), answer_ms_max=round(float(np.max(answers)), 1),
        refcount_none=dict(first=int(refs[0, 1]), lowest=int(refs[:, 1].min()), last=int(refs[-1, 1]),
                           trend_per_min=round(float(np.polyfit(refs[:, 0], refs[:, 1], 1)[0] * 60), 1)
                           if len(refs) > 2 else None),
        rss_mb=dict(at_1min=float(np.interp(60, rss[:, 0], rss[:, 1])), last=float(rss[-1, 1]),
                    max=float(rss[:, 1].max()), growth_mb_per_min_after_2min=round(growth, 2)),
        stderr_tail=proc.stderr[-1500:] if proc.returncode != 0 else "",
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--inputs", nargs="*", default=list(INPUTS))
    args = ap.parse_args()
    results = []
    for name in args.inputs:
        work = Path(tempfile.mkdtemp(prefix=f"soak-{name}-"))
        out = work / "report.json"
        cmd = [sys.executable, str(REPO / "tools" / "gui_soak.py"), "--input", str(INPUTS[name]),
               "--seconds", str(args.minutes * 60), "--simcam", str(INPUTS["d6"]), "--target", str(INPUTS["still"]),
               "--settings", str(work / "app"), "--json", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              env=dict(os.environ, FACESTUDIO_LOG_DIR=str(work / "app" / "logs")))
        report = json.loads(out.read_text()) if out.is_file() else {}
        results.append(_summary(name, proc, report, time.perf_counter() - t0))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps(dict(minutes=args.minutes, load_avg=os.getloadavg(), runs=results), indent=1))
    return 0 if all(r["survived"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
