"""Identity preservation of cross-reenactment: DAI (seed 001, Table 7.5) per target still (prints JSON).

The source ../shared/data/videos/d0.mp4 (its first ``--frames`` frames) drives three
stills from ../shared/data/portraits/stills/ (default d38, s1, d19: clear frontal faces)
in head mode (expression + pose + gaze) with the warp renderer (the built-in model,
as the app does). DAI is measured with an independent model, ICT-FaceKit: every
``--step``-th output frame is tracked and fitted alone with ``core.fitting.reconstruct``
and the identities averaged (the seed's "average identity" of a sequence), the
original still is fitted the same way, and

    DAI = || mean identity_ICT(output frames) - identity_ICT(still) ||_1

over ICT's 100 identity coefficients (std units); lower is better. (A whole-video fit
of the output against the still's one-frame fit is not comparable: on the unchanged
still repeated as a clip it already differs by ~120.) ``dai_mean_abs`` is the
same divided by the number of coefficients.

Rows per still:
- "warp": our output;
- "pwa": a 2D baseline: the still's 478 tracked points moved by the source's landmark
  motion relative to its first frame (scaled by the face-size ratio), then a
  piecewise-affine warp of the still (the source's face shape leaks into the target);
- "source": the source clip itself: what DAI would be if the source's identity
  replaced the target's (the ceiling).

    .venv/bin/python bench/bench_reenact_identity.py [--stills d38,s1,d19] [--frames 90]
"""
from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

from _common import CACHE, DATA

from bench_reenact_quality import PiecewiseAffineBaseline, cached_fit, cached_track, read_clip

from core.fitting.pipeline import reconstruct
from core.model.registry import load_model
from core.reenact.faces import FittedFace, fit_face
from core.reenact.transfer import TransferSettings, transfer_sequence
from core.warp import FrameRequest, WarpRenderer
from core.warp.fields import face_size
from core.tracking.tracker import track_frames, track_image



def ict_identity(frames: list[np.ndarray], ict, name: str, step: int = 1) -> np.ndarray:
    """Mean ICT identity coefficients (Ki,) over every ``step``-th frame, each frame fitted alone.

    Each frame is a one-frame fit (``track_image`` + ``reconstruct``), exactly as the still
    itself is fitted, so output and still are measured the same way; a whole-video fit
    would not be comparable with the still's one-frame fit (its identity prior and
    multi-frame evidence give different coefficients for the same face).
    """
    ids = []
    for i in range(0, len(frames), step):
        track = track_image(frames[i], source=f"{name}[{i}]")
        if track.valid[0]:
            ids.append(np.asarray(reconstruct(track, ict, "ict").identity, np.float64))
    if not ids:
        raise RuntimeError(f"{name}: no face tracked for the identity fit")
    return np.mean(ids, axis=0)


def relative_landmarks(target_pts: np.ndarray, source_pts: np.ndarray, source_ref: np.ndarray) -> np.ndarray:
    """The PWA baseline's driving points: target (478, 2) + (source - source reference) scaled
    by the ratio of face sizes (pixels)."""
    k = face_size(target_pts[:468]) / face_size(source_ref[:468])
    return target_pts[:, :2] + k * (source_pts[:, :2] - source_ref[:, :2])


def evaluate_still(still_name: str, frames_src, source: FittedFace, model, ict, step: int,
                   renderer_settings=None) -> dict:
    img = cv2.cvtColor(cv2.imread(str(DATA / "portraits" / "stills" / f"{still_name}.jpg")), cv2.COLOR_BGR2RGB)
    tr = track_image(img, source=f"{still_name}.jpg")
    target = fit_face(tr, model, name=f"{still_name}.jpg")
    n = len(frames_src)
    settings = TransferSettings(mode="head")
    driven = transfer_sequence(source.seq, target.seq, settings, model.expression_names,
                               model.expression_bounds, target_frames=np.zeros(n, int))
    renderer = WarpRenderer(model, renderer_settings)
    tface = target.target(model, 0)
    pwa = PiecewiseAffineBaseline(tr.landmarks[0])
    src_lm = source.track.landmarks
    ref = src_lm[int(np.flatnonzero(source.track.valid)[0])]
    outs = {"warp": [], "pwa": []}
    t = time.perf_counter()
    for i in range(n):
        d = target.driven(model, 0, driven.frame(i))  # head mode: the target's identity
        outs["warp"].append(renderer.render(FrameRequest(img, tface, d, 0)).image)
        pts = relative_landmarks(tr.landmarks[0], src_lm[i], ref) if source.track.valid[i] else tr.landmarks[0, :, :2]
        outs["pwa"].append(pwa.render(img, pts))
    render_s = time.perf_counter() - t
    id_still = ict_identity([img], ict, f"{still_name}.jpg")
    res = {"image_size": list(img.shape[:2]), "render_seconds": round(render_s, 1)}
    for m, clip in (("warp", outs["warp"]), ("pwa", outs["pwa"]), ("source", frames_src)):
        ident = ict_identity(clip, ict, f"{still_name}:{m}", step)
        d = np.abs(ident - id_still)
        res[m] = {"dai": round(float(d.sum()), 3), "dai_mean_abs": round(float(d.mean()), 4)}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stills", default="d38,s1,d19")
    ap.add_argument("--frames", type=int, default=90, help="source frames (d0 has 78)")
    ap.add_argument("--step", type=int, default=3, help="fit the identity on every step-th output frame")
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = load_model("builtin")
    ict = load_model("ict")
    frames, fps = read_clip(DATA / "videos" / "d0.mp4", args.frames)
    n = len(frames)
    track = cached_track(f"d0_{n}", lambda: track_frames(iter(frames), fps, max_frames=n, source="d0"))
    source = cached_fit(f"d0_{n}", track, model)
    results = {s.strip(): evaluate_still(s.strip(), frames, source, model, ict, args.step)
               for s in args.stills.split(",")}
    methods = ("warp", "pwa", "source")
    mean = {m: round(float(np.mean([results[s][m]["dai"] for s in results])), 3) for m in methods}
    print(json.dumps(dict(
        benchmark="reenact_identity", source="d0.mp4", frames=n, identity_every=args.step, mode="head",
        render_model=model.name,
        identity_model=ict.name, identity_coefficients=int(ict.num_identity), metric="DAI (L1, lower is better)",
        stills=results, mean=mean,
        warp_better_than_pwa_on_every_still=all(results[s]["warp"]["dai"] < results[s]["pwa"]["dai"] for s in results),
        seconds=round(time.perf_counter() - t0, 1)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
