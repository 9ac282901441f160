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

        # new frames and figures follow; the result fills the window, the source is an inset
        res2 = _frame(512, 512, 3)
        p.set_result_frame(res2)
        p.set_stats(29.7, 31.0, True, 30.0)
        assert np.array_equal(pres.result_view.displayed_image(), res2)
        assert pres.readout.text().startswith("29.7 fps") and "latency 31 ms" in pres.readout.text()
        pres.resize(800, 600)
        qtbot.waitUntil(lambda: pres.result_view.width() == 800)
        r = pres.result_view.image_rect()
        assert r.height() == pytest.approx(600, abs=1)  # a square result, as big as it fits
        inset = pres.source_view.geometry()
        assert inset.width() < 800 * 0.3 and inset.bottom() > 500 and inset.left() < 40
        assert abs(inset.height() / inset.width() - 480 / 640) < 0.05  # the source's aspect

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
