"""Huge still target: ``reenact --max-frames 20`` on a 16000x16000 PNG (prints JSON).

Targets (made once into ``out/huge/``, PNG, from ../shared/data/portraits/stills/d9.jpg):
``portrait``: the 720x720 portrait scaled up to 16000x16000 (a face ~8000 px wide: worked
on as the whole picture scaled to 2048); ``small_face``: the portrait pasted at its own size
into a grey 16000x16000 canvas (a 720 px face: worked on in a crop around it).

Each run is ``main.py reenact --source d6.mp4 --target T --max-frames 20 -o out.mp4`` in a
child process; reported: wall-clock seconds, the peak resident memory of the command (its
own peak, ``ru_maxrss`` from ``wait4``, and the peak of the whole process tree, ffmpeg
included, sampled every 50 ms), the output's size, and the
working-resolution line the command printed. Targets of the issue: < 60 s, < 2 GB.

    .venv/bin/python bench/bench_huge_still.py [--runs 2] [--targets portrait small_face] [--full-size]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESTUDIO_SHARED", REPO.parent / "shared")) / "data"
SIDE = 16000


def make_targets(folder: Path) -> dict[str, Path]:
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"portrait": folder / "portrait16k.png", "small_face": folder / "small_face16k.png"}
    im = cv2.imread(str(SHARED / "portraits" / "stills" / "d9.jpg"))
    if not paths["portrait"].exists():
        cv2.imwrite(str(paths["portrait"]), cv2.resize(im, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not paths["small_face"].exists():
        canvas = np.full((SIDE, SIDE, 3), 90, np.uint8)
        h, w = im.shape[:2]
        canvas[7000:7000 + h, 9000:9000 + w] = im
        cv2.imwrite(str(paths["small_face"]), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return paths


def _tree_rss_kb(pid: int) -> int:
    """Resident memory (kB) of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def run_once(target: Path, out: Path, frames: int, full_size: bool) -> dict:
    cmd = [sys.executable, str(REPO / "main.py"), "reenact", "--source", str(SHARED / "videos" / "d6.mp4"),
           "--target", str(target), "--max-frames", str(frames), "-o", str(out)]
    cmd += ["--full-size"] if full_size else []
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with open(log, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(p.pid))
            time.sleep(0.05)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, status, usage = os.wait4(p.pid, 0)  # usage.ru_maxrss: the command's own peak (kB)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    returncode = os.waitstatus_to_exitcode(status)
    p.returncode = returncode
    stderr = log.read_text()
    from core.video import probe

    info = probe(out) if returncode == 0 else {}
    return dict(returncode=returncode, seconds=round(wall, 1), peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
                peak_tree_rss_mb=round(peak[0] / 1024, 1),
                output=f"{info.get('width')}x{info.get('height')}, {info.get('frame_count')} frames" if info else None,
                working=[ln for ln in stderr.splitlines() if "worked on" in ln][-1:],
                error=stderr.strip().splitlines()[-1] if returncode else None,
                load_average=[round(v, 2) for v in os.getloadavg()])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--targets", nargs="+", default=["portrait", "small_face"])
    ap.add_argument("--full-size", action="store_true", help="also ask for the output at the picture's size")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    folder = REPO / "out" / "huge"
    paths = make_targets(folder)
    runs = {t: [run_once(paths[t], folder / f"{t}.mp4", args.frames, args.full_size) for _ in range(args.runs)]
            for t in args.targets}
    result = dict(benchmark="huge_still_reenact", size=f"{SIDE}x{SIDE}", frames=args.frames,
                  full_size=args.full_size, targets=dict(seconds="< 60", peak_rss_mb="< 2048"), runs=runs)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
