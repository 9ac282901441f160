"""Example cross-reenactment: d0.mp4 drives a still portrait; writes a video and a grid PNG.

    .venv/bin/python tools/reenact_examples.py [--still d12.jpg] [--out out/examples]

Writes ``reenact_d0_<still>.mp4`` (head mode: expression + pose + gaze, with d0's audio
if it has any) and ``reenact_d0_<still>_grid.png``: for 6 frames spread over the
clip, the source frame (top) above the reenacted still, and the output's mouth close up
(bottom row).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.jobs import ConsoleProgress  # noqa: E402
from core.model.registry import load_model  # noqa: E402
from core.reenact.pipeline import ReenactmentPipeline, read_frames  # noqa: E402
from core.reenact.transfer import TransferSettings  # noqa: E402
from core.warp import WarpSettings  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def grid(sources: list[np.ndarray], outputs: list[np.ndarray], cell: int = 256) -> np.ndarray:
    """Two rows of cells (sources above outputs), each frame fitted into cell x cell."""
    def fit(img):
        h, w = img.shape[:2]
        s = cell / max(h, w)
        small = cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((cell, cell, 3), np.uint8)
        y, x = (cell - small.shape[0]) // 2, (cell - small.shape[1]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        return canvas
    top = np.concatenate([fit(f) for f in sources], 1)
    bottom = np.concatenate([fit(f) for f in outputs], 1)
    return np.concatenate([top, bottom], 0)


def mouth_closeups(frames: list[np.ndarray], cell: int = 256) -> list[np.ndarray]:
    """Square crops around each frame's mouth (found by the tracker), 2.2 mouth widths wide;
    a black cell where no face is found."""
    from core.warp.landmarks import MOUTH_CORNERS
    from core.tracking.tracker import FaceTracker
    crops = []
    with FaceTracker(smooth=False) as tracker:
        for k, f in enumerate(frames):
            tr = tracker.process(f, k * 1000)
            if tr is None:
                crops.append(np.zeros((cell, cell, 3), np.uint8))
                continue
            a, b = tr.landmarks[MOUTH_CORNERS[0], :2], tr.landmarks[MOUTH_CORNERS[1], :2]
            c, half = (a + b) / 2, 1.1 * float(np.linalg.norm(b - a))
            x0, y0 = int(round(c[0] - half)), int(round(c[1] - half))
            n = int(round(2 * half))
            pad = np.pad(f, ((n, n), (n, n), (0, 0)))
            crops.append(cv2.resize(pad[y0 + n:y0 + 2 * n, x0 + n:x0 + 2 * n], (cell, cell),
                                    interpolation=cv2.INTER_CUBIC))
    return crops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(SHARED / "videos" / "d0.mp4"))
    ap.add_argument("--still", default="d12.jpg", help="a file in ../shared/data/portraits/stills/ or a path")
    ap.add_argument("--mode", default="head", choices=("head", "face"))
    ap.add_argument("--out", default=str(REPO / "out" / "examples"))
    ap.add_argument("--interior", default="ict", choices=("ict", "synthetic"),
                    help="a still target's mouth interior (see core.warp.WarpSettings)")
    args = ap.parse_args(argv)
    still = Path(args.still) if Path(args.still).exists() else SHARED / "portraits" / "stills" / args.still
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"reenact_{Path(args.source).stem}_{still.stem}"
    video = out_dir / f"{stem}.mp4"
    model = load_model("builtin")
    pipe = ReenactmentPipeline(model, TransferSettings(mode=args.mode), WarpSettings(mouth_interior=args.interior))
    progress = ConsoleProgress("reenact")
    try:
        res = pipe.export(args.source, still, video, progress=progress)
    finally:
        progress.close()
    outs = list(read_frames(video))
    srcs = list(read_frames(args.source, len(outs)))
    pick = np.linspace(0, len(outs) - 1, 6).round().astype(int)
    g = grid([srcs[i] for i in pick], [outs[i] for i in pick])
    # a third row: the output's mouth close up (the interior is small at grid scale)
    g = np.concatenate([g, np.concatenate(mouth_closeups([outs[i] for i in pick]), 1)], 0)
    png = out_dir / f"{stem}_grid.png"
    cv2.imwrite(str(png), cv2.cvtColor(g, cv2.COLOR_RGB2BGR))
    print(f"{res.frames} frames -> {video}\ngrid (frames {', '.join(map(str, pick))}) -> {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
