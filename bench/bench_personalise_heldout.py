"""Personalisation as the product uses it, measured on frames it never saw. Prints JSON.

For each clip (d6, d9, d12 by default; tracks cached in out/cache/) the built-in model is
personalised (core/model/personalise.py, the code ``FitSettings.personalise`` runs) on the
first ``--train`` share of the frames; then the app's whole-video fit (landmarks only: no
image motion, no corrective, so the figure is the model's, not the image evidence's) fits
the remaining frames with the generic and with the personalised model. Reported per model:
mean landmark error of the fitted tracker points against the tracked ones, in % of the
inter-ocular distance (outer eye corners of the fitted landmarks68), mean over held-out frames.
Usage: python bench/bench_personalise_heldout.py [--clips d6 d9 d12] [--train 0.8]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from _common import VIDEOS, cached_track


def held_out(track, start: int):
    """The TrackResult of frames ``start``.. of ``track`` (every per-frame array sliced)."""
    from core.tracking.result import TrackResult

    arrays = track.to_arrays()
    per_frame = ("landmarks", "landmarks_raw", "valid", "bridged", "segment", "blendshapes", "pose", "n_faces")
    return TrackResult.from_arrays({k: (v[start:] if k in per_frame else v) for k, v in arrays.items()}, "held-out")


def error_pct_iod(rec) -> float:
    """Mean over fitted frames of the fit's landmark error / IOD, in %."""
    iod = np.linalg.norm(rec.landmarks68[:, 36] - rec.landmarks68[:, 45], axis=1)
    ok = rec.valid & np.isfinite(rec.fit_error_px)
    return round(100 * float(np.mean(rec.fit_error_px[ok] / iod[ok])), 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="+", default=["d6", "d9", "d12"])
    ap.add_argument("--train", type=float, default=0.8)
    args = ap.parse_args()
    from core.fitting import FitSettings, reconstruct
    from core.model.personalise import personalise
    from core.model.registry import load_model

    generic = load_model("builtin")
    # landmarks only: the image-motion stage and the corrective would mask the model's own fit
    fs = FitSettings(image_motion_frames=0, corrective=False)
    out = {"train_share": args.train, "settings": fs.to_dict()}
    for clip in args.clips:
        tr = cached_track(VIDEOS / f"{clip}.mp4", clip)
        cut = int(args.train * tr.num_frames)
        mine = personalise(generic, tr, frames=np.arange(cut))
        test = held_out(tr, cut)
        g = reconstruct(test, generic, "builtin", fs)
        p = reconstruct(test, mine, "builtin", fs)
        out[clip] = dict(train_frames=cut, held_out_frames=int(test.valid.sum()),
                         generic_error_pct_iod=error_pct_iod(g), personalised_error_pct_iod=error_pct_iod(p))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
