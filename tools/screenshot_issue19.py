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
- ``slider_typing.png`` / ``slider_typed.png``: the expression panel with a value being typed
  over a slider (double-click), then the row with the typed offset;
- ``qa_viewport_maximised.png``: the 3D viewport given the whole window (Ctrl+Space);
- ``qa_viewport_detached.png``: the whole screen with the 3D viewport in a window of its own;
- ``progress_reconstruct.png``: the status bar during a reconstruction (a named stage, its counts),
  and ``progress_reconstruct.txt``: every status line the reconstruction showed;
- ``progress.png``: the status bar while tracking a clip (frames done of the total, the rate);
- ``live_panel.png``, ``live_presenter.png`` and ``live_presenter_wide.png``: the live panel
  (gallery, REC, readout) and the presenter view while recording, at 960x600 and 1600x900;
- ``theme_light.png`` / ``theme_dark.png``: the same window in the light and the dark theme.

Prints each path; exit code 0 when all were written.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)

VIDEOS = REPO.parent / "shared" / "data" / "videos"
STILLS = REPO.parent / "shared" / "data" / "portraits" / "stills"
NAMES = ("curves", "slider_typing", "qa_side_by_side", "qa_worst_frame", "qa_fix_fit", "qa_viewport_maximised",
         "qa_viewport_detached", "theme_dark", "progress", "live_panel")  # (in this order: each goes on from the last)


def settle(app, win, seconds: float = 0.6) -> None:
    ed = win.editor
    wait_until(app, lambda: ed.preview.worker.idle and ed.viewport.up_to_date and not win.job_running, 30)
    wait_until(app, lambda: False, seconds)


def reconstruct(app, win, clip: Path, frames: int, progress_shot: Path | None = None) -> bool:
    """Open ``clip`` and reconstruct its first ``frames`` frames; with ``progress_shot``, grab the
    window when the status bar first names a fitting stage, and keep every status line beside it."""
    if not win.open_media(str(clip)):
        return False
    said: list[str] = []

    def on_message(msg: str) -> None:
        # the first fitting stage is grabbed as it is shown
        if msg and (not said or msg != said[-1]):
            said.append(msg)
            if progress_shot is not None and not progress_shot.exists() and msg.startswith("Reconstructing") \
                    and "fitting:" in msg:
                win.grab().save(str(progress_shot))

    win.statusBar().messageChanged.connect(on_message)
    win.editor.reconstruct(max_frames=frames)
    ok = wait_until(app, lambda: not win.job_running, 900) and win.job.outcome == "finished"
    win.statusBar().messageChanged.disconnect(on_message)
    if progress_shot is not None:
        (progress_shot.with_suffix(".txt")).write_text("\n".join(said) + "\n")  # every status line shown
    return ok


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


def shot_slider_typing(app, win, out: Path) -> list[Path]:
    """A value typed over the jawOpen slider (the double-click the slider answers to)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    ed = win.editor
    ed.select_component("jawOpen")
    row = ed.expressions.rows["jawOpen"]
    ed.panels.expressions_dock.raise_()
    settle(app, win, 0.3)
    s = row.slider
    c = QPointF(s.width() * 0.7, s.height() / 2)
    ev = QMouseEvent(QEvent.Type.MouseButtonDblClick, c, QPointF(s.mapToGlobal(c.toPoint())),
                     Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(s, ev)
    wait_until(app, lambda: row.typing, 5)
    QTest.keyClick(row.editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(row.editor, "0.375")
    wait_until(app, lambda: False, 0.5)
    paths = [out / "slider_typing.png", out / "slider_typed.png"]
    ed.panels.expressions_dock.grab().save(str(paths[0]))
    QTest.keyClick(row.editor, Qt.Key.Key_Return)
    wait_until(app, lambda: not row.typing, 5)
    settle(app, win, 0.6)
    ed.panels.expressions_dock.grab().save(str(paths[1]))
    return paths


def shot_side_by_side(app, win, out: Path) -> list[Path]:
    ed = win.editor
    progress = out / "progress_reconstruct.png"
    progress.unlink(missing_ok=True)
    reconstruct(app, win, VIDEOS / "d9.mp4", 60, progress_shot=progress)
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
    return [progress, p]


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


def shot_detached(app, win, out: Path) -> Path:
    ed = win.editor
    ed.panels.set_viewport_detached(True)
    settle(app, win, 1.0)
    p = out / "qa_viewport_detached.png"
    app.primaryScreen().grabWindow(0).save(str(p))  # both windows, as on the screen
    ed.panels.set_viewport_detached(False)
    settle(app, win, 0.3)
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
    paths = [out / "live_panel.png", out / "live_presenter.png", out / "live_presenter_wide.png"]
    win.grab().save(str(paths[0]))
    ctl.panel.presenter.grab().save(str(paths[1]))
    ctl.panel.presenter.resize(1600, 900)  # a 16:9 screen's shape: the inset goes in the band
    wait_until(app, lambda: False, 1.0)
    ctl.panel.presenter.grab().save(str(paths[2]))
    ctl.panel.set_presenter_visible(False)
    ctl.stop_recording()
    wait_until(app, lambda: not ctl.recording, 60)
    ctl.stop()
    wait_until(app, lambda: not ctl.busy and not ctl.running, 30)
    ctl.panel.set_settings_visible(True)
    return paths


def shot_dark(app, win, out: Path) -> list[Path]:
    ed = win.editor
    ed.set_viewport_mode("shaded")
    ed.set_viewport_preset("camera")
    ed.select_component("jawOpen")
    ed.curves.frame_all()
    ed.panels.curves_dock.raise_()
    paths = []
    for theme in ("light", "dark"):
        win.set_theme(theme)
        settle(app, win, 1.0)
        paths.append(out / f"theme_{theme}.png")
        win.grab().save(str(paths[-1]))
    win.set_theme("light")
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1600x1000", help="window size WxH")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "issue19"))
    ap.add_argument("--only", nargs="*", default=list(NAMES), choices=NAMES)
    args = ap.parse_args(argv)
    # a results cache of its own: the reconstructions really run (their stages are shown), not
    # "taken from the cache" of an earlier run
    os.environ.setdefault("FACESTUDIO_RESULTS_DIR", tempfile.mkdtemp(prefix="shots19-results-"))
    app, win = open_window(args.size)
    win.editor.io.ask_to_save = False
    win.set_theme("light")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    written = []
    steps = {"curves": shot_curves, "slider_typing": shot_slider_typing, "qa_side_by_side": shot_side_by_side,
             "qa_worst_frame": shot_worst, "qa_fix_fit": shot_fix_fit, "qa_viewport_maximised": shot_maximised,
             "qa_viewport_detached": shot_detached, "progress": shot_progress, "live_panel": shot_live,
             "theme_dark": shot_dark}
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
