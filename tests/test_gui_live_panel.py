"""The live panel for demos: the result shown with the camera frame it was made from, the
target gallery (drop, click, keys 1-9), REC with the time recorded, presenter hotkeys, the
settings folded away, the virtual camera (a fake pyvirtualcam backend; none on this machine).

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_gui_live_panel.py
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from conftest import shared_path  # noqa: E402

pytestmark = pytest.mark.gui
START_TIMEOUT_MS = 60_000


@pytest.fixture
def live_panel(reenact_window):
    return reenact_window


def _drop(widget, paths):
    """Drag ``paths`` over ``widget`` and drop them (Qt takes a drop only after an accepted enter)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, QEvent.Type.Drop)
    QApplication.sendEvent(widget, drop)


def test_gallery_drop_click_and_keys_switch_targets_while_live(qtbot, live_panel, errors):
    w, ctl = live_panel
    p = ctl.panel
    stills = [str(shared_path("data", "portraits", "stills", n)) for n in ("d12.jpg", "s42.jpg")]
    with qtbot.waitSignal(ctl.target_ready, timeout=START_TIMEOUT_MS):
        _drop(p.gallery.viewport(), stills)  # dropped files join the gallery; the first is driven
    assert p.gallery.paths()[:2] == stills and ctl.target.path == stills[0]
    qtbot.waitUntil(lambda: p.gallery.item(0).icon().availableSizes() != [], timeout=20_000)  # a thumbnail
    d6 = str(shared_path("data", "videos", "d6.mp4"))
    with qtbot.waitSignal(ctl.live_started, timeout=START_TIMEOUT_MS):
        ctl.start(f"simcam:{d6}", stills[0])

    # the source shown is the camera frame the shown result was made from
    made_from = {}
    ctl.live.pipe.add_listener(lambda out: made_from.__setitem__(id(out.image), out.source))
    qtbot.waitUntil(lambda: id(p.result_view.frame()) in made_from, timeout=20_000)
    assert p.source_view.frame() is made_from[id(p.result_view.frame())]
    assert "skipped" not in p.readout.text()
    qtbot.waitUntil(lambda: "(camera 30)" in p.readout.text(), timeout=5_000)

    # the presenter view's 2 drives the gallery's second target: the preview restarts on it
    p.set_presenter_visible(True)
    with qtbot.waitSignal(ctl.live_started, timeout=START_TIMEOUT_MS):
        qtbot.keyClick(p.presenter, Qt.Key.Key_2)
    assert ctl.target.path == stills[1] and ctl.running
    # Space there stops (and starts) the preview
    with qtbot.waitSignal(ctl.live_stopped, timeout=20_000):
        qtbot.keyClick(p.presenter, Qt.Key.Key_Space)
    assert not ctl.running
    p.set_presenter_visible(False)
    # the gallery keeps the most recently driven first; a click on another prepares it
    assert p.gallery.paths()[:2] == [stills[1], stills[0]]
    rect = p.gallery.visualItemRect(p.gallery.item(1))
    with qtbot.waitSignal(ctl.target_ready, timeout=START_TIMEOUT_MS):
        qtbot.mouseClick(p.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert ctl.target.path == stills[0]
    assert errors == []


def test_rec_indicator_quick_record_and_folded_settings(qtbot, live_panel, errors, tmp_path):
    from core.video import probe

    w, ctl = live_panel
    p = ctl.panel
    ctl.settings.setValue("reenact/record_dir", str(tmp_path))
    d6 = str(shared_path("data", "videos", "d6.mp4"))
    still = str(shared_path("data", "portraits", "stills", "d12.jpg"))
    with qtbot.waitSignal(ctl.live_started, timeout=START_TIMEOUT_MS):
        ctl.start(f"simcam:{d6}", still)
    # folded settings: the previews get the width
    width = p.result_view.width()
    p.settings_button.click()
    qtbot.waitUntil(lambda: p.result_view.width() > width + 100, timeout=5000)
    assert not p.settings_area.isVisible()
    p.settings_button.click()
    assert p.settings_area.isVisible()

    # F7 in the presenter view (R) records to a new file, REC counts the time, again stops
    p.set_presenter_visible(True)
    qtbot.keyClick(p.presenter, Qt.Key.Key_R)
    assert ctl.recording
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: p.rec_label.isVisible() and p.rec_label.text().endswith("0:02"), timeout=20_000)
    assert p.presenter.rec.isVisible() and "REC" in p.presenter.rec.text()
    with qtbot.waitSignal(ctl.recording_saved, timeout=60_000) as blocker:
        qtbot.keyClick(p.presenter, Qt.Key.Key_R)
        recorded = time.monotonic() - t0
    assert not p.rec_label.isVisible() and not p.presenter.rec.isVisible()
    out = blocker.args[0]
    assert os.path.dirname(out) == str(tmp_path) and os.path.basename(out).startswith("live-")
    info = probe(out)
    assert abs(info["duration"] - recorded) < 0.4 and info["has_audio"], (info, recorded)
    assert "clip's sound" in p.status.text()
    p.set_presenter_visible(False)
    assert errors == []


def test_virtual_camera_says_how_to_enable_it_and_sends_frames(qtbot, live_panel, errors, monkeypatch):
    import glob

    import pyvirtualcam

    import app.reenact_controller as rc
    from core.reenact import virtual_camera as vc

    w, ctl = live_panel
    p = ctl.panel
    if not glob.glob("/dev/video*"):
        p.virtual_camera_check.setChecked(True)   # no device here: the box says how to make one
        assert errors and "v4l2loopback" in errors[-1][1] and "modprobe" in errors[-1][1]
        assert not p.virtual_camera_check.isChecked()
        errors.clear()

    sent = []

    class Fake:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            self.shape = (height, width, 3)

        def device(self):
            return "fake-cam"

        def send(self, frame):
            sent.append(np.array(frame).reshape(self.shape))

        def close(self):
            pass

    pyvirtualcam.register_backend("fake", Fake)
    monkeypatch.setattr(rc, "virtual_camera_status", lambda: (True, ""))
    monkeypatch.setattr(rc, "VirtualCamera", lambda *a, **k: vc.VirtualCamera(*a, backend="fake", **k))
    p.virtual_camera_check.setChecked(True)   # before Start: it starts with the preview
    d6 = str(shared_path("data", "videos", "d6.mp4"))
    still = str(shared_path("data", "portraits", "stills", "d12.jpg"))
    with qtbot.waitSignal(ctl.live_started, timeout=START_TIMEOUT_MS):
        ctl.start(f"simcam:{d6}", still)
    qtbot.waitUntil(lambda: len(sent) >= 10, timeout=30_000)
    assert sent[-1].shape == (720, 1280, 3) and "fake-cam" in p.status.text() or ctl.virtual_camera.device == "fake-cam"
    with qtbot.waitSignal(ctl.live_stopped, timeout=20_000):
        ctl.stop()
    assert ctl.virtual_camera is None
    assert errors == []
