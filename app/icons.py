"""The app's icons: one consistent set drawn for FaceStudio (``resources/icons/*.svg``: grey line
drawings with the app's accents, legible on light and dark toolbars) and the app icon."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
APP_ICON = "facestudio"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """The icon ``name`` (a file of resources/icons without .svg); an empty icon if missing."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def app_icon() -> QIcon:
    return icon(APP_ICON)
