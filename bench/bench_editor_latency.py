"""Slider-to-updated-frame latency of the expression editor (prints JSON).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/bench_editor_latency.py \
        [--input CLIP] [--frames 30] [--moves 40]

Opens a 512x512 clip (d3.mp4), reconstructs its first ``--frames`` frames, then moves
the jawOpen / mouthSmileLeft sliders ``--moves`` times, one at a time, each time
waiting for the edited frame to reach the view (the warp render runs on the preview
thread; newest request wins). Two kinds of move:

- ``click``: the value is set with the slider not held (a click, a key, the wheel):
  the full-resolution frame is rendered;
- ``drag``: the slider is held (``setSliderDown``), as while dragging: previews are
  rendered at reduced resolution; ``release`` is the time from letting go to the
  full-resolution frame.

Latency = slider value set -> edited frame handed to the view (``to_view``) and ->
after the event-loop turn that paints it (``painted``). Also: the GUI-thread part of
a move (slider -> edits, panel, viewport mesh, overlays, curves).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import REPO


def stats(values) -> dict:
    a = np.asarray(values, float)
    return {"median": round(float(np.median(a)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "max": round(float(a.max()), 1), "n": int(a.size)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "videos" / "d3.mp4"))
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--moves", type=int, default=40)
    args = ap.parse_args()
    from PySide6.QtCore import QSettings

    from app.gui_main import create_application
    from app.main_window import MainWindow

    app = create_application()
    w = MainWindow(settings=QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat))
    w.editor.io.ask_to_save = False
    w.resize(1300, 860)
    w.show()

    def pump(until, timeout=60.0):
        t = time.perf_counter()
        while time.perf_counter() - t < timeout:
            app.processEvents()
            if until():
                return True
            time.sleep(0.001)
        return False

    assert w.open_media(args.input)
    w.editor.reconstruct(max_frames=args.frames)
    pump(lambda: not w.job_running, 300)
    w.session.seek(args.frames // 2)
    pump(lambda: w.session.index == args.frames // 2)
    ed = w.editor
    rng = np.random.default_rng(0)

    def move(slider, value) -> tuple[float, float, float, bool] | None:
        """Set ``value``; (gui ms, to-view ms, painted ms, full resolution) or None on timeout."""
        n_before = ed.preview.shown_count
        t0 = time.perf_counter()
        slider.setValue(value)
        gui = (time.perf_counter() - t0) * 1000.0
        if not pump(lambda: ed.preview.shown_count > n_before, 10):
            return None
        to_view = (time.perf_counter() - t0) * 1000.0
        app.processEvents()  # the turn that repaints the view
        return gui, to_view, (time.perf_counter() - t0) * 1000.0, getattr(ed, "last_preview_full", True)

    out = {"clip": args.input, "size": list(w.session.frame.shape[:2]), "model": ed.doc.rec.model_name,
           "moves": args.moves}
    # warm-up (renderer construction, first-use caches)
    move(ed.expressions.rows["jawOpen"].slider, 500)
    for kind in ("click", "drag"):
        res, release = [], []
        for k in range(args.moves):
            slider = ed.expressions.rows[("jawOpen", "mouthSmileLeft")[k % 2]].slider
            if kind == "drag":
                slider.setSliderDown(True)  # emits sliderPressed, as a mouse press does
            r = move(slider, int(rng.integers(100, 900)))
            if r is not None:
                res.append(r)
            if kind == "drag":
                reduced = not getattr(ed, "last_preview_full", True)  # (code without drag previews: full)
                n_before = ed.preview.shown_count
                t0 = time.perf_counter()
                slider.setSliderDown(False)  # release: the full-resolution frame follows
                if reduced and pump(lambda: ed.preview.shown_count > n_before and ed.preview.last_full, 10):
                    release.append((time.perf_counter() - t0) * 1000.0)
        out[kind] = {"slider_to_frame_ms": stats([r[1] for r in res]),
                     "slider_to_painted_ms": stats([r[2] for r in res]),
                     "gui_thread_update_ms": stats([r[0] for r in res]),
                     "full_resolution_frames": int(sum(r[3] for r in res))}
        if release:
            out[kind]["release_to_full_frame_ms"] = stats(release)
    w.shutdown()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
