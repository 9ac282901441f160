"""Light and dark themes: the window follows the system's colour scheme (Qt 6.5+
``QStyleHints.colorScheme``, changes included) unless the user picks one (View > Theme).

Fusion is the style for both, so a palette looks the same on every desktop; the dark palette is
ours, the light one Fusion's own. Video and 3D views keep their dark backgrounds in both (a
frame is judged against dark grey, as in every video tool); the plots follow the theme.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")
THEME_LABELS = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}


def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (Unknown, as under Xvfb, is light)."""
    app = QGuiApplication.instance()
    return app is not None and app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(36, 38, 42), QColor(48, 51, 56), QColor(225, 228, 232)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(44, 47, 52),
        QPalette.ColorRole.ToolTipBase: QColor(30, 32, 36), QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: QColor(56, 60, 66),
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
    return dark
