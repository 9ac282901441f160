"""The dark theme's check boxes, checked buttons and slider / value-bar tracks stand out from the
window: at least 3:1 (WCAG's minimum for user-interface parts), from the style sheet's colours
and from the pixels Qt draws; the light theme stays Fusion's own."""
from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QCheckBox, QHBoxLayout, QSlider, QToolButton, QWidget  # noqa: E402

from app.theme import DARK, apply_theme, dark_style_sheet  # noqa: E402

pytestmark = pytest.mark.gui
MIN_CONTRAST = 3.0


def luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour (0-255 channels)."""
    c = np.asarray(rgb, float)[..., :3] / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return float((la + 0.05) / (lb + 0.05))


def rgb(name: str) -> tuple[int, int, int]:
    c = QColor(name)
    return c.red(), c.green(), c.blue()


def rule(sheet: str, selector: str, prop: str) -> str:
    """The value of ``prop`` in the first rule whose selector list starts with ``selector``."""
    m = re.search(re.escape(selector) + r"[^{]*\{([^}]*)\}", sheet)
    assert m, selector
    v = re.search(r"(?:^|[;\s])" + re.escape(prop) + r"\s*:\s*([^;]+);", m.group(1))
    assert v, (selector, prop)
    return v.group(1).strip().split()[-1] if prop == "border" else v.group(1).strip()


def test_the_dark_style_sheet_colours_stand_out_from_the_window():
    sheet = dark_style_sheet()
    window, base, button = rgb(DARK["window"]), rgb(DARK["base"]), rgb(DARK["button"])
    frame = rgb(rule(sheet, "QCheckBox::indicator,", "border"))
    checked = rgb(rule(sheet, "QToolButton:checked", "background"))
    track = rgb(rule(sheet, "QSlider::groove:horizontal", "background"))
    for what, colour, against in (("check box frame", frame, window), ("check box frame", frame, base),
                                  ("checked button", checked, window), ("checked button", checked, button),
                                  ("slider track", track, window)):
        assert contrast(colour, against) >= MIN_CONTRAST, (what, colour, against, contrast(colour, against))
    from widgets.expression_panel import TRACK_OUTLINE_DARK

    assert contrast(rgb(TRACK_OUTLINE_DARK), window) >= MIN_CONTRAST
    # a checked button's text stays readable on its accent
    assert contrast((255, 255, 255), checked) >= MIN_CONTRAST


def _pixels(widget: QWidget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * img.height())
    return a.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3].reshape(img.height(), img.width(), 3)


@pytest.fixture
def themed(qtbot):
    """Widgets as the app draws them; the application's theme is put back afterwards."""
    box = QWidget()
    lay = QHBoxLayout(box)
    check, tool, slider = QCheckBox(), QToolButton(), QSlider()
    tool.setCheckable(True)
    tool.setChecked(True)
    tool.setFixedSize(48, 26)
    slider.setOrientation(slider.orientation().Horizontal)
    slider.setFixedWidth(160)
    from widgets.expression_panel import ValueBar

    bar = ValueBar(-1.0, 1.0)
    for w in (check, tool, slider, bar):
        lay.addWidget(w)
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    yield box, check, tool, slider, bar
    apply_theme("system")


def test_dark_theme_pixels_of_check_box_checked_button_and_tracks(qtbot, themed):
    box, check, tool, slider, bar = themed
    apply_theme("dark")
    qtbot.wait(50)
    window = rgb(DARK["window"])
    assert contrast(box.palette().color(box.backgroundRole()).getRgb(), window) < 1.01
    # how many pixels stand out (a count, not the one best pixel: a stray pixel proves nothing)
    standing_out = lambda px: sum(contrast(p, window) >= MIN_CONTRAST for p in px.reshape(-1, 3))  # noqa: E731
    assert standing_out(_pixels(check)) >= 24  # its frame: half the perimeter of a 12 px box at least
    t = _pixels(tool)
    assert contrast(t[t.shape[0] // 2, 6], window) >= MIN_CONTRAST  # the checked button's face
    slider.setValue(slider.minimum())  # the track right of the handle is the unfilled part
    s = _pixels(slider)
    assert standing_out(s[:, -8:-3]) >= 10  # 5 columns of a track 2 px high or more
    b = _pixels(bar)
    assert contrast(b[2, bar.width() // 4], window) >= MIN_CONTRAST  # the outline
    # and inside the outline the orange edit and the fitted tick show as before
    bar.set_values(0.5, 0.8)
    b = _pixels(bar)
    inside = b[bar.height() // 2, int(bar.width() * 0.2)]
    assert contrast(inside, (255, 160, 50)) >= MIN_CONTRAST


def test_the_light_theme_stays_fusions_own(qtbot, themed):
    box, check, tool, slider, bar = themed
    apply_theme("dark")
    apply_theme("light")
    assert QApplication.instance().styleSheet() == ""
    assert bar.track_colours() == (QColor(60, 60, 64), None)
