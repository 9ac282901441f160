"""The presenter view: the live result big in its own window, fed by the reenact panel.

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_gui_presenter.py
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLabel, QMainWindow  # noqa: E402

from app.reenact_controller import install_reenact_panel  # noqa: E402

pytestmark = pytest.mark.gui


def _frame(h, w, seed):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_presenter_shows_the_panels_frames_and_figures(qtbot):
    from widgets.presenter_window import MARGIN

    w = QMainWindow()
    w.setCentralWidget(QLabel("central"))
    qtbot.addWidget(w)
    ctl = install_reenact_panel(w)
    try:
        w.resize(1000, 700)
        w.show()
        qtbot.waitExposed(w)
        p = ctl.panel
        assert ctl.act_presenter.shortcut().toString() == "F5"
        src, res = _frame(480, 640, 1), _frame(512, 512, 2)
        p.set_source_frame(src)
        p.set_result_frame(res)
        assert p.presenter is None  # made on first use, costs nothing until then

        # a double click on the result opens it with the frames already shown
        qtbot.mouseDClick(p.result_view, Qt.MouseButton.LeftButton)
        pres = p.presenter
        assert pres is not None and pres.isVisible() and p.presenter_button.isChecked()
        qtbot.waitExposed(pres)
        assert np.array_equal(pres.result_view.displayed_image(), res)
        assert np.array_equal(pres.source_view.displayed_image(), src)

        # new frames and figures follow; the result as big as it fits, the source an inset beside it
        res2 = _frame(512, 512, 3)
        p.set_result_frame(res2)
        p.set_stats(29.7, 31.0, True, 30.0)
        assert np.array_equal(pres.result_view.displayed_image(), res2)
        assert pres.readout.text().startswith("29.7 fps") and "latency 31 ms" in pres.readout.text()
        pres.resize(800, 600)
        qtbot.waitUntil(lambda: pres.width() == 800 and pres.result_rect().height() > 0)
        r = pres.result_rect()
        # a square result, as big as it fits below the figures (the side bands are too narrow
        # for them)
        assert r.top() > pres.readout.geometry().bottom()
        assert r.height() == pytest.approx(600 - pres.readout.height() - 2 * MARGIN, abs=1)
        inset = pres.source_view.geometry()
        assert inset.width() < 800 * 0.3 and inset.bottom() > 500 and inset.left() < 40
        assert abs(inset.height() / inset.width() - 480 / 640) < 0.05  # the source's aspect
        assert not inset.intersects(r)  # the inset hides nothing of the result

        # keys: S hides the inset, I the figures; Esc closes (not full screen) and unchecks
        qtbot.keyClick(pres, Qt.Key.Key_S)
        qtbot.keyClick(pres, Qt.Key.Key_I)
        assert not pres.source_inset_visible and not pres.readout_visible
        qtbot.keyClick(pres, Qt.Key.Key_S)
        assert pres.source_inset_visible
        qtbot.keyClick(pres, Qt.Key.Key_Escape)
        assert not pres.isVisible() and not p.presenter_button.isChecked()

        # closed, it is not fed; the button opens it again, up to date
        res3 = _frame(512, 512, 4)
        p.set_result_frame(res3)
        p.presenter_button.click()
        assert pres.isVisible() and np.array_equal(pres.result_view.displayed_image(), res3)
    finally:
        ctl.shutdown()
    assert not p.presenter.isVisible()  # shutting down closes it (it would keep the app open)


@pytest.mark.parametrize("window, result", [
    ((960, 600), (512, 512)),     # the screenshot's case: a square result, bands too narrow alone
    ((1920, 1080), (512, 512)),   # full screen: the inset in the left band, the result centred
    ((1920, 1080), (640, 480)),   # 4:3 on 16:9
    ((1920, 1080), (1280, 720)),  # 16:9 on 16:9: the result gives up a column
    ((800, 1000), (512, 512)),    # a portrait window: the result fills the width
])
def test_the_source_inset_never_covers_the_result(qtbot, window, result):
    from widgets.presenter_window import INSET_MIN_PX, PresenterWindow

    pres = PresenterWindow()
    qtbot.addWidget(pres)
    pres.set_frames(_frame(480, 640, 1), _frame(result[1], result[0], 2))
    pres.resize(*window)
    pres.show()
    qtbot.waitExposed(pres)
    qtbot.waitUntil(lambda: pres.width() == window[0] and pres.height() == window[1])
    r, inset = pres.result_rect(), pres.source_view.geometry()
    assert not inset.intersects(r), (r, inset)
    assert pres.rect().contains(inset) and pres.rect().contains(r)
    assert inset.width() >= INSET_MIN_PX
    full = min(window[0] / result[0], window[1] / result[1])
    assert r.width() >= 0.8 * full * result[0]  # the result stays big
    if window == (1920, 1080) and result == (512, 512):
        assert abs(r.center().x() - 960) <= 1  # it fits in the band: the result stays centred
    # hidden (S), the result is as big as the window allows, centred
    qtbot.keyClick(pres, Qt.Key.Key_S)
    r = pres.result_rect()
    assert r.width() == pytest.approx(full * result[0], abs=1.5) and abs(r.center().x() - window[0] / 2) <= 1
    pres.close()


@pytest.mark.parametrize("window, result", [
    ((1280, 720), (1280, 720)),   # the result fills the window: it gives up a strip at the top
    ((960, 600), (512, 512)),     # narrow bands
    ((1920, 1080), (512, 512)),   # the readout fits in the right band: the result stays centred
])
def test_the_readout_and_rec_never_cover_the_result(qtbot, window, result):
    from widgets.presenter_window import MARGIN, PresenterWindow

    pres = PresenterWindow()
    qtbot.addWidget(pres)
    pres.set_frames(_frame(480, 640, 1), _frame(result[1], result[0], 2))
    pres.set_readout("29.7 fps   latency 31 ms   face found")
    pres.set_recording("REC 0:12")
    pres.resize(*window)
    pres.show()
    qtbot.waitExposed(pres)
    qtbot.waitUntil(lambda: pres.width() == window[0] and pres.height() == window[1])
    r = pres.result_rect()
    for label in (pres.readout, pres.rec):
        assert label.isVisible() and not label.geometry().intersects(r), (label.geometry(), r)
        assert pres.rect().contains(label.geometry())
    assert not pres.source_view.geometry().intersects(r)
    if window == (1920, 1080):
        assert abs(r.center().x() - 960) <= 1 and abs(r.center().y() - 540) <= 1
    strip = pres.readout.height() + 2 * MARGIN
    # the readout hidden (I) and nothing recording: the result takes the whole height again
    qtbot.keyClick(pres, Qt.Key.Key_I)
    pres.set_recording(None)
    free = pres.result_rect()
    assert free.top() <= r.top() and r.height() >= free.height() - strip - 1  # the figures cost at most their strip
    pres.close()
