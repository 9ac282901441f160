"""Expression values against MediaPipe's blendshape scores on the talking-head clips. Prints JSON.

For each clip of ../shared/data/videos (all by default; tracks cached in out/cache/) the
whole-video fit (the app's: filtered landmarks, image-motion refinement; the corrective is
skipped because it does not change the coefficients) is compared with the tracker's own
52 ARKit scores by core/qa/expressions.py:

- lower_calm_p95: on frames where MediaPipe's mouth/jaw/cheek/nose scores are all < 0.1,
  the 95th percentile of the largest fitted mouth/jaw/cheek/nose coefficient (target <= 0.15);
- upper_calm_p95: the same for brow/squint/wide/blink, MediaPipe read against the clip's
  neutral reference (median score over its calmest 10 % of frames);
- correlation_median: median Pearson r over (clip, shape) pairs with MediaPipe std > 0.05
  (target >= 0.7);
- asymmetry: mean |Left - Right| of the fitted pair on frames MediaPipe reads as symmetric.

Per clip also the calm figures, the correlations and the shapes with the largest median
coefficient (what the sliders of that clip show most of the time).
Usage: python bench/bench_expressions.py [--models ict builtin] [--clips d6 d9 ...]
       [--settings JSON] [--per-frame]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench_fitting import SHARED, cached_track  # noqa: E402  (also puts the repo on sys.path)

ALL_CLIPS = sorted(p.stem for p in (SHARED / "data" / "videos").glob("*.mp4"))


def _p95(values: np.ndarray) -> float | None:
    """The 95th percentile of ``values`` rounded to 3 decimals (None when empty)."""
    return round(float(np.percentile(values, 95)), 3) if values.size else None


def fit_clip(clip: str, model, spec: str, settings, per_frame: bool = False):
    from core.fitting import clip_frames, reconstruct

    video = SHARED / "data" / "videos" / f"{clip}.mp4"
    tr = cached_track(video, clip)
    frames = None if per_frame else clip_frames(str(video), tr.num_frames)
    t0 = time.perf_counter()
    rec = reconstruct(tr, model, spec, settings, per_frame=per_frame, frames=frames)
    return tr, rec, time.perf_counter() - t0


def model_with_neutral(spec: str, neutral):
    """``spec`` ("builtin" or "ict") with another tracker neutral than the shipped one (a fresh model)."""
    if spec == "builtin":
        from core.model.builtin import build_builtin_model
        return build_builtin_model(neutral=neutral)
    from core.model.embedding import attach_tracker_embedding
    from core.model.ict import load_ict_npz
    from core.model.registry import find_ict
    from core.model.tracker_neutral import reembed_from_neutral
    return reembed_from_neutral(attach_tracker_embedding(load_ict_npz(find_ict())), neutral)


def run(models, clips, settings_json: str = "{}", per_frame: bool = False, top: int = 6,
        neutral_loo: bool = False) -> dict:
    from core.fitting import FitSettings
    from core.model.registry import load_model
    from core.qa.expressions import expression_report, summarise

    from core.model.personalise import average_neutral

    out = {"settings": json.loads(settings_json), "per_frame": per_frame, "neutral_leave_one_out": neutral_loo}
    tracks = {c: cached_track(SHARED / "data" / "videos" / f"{c}.mp4", c) for c in ALL_CLIPS} if neutral_loo else {}
    for spec in models:
        model = load_model(spec)
        fs = FitSettings(**{"corrective": False, **json.loads(settings_json)})
        reports, per_clip = {}, {}
        for clip in clips:
            m = model
            if neutral_loo:   # the tracker's neutral from the other clips only
                m = model_with_neutral(spec, average_neutral([t for c, t in tracks.items() if c != clip]))
            tr, rec, secs = fit_clip(clip, m, spec, fs, per_frame)
            r = expression_report(rec.expression, rec.expression_names, tr.blendshapes, tr.blendshape_names,
                                  rec.valid & tr.valid)
            reports[clip] = r
            med = sorted(r["median_fitted"].items(), key=lambda kv: -kv[1])[:top]
            corr = r["correlations"]
            per_clip[clip] = dict(
                frames=r["n_frames"], fit_s=round(secs, 2),
                lower_calm_frames=r["n_lower_calm"],
                lower_calm_p95=_p95(r["lower_calm_max"]),
                upper_calm_frames=r["n_upper_calm"],
                upper_calm_p95=_p95(r["upper_calm_max"]),
                correlation_median=round(float(np.median(list(corr.values()))), 3) if corr else None,
                correlations={k: round(v, 2) for k, v in sorted(corr.items())},
                asymmetry={k: round(v, 3) for k, v in sorted(r["asymmetry"].items())},
                largest_median_coefficients={k: round(v, 2) for k, v in med},
            )
        summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in summarise(reports).items()}
        out[spec] = dict(summary=summary, clips=per_clip)
    return out


def rest_scores(clips) -> dict:
    """Per MediaPipe score, the median over clips of each clip's neutral reference (the median
    over its calmest 10 % of frames): ``core.fitting.priors.REST_SCORES``."""
    from core.fitting.priors import calm_reference

    refs, names = [], None
    for clip in clips:
        tr = cached_track(SHARED / "data" / "videos" / f"{clip}.mp4", clip)
        refs.append(calm_reference(tr.blendshapes, tr.blendshape_names, tr.valid))
        names = [str(n) for n in tr.blendshape_names]
    med = np.median(np.array(refs), axis=0)
    return {n: round(float(v), 3) for n, v in zip(names, med) if n != "_neutral" and not n.startswith("eyeLook")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["ict", "builtin"])
    ap.add_argument("--clips", nargs="+", default=ALL_CLIPS)
    ap.add_argument("--settings", default="{}", help="JSON of FitSettings overrides")
    ap.add_argument("--per-frame", action="store_true", help="the live per-frame fitter instead")
    ap.add_argument("--neutral-loo", action="store_true",
                    help="the tracker's neutral (core/model/tracker_neutral.py) rebuilt without the clip evaluated")
    ap.add_argument("--rest-scores", action="store_true",
                    help="print MediaPipe's rest scores (core/fitting/priors.py REST_SCORES) and exit")
    args = ap.parse_args()
    if args.rest_scores:
        print(json.dumps(rest_scores(args.clips), indent=1))
        return
    out = run(args.models, args.clips, args.settings, args.per_frame, neutral_loo=args.neutral_loo)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
