"""Screenshots of the editor in each 3D viewport mode on a real clip (run under a display).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python tools/screenshot_editor.py \
        [--input CLIP] [--frames 40] [--frame 15] [--size 1500x950] [--out out/screenshots]

Opens the app's full window (every panel, as the app shows it, on a throwaway settings
file), reconstructs the clip's first ``--frames`` frames, opens the jaw and a smile with
the sliders at ``--frame`` (side-by-side view: original with the mesh overlay | edited)
and saves ``editor_<mode>.png`` (``win.grab()``) for every 3D viewport mode, then
``editor_preset_<preset>.png`` (the viewport alone) for the camera presets.
Exit code 0 when every PNG was written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "videos" / "d6.mp4"))
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--frame", type=int, default=15)
    ap.add_argument("--size", default="1500x950", help="window size WxH")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots"))
    args = ap.parse_args(argv)

    from app.viewport import MODES, PRESETS

    app, w = open_window(args.size)
    ed = w.editor
    ed.io.ask_to_save = False
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not w.open_media(args.input):
        print(f"error: could not open {args.input}", file=sys.stderr)
        return 2
    ed.reconstruct(max_frames=args.frames)
    if not wait_until(app, lambda: not w.job_running, 300) or w.job.outcome != "finished":
        print("error: the reconstruction failed", file=sys.stderr)
        return 1
    w.session.seek(args.frame)
    wait_until(app, lambda: w.session.index == args.frame, 5)
    ed.set_compare_mode("side_by_side")
    ed.select_component("jawOpen")
    rows = ed.expressions.rows
    rows["jawOpen"].slider.setValue(450)
    for n in ("mouthSmileLeft", "mouthSmileRight"):
        if n in rows:
            ed.doc.begin_gesture()
            rows[n].slider.setValue(600)
    # the full-resolution edited frame is on screen once the preview thread is idle
    shown = ed.preview.shown_count
    wait_until(app, lambda: ed.preview.shown_count > shown and ed.preview.worker.idle, 20)
    written = 0
    for mode in MODES:
        ed.set_viewport_mode(mode)
        # a frame of an earlier request may still arrive first: wait for the newest one
        wait_until(app, lambda: ed.viewport.up_to_date and ed.viewport.frames_rendered > 0, 5)
        wait_until(app, lambda: False, 0.2)  # the repaint
        p = out / f"editor_{mode}.png"
        written += bool(w.grab().save(str(p)))
        print(p)
    ed.set_viewport_mode("shaded")
    for preset in PRESETS:
        ed.set_viewport_preset(preset)
        wait_until(app, lambda: ed.viewport.up_to_date, 5)
        p = out / f"editor_preset_{preset}.png"
        written += bool(ed.viewport.grab_image().save(str(p)))
        print(p)
    w.shutdown()
    return 0 if written == len(MODES) + len(PRESETS) else 1


if __name__ == "__main__":
    sys.exit(main())
