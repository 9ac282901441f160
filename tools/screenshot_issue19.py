"""Screenshots of what issue 19 changed, in the app's real window (run under a display).

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/screenshot_issue19.py \
        [--size 1600x1000] [--out out/screenshots/issue19] [--only NAME ...]

Writes, each from the app as a person would drive it:

- ``curves.png``: the curve editor with three colour-coded curves (the channel list is the
  legend), box-selected keys, a constant key, a pending (orange, unkeyed) slider value, auto-key
  off, the key panel;
- ``qa_side_by_side.png``: d9 (15:16 pixels, shown square) side by side with "Original" /
  "Edited" captions, the fit-error heat and 3D flow arrows with their legends, the viewport's
  flow colour with its legend;
- ``qa_worst_frame.png``: the fit-error plot with the worst frames marked, after ] went to the worst;
- ``qa_fix_fit.png``: correcting the fit: the handles, a pinned point (magenta cross) and the
  re-solved mesh;
- ``qa_viewport_maximised.png``: the 3D viewport given the whole window (Ctrl+Space);
- ``progress.png``: the status bar while tracking a clip (frames done of the total, the rate);
- ``live_panel.png`` and ``live_presenter.png``: the live panel (gallery, REC, readout) and
  the presenter view while recording;
- ``theme_dark.png``: the window in the dark theme.

Prints each path; exit code 0 when all were written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)

VIDEOS = REPO.parent / "shared" / "data" / "videos"
STILLS = REPO.parent / "shared" / "data" / "portraits" / "stills"
NAMES = ("curves", "qa_side_by_side", "qa_worst_frame", "qa_fix_fit", "qa_viewport_maximised", "progress",
         "live_panel", "theme_dark")


def settle(app, win, seconds: float = 0.6) -> None:
    ed = win.editor
    wait_until(app, lambda: ed.preview.worker.idle and ed.viewport.up_to_date and not win.job_running, 30)
    wait_until(app, lambda: False, seconds)


def reconstruct(app, win, clip: Path, frames: int) -> bool:
    if not win.open_media(str(clip)):
        return False
    win.editor.reconstruct(max_frames=frames)
    return wait_until(app, lambda: not win.job_running, 900) and win.job.outcome == "finished"


def seek(app, win, f: int) -> None:
    win.session.seek(f)
    wait_until(app, lambda: win.session.index == f, 10)


def shot_curves(app, win, out: Path) -> Path:
    ed = win.editor
    reconstruct(app, win, VIDEOS / "d6.mp4", 60)
    ed.set_compare_mode("edited")
    ed.set_auto_key(True)
    rows = ed.expressions.rows
    for f, vals in ((5, {"jawOpen": 0.0, "mouthSmileLeft": 0.1, "browInnerUp": 0.0}),
                    (20, {"jawOpen": 0.5, "mouthSmileLeft": 0.45, "browInnerUp": 0.3}),
                    (38, {"jawOpen": 0.15, "mouthSmileLeft": 0.1, "browInnerUp": 0.6}),
                    (52, {"jawOpen": 0.45, "mouthSmileLeft": -0.2, "browInnerUp": 0.0})):
        seek(app, win, f)
        for n, v in vals.items():
            ed.doc.begin_gesture()
            rows[n].slider.setValue(int(v * 1000))
    ed.doc.set_key_type([("jawOpen", 20)], "constant")
    ed.doc.set_key_type([("browInnerUp", 38)], "flat")
    ed.set_show_edited(True)
    ed.curves.set_show_edited(True)
    ed.select_component("jawOpen")
    ed.set_auto_key(False)
    seek(app, win, 30)
    rows["jawOpen"].slider.setValue(650)  # auto-key off: shown in orange until K
    c = ed.curves
    c.frame_all()
    c.select_keys([("jawOpen", 20), ("mouthSmileLeft", 20), ("browInnerUp", 38)])
    ed.panels.curves_dock.raise_()
    settle(app, win, 1.0)
    p = out / "curves.png"
    win.grab().save(str(p))
    return p


def shot_side_by_side(app, win, out: Path) -> Path:
    ed = win.editor
    reconstruct(app, win, VIDEOS / "d9.mp4", 40)
    seek(app, win, 15)
    ed.set_auto_key(True)
    ed.expressions.rows["jawOpen"].slider.setValue(450)
    ed.expressions.rows["mouthSmileLeft"].slider.setValue(400)
    ed.set_compare_mode("side_by_side")
    for n in ("error", "flow"):
        ed.set_overlay(n, True)
    ed.set_viewport_mode("flow")
    settle(app, win, 1.5)
    p = out / "qa_side_by_side.png"
    win.grab().save(str(p))
    for n in ("error", "flow"):
        ed.set_overlay(n, False)
    return p


def shot_worst(app, win, out: Path) -> Path:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    ed = win.editor
    ed.set_compare_mode("edited")
    ed.set_viewport_mode("shaded")
    ed.panels.fit_error_dock.raise_()
    win.activateWindow()
    wait_until(app, lambda: False, 0.3)
    QTest.keyClick(win, Qt.Key.Key_BracketRight)
    wait_until(app, lambda: ed.worst and win.session.index == ed.worst[0], 10)
    ed.set_overlay("error", True)
    settle(app, win, 1.0)
    p = out / "qa_worst_frame.png"
    win.grab().save(str(p))
    ed.set_overlay("error", False)
    return p


def shot_fix_fit(app, win, out: Path) -> Path:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    ed = win.editor
    ed.set_fixing_fit(True)
    settle(app, win)
    handles = ed.panels.overlay_items["handles"]
    pts, ids = handles.handle_positions()
    k = 57  # the lower lip
    vp = win.view.viewport()
    a, b = win.view.image_to_view(*pts[k]), win.view.image_to_view(pts[k][0], pts[k][1] + 10)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, pos, button, buttons in ((QEvent.Type.MouseButtonPress, a, left, left),
                                       (QEvent.Type.MouseMove, (a + b) / 2, none, left),
                                       (QEvent.Type.MouseMove, b, none, left),
                                       (QEvent.Type.MouseButtonRelease, b, left, none)):
        QApplication.sendEvent(vp, QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos.toPoint())), button,
                                               buttons, Qt.KeyboardModifier.NoModifier))
    wait_until(app, lambda: bool(ed.doc.pins) and not win.job_running, 120)
    win.view.zoom_by(2.0)
    win.view.centerOn(win.view._content.mapToScene(QPointF(*pts[k])))  # noqa: SLF001 (a closer look)
    settle(app, win, 1.0)
    p = out / "qa_fix_fit.png"
    win.grab().save(str(p))
    ed.set_fixing_fit(False)
    win.view.fit_to_window()
    return p


def shot_maximised(app, win, out: Path) -> Path:
    ed = win.editor
    ed.set_viewport_mode("textured")
    ed.panels.set_viewport_maximised(True)
    ed.viewport.orbit(25, 10)
    settle(app, win, 1.0)
    p = out / "qa_viewport_maximised.png"
    win.grab().save(str(p))
    ed.panels.set_viewport_maximised(False)
    return p


def shot_progress(app, win, out: Path) -> Path:
    win.open_media(str(VIDEOS / "d3.mp4"))
    win.track(user=True)
    wait_until(app, lambda: "frames/s" in win.statusBar().currentMessage() or not win.job_running, 300)
    p = out / "progress.png"
    win.grab().save(str(p))
    win.cancel_job()
    wait_until(app, lambda: not win.job_running, 60)
    return p


def shot_live(app, win, out: Path) -> list[Path]:
    from PySide6.QtCore import Qt

    ctl = win.controllers["reenact"]
    ctl.settings.setValue("reenact/record_dir", str(out))
    ctl.add_targets([str(STILLS / n) for n in ("s10.jpg", "d12.jpg", "s42.jpg")], choose=False)
    h = win.height()
    ctl.dock.show()
    ctl.dock.raise_()
    win.resizeDocks([ctl.dock], [int(h * 0.62)], Qt.Orientation.Vertical)
    ctl.panel.set_settings_visible(False)
    ctl.panel.set_source(f"simcam:{VIDEOS / 'd6.mp4'}")
    ctl.panel.set_target(str(STILLS / "s42.jpg"), emit=False)
    ctl.start()
    wait_until(app, lambda: ctl.running, 180)
    wait_until(app, lambda: False, 3.0)
    ctl.toggle_quick_record()
    wait_until(app, lambda: False, 3.2)
    ctl.panel.set_presenter_visible(True)
    ctl.panel.presenter.resize(960, 600)
    wait_until(app, lambda: False, 1.0)
    paths = [out / "live_panel.png", out / "live_presenter.png"]
    win.grab().save(str(paths[0]))
    ctl.panel.presenter.grab().save(str(paths[1]))
    ctl.panel.set_presenter_visible(False)
    ctl.stop_recording()
    wait_until(app, lambda: not ctl.recording, 60)
    ctl.stop()
    wait_until(app, lambda: not ctl.busy and not ctl.running, 30)
    ctl.panel.set_settings_visible(True)
    return paths


def shot_dark(app, win, out: Path) -> Path:
    ed = win.editor
    win.set_theme("dark")
    ed.panels.curves_dock.raise_()
    settle(app, win, 1.0)
    p = out / "theme_dark.png"
    win.grab().save(str(p))
    win.set_theme("light")
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1600x1000", help="window size WxH")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "issue19"))
    ap.add_argument("--only", nargs="*", default=list(NAMES), choices=NAMES)
    args = ap.parse_args(argv)
    app, win = open_window(args.size)
    win.editor.io.ask_to_save = False
    win.set_theme("light")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    written = []
    steps = {"curves": shot_curves, "qa_side_by_side": shot_side_by_side, "qa_worst_frame": shot_worst,
             "qa_fix_fit": shot_fix_fit, "qa_viewport_maximised": shot_maximised, "progress": shot_progress,
             "live_panel": shot_live, "theme_dark": shot_dark}
    for name in NAMES:
        if name not in args.only:
            continue
        result = steps[name](app, win, out)
        for p in result if isinstance(result, list) else [result]:
            written.append(p)
            print(p, flush=True)
    print(f"{len(written)} screenshots in {time.monotonic() - t0:.0f} s")
    win.shutdown()
    return 0 if all(p.is_file() for p in written) else 1


if __name__ == "__main__":
    sys.exit(main())
