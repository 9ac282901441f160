"""Light and dark themes: the window follows the system's colour scheme (Qt 6.5+
``QStyleHints.colorScheme``, changes included) unless the user picks one (View > Theme).

Fusion is the style for both, so a palette looks the same on every desktop; the dark palette is
ours, the light one Fusion's own. Video and 3D views keep their dark backgrounds in both (a
frame is judged against dark grey, as in every video tool); the plots follow the theme.

Fusion draws check box frames, checked buttons and slider grooves from shades of the window
colour, which on a dark window came out 1.1-1.3:1 against it (the checked Camera preset looked
unchecked, the Wire box and the value tracks nearly vanished). The dark theme therefore adds a
small style sheet (:func:`dark_style_sheet`) drawing those three in colours at least 3:1 against
the window (WCAG's minimum for user-interface parts); the light theme keeps Fusion's own.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from widgets.theme_colours import DARK

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}
CHECK_MARK = Path(__file__).resolve().parents[1] / "resources" / "theme" / "check_dark.svg"


def dark_style_sheet() -> str:
    """The dark theme's additions to Fusion: check boxes, checked buttons, slider tracks."""
    c = DARK
    mark = CHECK_MARK.as_posix()
    # (a check box styled here loses Fusion's margins: these give its size back, so a row
    # of check boxes keeps its gaps)
    return f"""
QCheckBox {{ spacing: 6px; padding: 2px 4px 2px 0px; }}
QCheckBox::indicator, QGroupBox::indicator {{
    width: 12px; height: 12px; border: 1px solid {c["frame"]}; border-radius: 2px; background: {c["base"]};
}}
QCheckBox::indicator:hover, QGroupBox::indicator:hover {{ border-color: {c["frame_hover"]}; }}
QCheckBox::indicator:checked, QGroupBox::indicator:checked {{
    background: {c["accent"]}; border-color: {c["accent_edge"]}; image: url({mark});
}}
QCheckBox::indicator:disabled, QGroupBox::indicator:disabled {{ border-color: {c["frame_disabled"]}; }}
QToolButton:checked, QPushButton:checked {{
    background: {c["accent"]}; color: white; border: 1px solid {c["accent_edge"]}; border-radius: 3px;
}}
QSlider::groove:horizontal {{ height: 4px; background: {c["track"]}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {c["accent"]}; border-radius: 2px; }}
QSlider::handle:horizontal {{
    background: {c["text"]}; border: 1px solid {c["window"]}; width: 12px; margin: -5px 0; border-radius: 6px;
}}
QSlider::groove:vertical {{ width: 4px; background: {c["track"]}; border-radius: 2px; }}
QSlider::add-page:vertical {{ background: {c["accent"]}; border-radius: 2px; }}
QSlider::handle:vertical {{
    background: {c["text"]}; border: 1px solid {c["window"]}; height: 12px; margin: 0 -5px; border-radius: 6px;
}}
"""


def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (Unknown, as under Xvfb, is light)."""
    app = QGuiApplication.instance()
    return app is not None and app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(DARK["base"]), QColor(DARK["window"]), QColor(DARK["text"])
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(44, 47, 52),
        QPalette.ColorRole.ToolTipBase: QColor(30, 32, 36), QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: QColor(DARK["button"]),
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(110, 170, 255), QPalette.ColorRole.Highlight: QColor(61, 143, 224),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255), QPalette.ColorRole.PlaceholderText:
            QColor(140, 145, 152), QPalette.ColorRole.Light: QColor(70, 74, 80), QPalette.ColorRole.Midlight:
            QColor(62, 66, 72), QPalette.ColorRole.Mid: QColor(40, 42, 46), QPalette.ColorRole.Dark:
            QColor(28, 30, 33), QPalette.ColorRole.Shadow: QColor(10, 10, 12),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 124, 130))
    return p


def is_dark(choice: str) -> bool:
    """Whether ``choice`` ("system", "light", "dark") means dark right now."""
    return choice == "dark" or (choice == "system" and system_is_dark())


def apply_theme(choice: str) -> bool:
    """Apply ``choice`` to the application; returns whether it is dark."""
    app = QApplication.instance()
    dark = is_dark(choice if choice in THEMES else "system")
    if app is None:
        return dark
    if app.style().name().lower() != "fusion":
        app.setStyle(QStyleFactory.create("Fusion"))
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    app.setStyleSheet(dark_style_sheet() if dark else "")
    return dark
