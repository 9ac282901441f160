"""Screenshots of the editor in each 3D viewport mode on a real clip (run under a display).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python tools/screenshot_editor.py \
        [--input CLIP] [--frames 40] [--frame 12] [--out out/screenshots]

Opens the clip, reconstructs its first ``--frames`` frames, opens the jaw and a smile
with the sliders at ``--frame`` (side-by-side view), and saves ``editor_<mode>.png``
(``win.grab()``, which includes the GL viewport) for every viewport mode, plus
``editor_preset_<preset>.png`` for the camera presets.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _pump(app, seconds: float, until=None) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.01)
    return until() if until is not None else True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "videos" / "d6.mp4"))
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--frame", type=int, default=12)
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots"))
    args = ap.parse_args()

    from PySide6.QtCore import QSettings

    from app.gui_main import create_application
    from app.main_window import MainWindow
    from widgets.viewport3d import MODES, PRESETS

    app = create_application()
    tmp = tempfile.mkdtemp()
    w = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
    w.editor.ask_to_save = False
    w.resize(1500, 950)
    w.show()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not w.open_media(args.input):
        return 1
    w.editor.reconstruct(max_frames=args.frames)
    if not _pump(app, 300, lambda: not w.job_running) or w.job.outcome != "finished":
        print("reconstruction failed", file=sys.stderr)
        return 1
    w.session.seek(args.frame)
    _pump(app, 5, lambda: w.session.index == args.frame)
    w.editor.set_compare_mode("side_by_side")
    w.editor.select_component("jawOpen")
    rows = w.editor.expressions.rows
    rows["jawOpen"].slider.setValue(450)
    for n in ("mouthSmileLeft", "mouthSmileRight"):
        if n in rows:
            w.editor.doc.begin_gesture()
            rows[n].slider.setValue(600)
    _pump(app, 2.0)
    for mode in MODES:
        w.editor.set_viewport_mode(mode)
        _pump(app, 0.5)
        p = out / f"editor_{mode}.png"
        w.grab().save(str(p))
        print(p)
    w.editor.set_viewport_mode("shaded")
    for preset in PRESETS:
        w.editor.set_viewport_preset(preset)
        _pump(app, 0.4)
        p = out / f"editor_preset_{preset}.png"
        w.editor.viewport.grabFramebuffer().save(str(p))
        print(p)
    w.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
