"""Screenshot of the expression sliders after reconstructing a clip (run under a display).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/screenshot_sliders.py \
        [--input CLIP] [--frames 0] [--frame 200] [--model builtin] [--personalise] \
        [--size 1600x1000] [--out out/screenshots]

Opens the app's full window (every panel, on a throwaway settings file), reconstructs the
clip (``--frames 0``: all of it, as a user would: the neutral calibration reads the clip's
calm frames) with the editor's model, moves to ``--frame`` without touching a slider and
saves ``sliders_<clip>_<model>.png`` (the window, ``win.grab()``) and
``sliders_<clip>_<model>_panel.png`` (every row of the Expressions panel, also the ones
scrolled out of view). Prints, as JSON, the fitted values at that frame (largest first) and
over the clip (median and 95th percentile per component): what the sliders show.
Exit code 0 when both PNGs were written.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "videos" / "d9.mp4"))
    ap.add_argument("--frames", type=int, default=0, help="reconstruct at most this many frames (0: all)")
    ap.add_argument("--frame", type=int, default=200)
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--personalise", action="store_true")
    ap.add_argument("--size", default="1600x1000", help="window size WxH")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots"))
    args = ap.parse_args(argv)

    import numpy as np

    app, w = open_window(args.size)
    ed = w.editor
    ed.io.ask_to_save = False
    ed.model_spec = args.model
    if args.personalise:
        ed.actions.personalise.setChecked(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not w.open_media(args.input):
        print(f"error: could not open {args.input}", file=sys.stderr)
        return 2
    ed.reconstruct(max_frames=args.frames or None)
    if not wait_until(app, lambda: not w.job_running, 900) or w.job.outcome != "finished":
        print("error: the reconstruction failed", file=sys.stderr)
        return 1
    # the rows are built over several event-loop turns after the result arrives
    wait_until(app, lambda: not ed.result_pending and not ed.expressions.building, 30)
    rec = ed.doc.rec
    frame = min(args.frame, rec.num_frames - 1)
    w.session.seek(frame)
    wait_until(app, lambda: w.session.index == frame, 10)
    wait_until(app, lambda: False, 0.5)  # the panel's values and the repaint
    stem = f"sliders_{Path(args.input).stem}_{args.model}{'_personalised' if args.personalise else ''}"
    written = bool(w.grab().save(str(out / f"{stem}.png")))
    body = ed.expressions._body  # noqa: SLF001 (the scroll area's contents: every row)
    body.resize(body.width(), body.sizeHint().height())
    written += bool(body.grab().save(str(out / f"{stem}_panel.png")))
    names = [str(n) for n in rec.expression_names]
    E = np.asarray(rec.expression, float)[np.asarray(rec.valid, bool)]
    at = np.asarray(rec.expression[frame], float)
    order = np.argsort(-np.abs(at))
    print(json.dumps(dict(
        input=args.input, model=args.model, personalised=bool(rec.is_personalised), frames=int(rec.num_frames),
        frame=frame, png=[str(out / f"{stem}.png"), str(out / f"{stem}_panel.png")],
        largest_at_frame={names[k]: round(float(at[k]), 3) for k in order[:10]},
        clip_median_top={names[k]: round(float(v), 3) for k, v in sorted(
            enumerate(np.median(E, 0)), key=lambda kv: -abs(kv[1]))[:10]},
        clip_p95_top={names[k]: round(float(v), 3) for k, v in sorted(
            enumerate(np.percentile(E, 95, 0)), key=lambda kv: -abs(kv[1]))[:10]},
    ), indent=1))
    w.shutdown()
    return 0 if written == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
