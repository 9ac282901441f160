"""Playback cost of the main window shell: decode time (reader thread) and display time (GUI thread).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python bench/bench_gui_playback.py [VIDEO]

Prints JSON with medians (ms): sequential and random ``read(i)`` of core.video on the reader
side, ``VideoView.set_frame`` on the GUI side, and the frame rate MediaSession playback
reaches in the real window for 3 s (with the clip's nominal fps for comparison).
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import REPO


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else str(REPO.parent / "shared" / "data" / "videos" / "obama.mp4")
    from PySide6.QtCore import QSettings

    from app.gui_main import create_application
    from app.main_window import MainWindow
    from core.video import open_source

    app = create_application()
    with open_source(path) as src:
        n = src.frame_count
        seq = []
        for i in range(min(n, 60)):
            t0 = time.perf_counter()
            frame = src.read(i)
            seq.append(time.perf_counter() - t0)
        rng = np.random.default_rng(0)
        rnd = []
        for i in rng.integers(0, n, 20):
            t0 = time.perf_counter()
            src.read(int(i))
            rnd.append(time.perf_counter() - t0)
        h, w = src.size

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "b.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1200, 820)
    win.show()
    app.processEvents()
    disp = []
    for _ in range(30):
        t0 = time.perf_counter()
        win.view.set_frame(frame)
        app.processEvents()
        disp.append(time.perf_counter() - t0)

    win.open_media(path)
    nominal_fps = win.session.fps
    shown, times = [], []
    win.session.frame_shown.connect(lambda i, f: (shown.append(i), times.append(time.perf_counter())))
    win.session.play()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 3.0 and win.session.playing:  # stops by itself at the end
        app.processEvents()
        time.sleep(0.001)
    win.session.pause()
    elapsed = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    gaps = np.diff(times) * 1000 if len(times) > 1 else np.zeros(1)
    win.close()

    ms = lambda v: round(float(np.median(v)) * 1000, 2)  # noqa: E731
    print(json.dumps(dict(
        video=Path(path).name, size=[h, w], frames=n, nominal_fps=round(nominal_fps, 2),
        decode_sequential_ms_median=ms(seq), decode_random_ms_median=ms(rnd),
        display_set_frame_ms_median=ms(disp),
        playback_frames_shown=len(shown), playback_fps=round((len(shown) - 1) / elapsed, 1),
        playback_frames_dropped=(shown[-1] - shown[0] + 1 - len(shown)) if shown else None,
        playback_max_gap_ms=round(float(gaps.max()), 1),
    ), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
