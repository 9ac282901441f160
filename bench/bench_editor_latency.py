"""Slider-to-updated-frame latency of the expression editor (prints JSON).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/bench_editor_latency.py \
        [--input CLIP] [--frames 30] [--moves 40]

Opens a 512x512 clip (d3.mp4), reconstructs its first ``--frames`` frames, then moves
the jawOpen / mouthSmileLeft sliders ``--moves`` times, one at a time, each time
waiting for the edited frame to reach the view. Latency = slider value set ->
edited frame shown (the warp render runs on the preview thread; newest request
wins). Also: the viewport mesh update (the GUI-thread part) per move.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


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
    w.editor.ask_to_save = False
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
    lat, gui = [], []
    for k in range(args.moves):
        name = ("jawOpen", "mouthSmileLeft")[k % 2]
        n_before = len(ed.preview_latencies_ms)
        t0 = time.perf_counter()
        ed.expressions.rows[name].slider.setValue(int(rng.integers(100, 900)))
        gui.append((time.perf_counter() - t0) * 1000.0)  # slider -> edits, panel, viewport mesh, overlays
        ok = pump(lambda: len(ed.preview_latencies_ms) > n_before, 10)
        if ok:
            lat.append((time.perf_counter() - t0) * 1000.0)
    h, wd = w.session.frame.shape[:2]
    w.shutdown()
    print(json.dumps({
        "clip": args.input, "size": [h, wd], "model": ed.doc.rec.model_name, "moves": args.moves,
        "slider_to_frame_ms": {"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)),
                               "n": len(lat)},
        "gui_thread_update_ms": {"median": float(np.median(gui)), "p95": float(np.percentile(gui, 95))},
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
