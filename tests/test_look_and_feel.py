"""Look and feel: the window fits a 1280x800 screen, message boxes wrap long texts inside their
edges, one icon set (every tool-bar action has its icon, the app has one), the theme follows
the system or the user's choice, and the plots follow it."""
from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not os.environ.get("DISPLAY"):
    pytest.skip("the editor's 3D viewport needs Xvfb (run under xvfb-run)", allow_module_level=True)

from PySide6.QtGui import QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox  # noqa: E402

pytestmark = pytest.mark.gui




def test_the_window_fits_a_1280x800_screen(win):
    m = win.minimumSizeHint()
    assert m.width() <= 1280 and m.height() <= 780, m


def test_a_long_message_wraps_inside_the_box(qtbot, win):
    from app.error_reporting import readable

    from PySide6.QtGui import QTextDocument

    name = "A003C012_260301_R1XK_proxy_graded_final_v12_for_client_review_approved_by_the_director_2026.jpg"
    text = f"/home/artist/footage/day_03/{name}: no face found in the image (needs a roughly frontal face)"
    message = readable(text)
    assert name.replace("_", "") in message.replace("\u200b", "").replace("_", "")  # the name is all there
    box = QMessageBox(QMessageBox.Icon.Critical, "Reenact: target", message, QMessageBox.StandardButton.Ok, win)
    box.show()
    qtbot.waitExposed(box)
    label = box.findChild(QLabel, "qt_msgbox_label")
    g = label.geometry()
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setHtml(label.text())
    doc.setTextWidth(g.width())
    assert label.wordWrap() and doc.idealWidth() <= g.width() + 1, (doc.idealWidth(), g)  # no line too long
    assert label.heightForWidth(g.width()) <= g.height() + 1 and box.width() - 1 - g.right() >= 8
    assert box.width() <= win.screen().availableGeometry().width()
    box.close()


def test_one_icon_set_and_an_app_icon(win):
    assert not win.windowIcon().isNull() and not QApplication.windowIcon().isNull()
    for a in win.toolbar.actions():
        if not a.isSeparator():
            assert not a.icon().isNull(), a.text()


def test_the_theme_follows_the_system_or_the_choice(qtbot, win):
    from app.theme import system_is_dark

    def window_is_dark():
        return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 100

    plot_bg = lambda: win.editor.curves.plot.backgroundBrush().color().lightness()  # noqa: E731
    win.set_theme("dark")
    assert window_is_dark() and plot_bg() < 100
    win.set_theme("light")
    assert not window_is_dark() and plot_bg() > 150
    win.set_theme("system")
    assert window_is_dark() == system_is_dark()
    assert win.theme_actions["system"].isChecked()
    assert win.settings.value("view/theme") == "system"
