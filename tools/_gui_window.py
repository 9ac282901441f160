"""What the GUI screenshot tools share: the app's real window on a throwaway settings file."""
from __future__ import annotations

import os
import tempfile
import time


def open_window(size: str):
    """(app, window): the application and its main window (all panels), sized ``WxH`` and shown.

    The settings live in a fresh temp file, so a screenshot neither depends on nor changes
    the user's recent files and layout.
    """
    from PySide6.QtCore import QSettings

    from app.error_reporting import setup_logging
    from app.gui_main import create_application, create_main_window

    app = create_application()
    setup_logging()
    settings = QSettings(os.path.join(tempfile.mkdtemp(), "screenshot.ini"), QSettings.Format.IniFormat)
    win = create_main_window(settings)
    w, h = (int(v) for v in size.lower().split("x"))
    win.resize(w, h)
    win.show()
    return app, win


def wait_until(app, condition, timeout_s: float, poll_s: float = 0.01) -> bool:
    """Process events until ``condition()`` is true or ``timeout_s`` passes; its last value."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(poll_s)
    return condition()
