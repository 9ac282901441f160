"""The main window shell: opening media, frames shown, tracking in the background, errors.

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_gui_shell.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no Xvfb: the shell has no GL, offscreen is enough

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.gui_main import default_input_path  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from conftest import REPO, shared_path  # noqa: E402

pytestmark = pytest.mark.gui

# The astronaut's face in skimage's 512x512 photo (hand-checked box around the tracked face).
FACE_BOX = (150.0, 40.0, 300.0, 210.0)  # x0, y0, x1, y1 pixels


@pytest.fixture
def win(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


def _wait_job(qtbot, w, timeout_ms=60_000) -> str:
    with qtbot.waitSignal(w.job_ended, timeout=timeout_ms) as blocker:
        pass
    return blocker.args[0]


def _wait_index(qtbot, w, index, timeout_ms=10_000):
    qtbot.waitUntil(lambda: w.session.index == index and w.view.frame() is w.session.frame, timeout=timeout_ms)


def _shown(w) -> np.ndarray:
    img = w.view.displayed_image()
    assert img is not None
    return img


def test_default_photo_shows_tracked_landmarks(qtbot, win):
    path = str(default_input_path())
    with qtbot.waitSignal(win.job_ended, timeout=60_000) as blocker:
        assert win.open_media(path)
        assert win.session.is_still
    assert blocker.args == ["finished"]
    r = win.session.track_result
    assert r is not None and r.num_frames == 1 and bool(r.valid[0])

    item = win.view.landmarks_item
    pts = item.points()
    assert pts.shape == (478, 2)
    assert item.isVisible()
    x0, y0, x1, y1 = FACE_BOX
    assert (pts[:, 0] > x0).all() and (pts[:, 0] < x1).all()
    assert (pts[:, 1] > y0).all() and (pts[:, 1] < y1).all()
    # the face is ~90 px wide, not a collapsed cloud
    assert 60 < pts[:, 0].max() - pts[:, 0].min() < 150
    # the frame shown is the photo itself
    from core.video import open_source

    with open_source(path) as src:
        np.testing.assert_array_equal(_shown(win), src.read(0))
    assert "landmarks" in win.statusBar().currentMessage()

    # the overlay toggle hides and shows the points
    win.act_show_landmarks.setChecked(False)
    assert not item.isVisible()
    win.act_show_landmarks.setChecked(True)
    assert item.isVisible()
    # and it was remembered in the recent files
    assert win.recent_files()[0] == str(Path(path).resolve())


def test_clip_step_scrub_and_keys_show_the_right_frame(qtbot, win):
    path = str(shared_path("data", "videos", "d0.mp4"))
    from core.video import open_source

    assert win.open_media(path)
    assert not win.session.is_still and win.session.frame_count > 20
    assert win.session.track_result is None  # clips are tracked on request only
    n = win.session.frame_count
    with open_source(path) as src:
        np.testing.assert_array_equal(_shown(win), src.read(0))

        for _ in range(3):
            win.act_step_forward.trigger()
        _wait_index(qtbot, win, 3)
        np.testing.assert_array_equal(_shown(win), src.read(3))
        assert win.transport.slider.value() == 3
        assert win.transport.label.text().startswith("frame 3 /")

        win.transport.slider.setValue(40)  # as a user drag does
        _wait_index(qtbot, win, 40)
        np.testing.assert_array_equal(_shown(win), src.read(40))

        win.act_step_back.trigger()
        _wait_index(qtbot, win, 39)
        np.testing.assert_array_equal(_shown(win), src.read(39))

        win.act_last.trigger()
        _wait_index(qtbot, win, n - 1)
        np.testing.assert_array_equal(_shown(win), src.read(n - 1))

        # keyboard shortcuts
        win.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=3000)
        qtbot.keyClick(win, Qt.Key.Key_Home)
        _wait_index(qtbot, win, 0)
        qtbot.keyClick(win, Qt.Key.Key_Right)
        _wait_index(qtbot, win, 1)
        np.testing.assert_array_equal(_shown(win), src.read(1))

        # playback advances on its own and stays in step with the decoded frames
        qtbot.keyClick(win, Qt.Key.Key_Space)
        assert win.session.playing
        qtbot.waitUntil(lambda: win.session.index >= 8, timeout=5000)
        qtbot.keyClick(win, Qt.Key.Key_Space)
        assert not win.session.playing
        qtbot.wait(100)  # a frame requested just before the pause may still arrive
        i = win.session.index
        np.testing.assert_array_equal(_shown(win), src.read(i))


def test_tracking_runs_in_background_with_progress_and_cancel(qtbot, win):
    clip = str(shared_path("data", "videos", "d3.mp4"))  # 354 frames
    assert win.open_media(clip)

    # 1) a short run to the end: progress reaches the total and the overlay follows the frame
    progress: list[tuple[int, int]] = []
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(20)
    heartbeat.timeout.connect(beat)
    win.job_ended.connect(lambda _o: heartbeat.stop())

    win.job is None or pytest.fail("no job expected yet")
    handler = lambda d, t, m: progress.append((d, t))  # noqa: E731
    assert win.track(user=True, max_frames=24)
    win.job.progress.connect(handler)
    heartbeat.start()
    assert win.progress_bar.isVisible() and win.cancel_button.isVisible()
    assert _wait_job(qtbot, win) == "finished"
    assert not win.progress_bar.isVisible()
    r = win.session.track_result
    assert r.num_frames == 24 and r.valid.mean() > 0.9
    assert progress and progress[-1][0] == 24
    # the tracker worked in a worker process while the event loop kept running (how long
    # the GUI thread may stall is measured by bench/bench_gui_stalls.py, not asserted here)
    print(f"heartbeat: max gap {max(gaps) * 1000:.0f} ms during tracking")
    assert win.job.ran_on.startswith("process") and int(win.job.ran_on.split()[1]) != os.getpid()
    assert len(gaps) >= 2

    win.session.seek(10)
    _wait_index(qtbot, win, 10)
    pts = win.view.landmarks_item.points()
    assert pts.shape == (478, 2) and win.view.landmarks_item.isVisible()
    np.testing.assert_allclose(pts, r.landmarks[10, :, :2], atol=1e-3)
    # past the tracked range there is nothing to draw
    win.session.seek(100)
    _wait_index(qtbot, win, 100)
    assert not win.view.landmarks_item.isVisible()

    # 2) the whole clip, cancelled early: the job really stops
    progress.clear()
    assert win.track(user=True)
    win.job.progress.connect(handler)
    qtbot.waitUntil(lambda: bool(progress) and progress[-1][0] >= 5, timeout=60_000)
    # the status line says frames done of the total (and, once measured, the rate), not a busy bar
    qtbot.waitUntil(lambda: "/ 354 frames" in win.statusBar().currentMessage(), timeout=30_000)
    assert win.statusBar().currentMessage().startswith("Tracking d3.mp4: ")
    assert "tracking" not in win.statusBar().currentMessage()  # the job's verb said once
    assert "/354" in win.progress_bar.text()
    win.cancel_button.click()
    assert _wait_job(qtbot, win) == "cancelled"
    qtbot.wait(200)
    done_at_cancel = progress[-1][0]
    assert done_at_cancel < 354 * 0.6, progress[-3:]
    assert win.session.track_result is r  # the earlier result is kept
    assert "cancelled" in win.statusBar().currentMessage().lower()

    # 3) opening a photo while a clip is being tracked: the clip's job is cancelled, then the photo tracked
    progress.clear()
    assert win.track(user=True)
    win.job.progress.connect(handler)
    qtbot.waitUntil(lambda: bool(progress), timeout=60_000)
    outcomes: list[str] = []
    win.job_ended.connect(outcomes.append)
    assert win.open_media(str(default_input_path()))
    qtbot.waitUntil(lambda: outcomes == ["cancelled", "finished"], timeout=60_000)
    assert win.session.track_result.num_frames == 1
    assert win.view.landmarks_item.points().shape == (478, 2)


def test_bad_inputs_show_an_error_and_keep_the_open_media(qtbot, win, errors, tmp_path):
    clip = str(shared_path("data", "videos", "d19.mp4"))
    assert win.open_media(clip)
    win.session.seek(5)
    _wait_index(qtbot, win, 5)
    before = _shown(win)

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(50_000))
    empty_dir = tmp_path / "no_images"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("not an image")
    missing = tmp_path / "missing.mp4"
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(Path(clip).read_bytes()[:3000])  # the header only: no decodable frame

    for bad in (corrupt, empty_dir, missing, truncated, "webcam:7"):
        errors.clear()
        assert not win.open_media(str(bad)), bad
        assert len(errors) == 1, (bad, errors)
        title, text = errors[0]
        assert title == "Cannot open"
        name = Path(str(bad)).name if not str(bad).startswith("webcam") else "7"
        assert name in text, (bad, text)
        # the status bar names the file that failed and what stays open, nothing older
        msg = win.statusBar().currentMessage()
        assert msg.startswith(f"Could not open {name if name != '7' else 'webcam:7'}") and \
            "d19.mp4 is still open" in msg, msg
        assert win.session.path == clip and win.session.index == 5
        np.testing.assert_array_equal(_shown(win), before)
    assert str(corrupt) not in win.recent_files()


def test_no_face_is_a_status_message(qtbot, win, errors, tmp_path):
    import imageio.v3 as iio

    blank = tmp_path / "wall.png"
    iio.imwrite(blank, np.full((240, 320, 3), 128, np.uint8))
    with qtbot.waitSignal(win.job_ended, timeout=60_000) as blocker:
        assert win.open_media(str(blank))
    assert blocker.args == ["finished"]
    assert "no face" in win.statusBar().currentMessage().lower()
    assert not win.view.landmarks_item.isVisible()
    assert errors == []  # an automatic track does not pop up a dialog


def test_overlay_follows_valid_and_bridged_flags(qtbot, win):
    from core.tracking.result import TrackResult
    from widgets.video_view import BRIDGED_COLOUR, DETECTED_COLOUR

    assert win.open_media(str(shared_path("data", "videos", "d19.mp4")))
    F = 4
    lm = np.full((F, 478, 3), np.nan, np.float32)
    rng = np.random.default_rng(1)
    for f in (0, 1, 3):
        lm[f] = rng.uniform(50, 200, (478, 3))
    valid = np.array([True, True, False, True])
    bridged = np.array([False, True, False, False])
    r = TrackResult(landmarks=lm, valid=valid, bridged=bridged, blendshapes=np.zeros((F, 52), np.float32),
                    blendshape_names=np.array([f"b{i}" for i in range(52)]),
                    pose=np.tile(np.eye(4, dtype=np.float32), (F, 1, 1)), fps=25.0, size=(512, 512))
    win.session.set_track_result(r)
    item = win.view.landmarks_item
    expected = {0: DETECTED_COLOUR, 1: BRIDGED_COLOUR, 2: None, 3: DETECTED_COLOUR}
    for f, colour in expected.items():
        win.session.seek(f)
        _wait_index(qtbot, win, f)
        if colour is None:
            assert not item.isVisible()
        else:
            assert item.isVisible() and item.colour() == colour
            np.testing.assert_allclose(item.points(), lm[f, :, :2], atol=1e-4)

    # zoom with the wheel action, then fit brings the whole frame back
    fit = win.view.zoom()
    win.act_zoom_in.trigger()
    assert win.view.zoom() == pytest.approx(fit * 1.25, rel=1e-3)
    win.act_fit.trigger()
    assert win.view.zoom() == pytest.approx(fit, rel=1e-3)


def test_drop_a_file_opens_it(qtbot, win):
    path = str(shared_path("data", "portraits", "stills", "s0.jpg"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    pos = QPoint(200, 200)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, QEvent.Type.Drop)
    with qtbot.waitSignal(win.media_opened, timeout=5000):
        QApplication.sendEvent(win, drop)
    assert win.session.path == path
    assert win.recent_menu.actions()[0].text() == str(Path(path).resolve())
    # text drags (no files) are refused
    mime2 = QMimeData()
    mime2.setText("hello")
    enter2 = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime2, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter2)
    assert not enter2.isAccepted()
    _wait_job(qtbot, win)  # the dropped still is tracked; let it end before teardown


def test_main_py_starts_and_quits(tmp_path):
    env = dict(os.environ)
    env.update(FACESTUDIO_AUTOQUIT_MS="300", FACESTUDIO_LOG_DIR=str(tmp_path / "logs"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    r = subprocess.run([sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    log_text = (tmp_path / "logs" / "facestudio.log").read_text()
    assert "exiting with code 0" in log_text
    assert "Traceback" not in log_text


def test_live_source_plays_and_closes_promptly(qtbot, win):
    clip = shared_path("data", "videos", "d19.mp4")
    assert win.open_media(f"simcam:{clip}")
    assert win.session.is_live and win.session.playing
    assert win.transport.label.text() == "live"
    assert not win.act_track.isEnabled() and not win.transport.slider.isEnabled()
    qtbot.waitUntil(lambda: win.session.index >= 5, timeout=10_000)  # frames keep arriving
    assert win.view.frame() is win.session.frame
    assert "fps shown" in win.info_label.text()
    assert win.open_media(str(default_input_path()))  # replaces (and closes) the live source
    assert not win.session.is_live
    _wait_job(qtbot, win)


def test_exception_hook_logs_and_shows_a_dialog(qtbot, monkeypatch, tmp_path):
    import threading

    from app import error_reporting

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(error_reporting, "show_error",
                        lambda parent, title, msg, details="": shown.append((title, msg)))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(error_reporting, "_repeats", {})
    import logging

    for name in ("facestudio", "app", "core", "widgets"):  # the test's log file is detached afterwards
        lg = logging.getLogger(name)
        monkeypatch.setattr(lg, "handlers", list(lg.handlers))
        monkeypatch.setattr(lg, "level", lg.level)
    log_path = error_reporting.setup_logging(tmp_path)
    error_reporting.install_exception_hook(log_path)
    try:
        raise ValueError("boom in a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    # from a Python thread: the dialog is still shown by the GUI thread
    t = threading.Thread(target=lambda: 1 / 0)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=3000)
    assert "ValueError: boom in a slot" in shown[0][1] and str(log_path) in shown[0][1]
    assert "ZeroDivisionError" in shown[1][1]
    text = log_path.read_text()
    assert "Traceback" in text and "boom in a slot" in text and "ZeroDivisionError" in text

    # the same failure on every frame (the soak once found one): no second dialog, and the log
    # gets the traceback a few times, then a line with the count now and then
    def fail_again():
        raise KeyError("every frame")

    for _ in range(120):
        try:
            fail_again()
        except KeyError:
            sys.excepthook(*sys.exc_info())
    qtbot.wait(200)
    assert len(shown) == 3 and "every frame" in shown[2][1]
    text = log_path.read_text()
    assert text.count("KeyError: 'every frame'") == error_reporting.REPEAT_LOG_FULL + 1
    assert "uncaught exception again (100 times so far)" in text


def test_panels_are_dock_widgets_listed_in_the_view_menu(qtbot, win):
    from PySide6.QtWidgets import QDockWidget, QLabel

    dock = QDockWidget("Expressions")
    dock.setWidget(QLabel("sliders"))
    win.add_panel(dock)
    assert dock.objectName() == "Expressions"
    assert win.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    toggle = dock.toggleViewAction()
    assert toggle in win.panels_menu.actions()
    qtbot.waitUntil(dock.isVisible, timeout=3000)
    assert toggle.isChecked()
    toggle.trigger()
    assert not dock.isVisible() and not toggle.isChecked()


def test_menus_are_in_order_with_help_last(qtbot, tmp_path):
    from app.gui_main import create_main_window

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = create_main_window(settings)
    qtbot.addWidget(w)
    titles = [a.text().replace("&", "") for a in w.menuBar().actions() if a.isVisible()]
    assert titles == ["File", "Edit", "View", "Playback", "Track", "Reenact", "Help"]
    file_items = [a.text().replace("&", "") for a in w.menus.menu("file").actions() if not a.isSeparator()]
    assert file_items.index("New project") < file_items.index("Open video or image...") < \
        file_items.index("Save project") < file_items.index("Export") < file_items.index("Quit")
    assert file_items[-1] == "Quit"
    w.shutdown()


def test_log_file_has_the_pid_on_every_line_and_failed_opens(qtbot, win, errors, tmp_path, monkeypatch):
    """The log is where the README says, every line carries the process id, and a file that
    cannot be opened is logged with its cause."""
    import logging

    from app.error_reporting import LOG_FILE_NAME, default_log_dir, setup_logging

    monkeypatch.delenv("FACESTUDIO_LOG_DIR", raising=False)
    assert default_log_dir().parts[-3:] == ("share", "FaceStudio", "logs")  # ~/.local/share/FaceStudio/logs
    path = setup_logging(tmp_path / "logs")
    try:
        assert path == tmp_path / "logs" / LOG_FILE_NAME
        bad = tmp_path / "broken.mp4"
        bad.write_bytes(os.urandom(3000))
        assert not win.open_media(str(bad))
        for h in logging.getLogger("app").handlers:
            h.flush()
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        assert any("could not open" in ln and "broken.mp4" in ln for ln in lines), lines
        assert all(f" {os.getpid()} " in ln for ln in lines if ln[:4].isdigit())
    finally:
        for name in ("facestudio", "app", "core", "widgets"):
            lg = logging.getLogger(name)
            for h in [h for h in lg.handlers if isinstance(h, logging.FileHandler)]:
                lg.removeHandler(h)
                h.close()
