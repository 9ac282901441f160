"""Derive the tracker's average neutral face (core/model/tracker_neutral.py) from clips.

Data: the talking-head clips of ../shared/data/videos (tracks cached in out/cache/ by the
benches). Per clip, the calmest 10 % of frames by MediaPipe's own blendshape activity (gaze
excluded), raw detections, each frame's similarity onto the canonical mesh removed; the
clip's mean; then the mean over clips (each person counts once). The expression bench's
``--neutral-loo`` rebuilds it without the clip it evaluates (leave one clip out), so its
figures are held out.

Writes ``resources/rig/tracker_neutral.json``: {"provenance", "clips", "points": (478, 3) cm}.
Usage: python tools/fit_tracker_neutral.py [--clips d0 d3 ...] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    from bench_expressions import ALL_CLIPS
    from bench_fitting import SHARED, cached_track

    from core.model.personalise import average_neutral
    from core.model.tracker_neutral import NEUTRAL_FILE

    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="+", default=ALL_CLIPS)
    ap.add_argument("--out", default=str(NEUTRAL_FILE))
    args = ap.parse_args()
    tracks = [cached_track(SHARED / "data" / "videos" / f"{c}.mp4", c) for c in args.clips]
    A = average_neutral(tracks)
    from core.model.builtin import build_builtin_model
    canon = build_builtin_model(tracker_neutral=False).mean.astype(np.float64)
    d = np.linalg.norm(A - canon, axis=1) * 10
    Path(args.out).write_text(json.dumps({
        "provenance": "tools/fit_tracker_neutral.py: mean over clips of the pose-normalised raw MediaPipe "
                      "points on each clip's calmest 10 % of frames (cm, canonical mesh frame)",
        "clips": list(args.clips),
        "points": np.round(A, 4).tolist()}))
    print(json.dumps({"clips": len(tracks), "offset_from_canonical_mm_median": round(float(np.median(d)), 2),
                      "offset_from_canonical_mm_p90": round(float(np.percentile(d, 90)), 2)}))


if __name__ == "__main__":
    main()
