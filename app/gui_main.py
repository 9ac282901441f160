"""Start-up of the desktop application: ``run_gui(input_path)`` (called by main.py).

Creates the QApplication (organisation and application names, which place the
QSettings and the log file), sends logs to ``facestudio.log``, installs the global
exception hook (a readable dialog instead of a dead app), opens the main window on
``input_path`` or on the built-in default photo, and runs the event loop.

Environment options:

``FACESTUDIO_AUTOQUIT_MS=N``
    Close the app N milliseconds after the first frame is shown (exit code 0).
    If no frame is shown within N ms + 60 s, exit with code 1. For smoke tests
    and scripted screenshots.
``FACESTUDIO_LOG_DIR=DIR``
    Write the log file there instead of the per-user data folder.

The default input is scikit-image's public-domain ``astronaut`` photo (NASA),
read from the installed skimage package (no download).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ORG_NAME = "FaceStudio"
APP_NAME = "FaceStudio"
AUTOQUIT_ENV = "FACESTUDIO_AUTOQUIT_MS"
#: how often the window gives the freed heap glibc keeps back to the system (see
#: core.render.memory: freed blocks below blocks in use stay resident otherwise, and a
#: session of continuous editing grew ~20 MB a minute with them)
MEMORY_RELEASE_MS = 30_000

log = logging.getLogger("facestudio")


def default_input_path() -> Path:
    """Path of scikit-image's bundled ``astronaut.png`` (512x512 RGB, public domain)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed: the default photo "
                                "(skimage/data/astronaut.png) is missing. Run scripts/install.sh.")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "data" / "astronaut.png"
        if p.is_file():
            return p
    raise FileNotFoundError("skimage/data/astronaut.png is missing from the installed scikit-image.")


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def create_application(argv: list[str] | None = None):
    """The QApplication with FaceStudio's names (reuses an existing instance)."""
    from PySide6.QtWidgets import QApplication

    QApplication.setOrganizationName(ORG_NAME)
    QApplication.setApplicationName(APP_NAME)
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    from app.icons import app_icon

    app.setWindowIcon(app_icon())
    app.setDesktopFileName("facestudio")
    return app


def gui_problem() -> str | None:
    """Why the GUI cannot start here (no display, a broken Qt binding), or None."""
    if not _has_display():
        # Qt would abort the whole process here; say what to do instead.
        return ("no display. Run under a desktop session, use `xvfb-run -a python main.py`, "
                "or set QT_QPA_PLATFORM=offscreen.")
    from app.qt_binding_check import binding_problem
    return binding_problem()


def start_gui(input_path: str | None, settings=None, offer_recovery: bool = True):
    """Everything before the event loop: logging with the crash guard (stderr and fatal
    errors copied into the log), the exception hook, the main window on screen, and a
    queued first step: offer the work of a session that ended abnormally, then open
    ``input_path`` (or the built-in photo). Returns (app, window). ``run_gui`` and the GUI
    soak test (tools/gui_soak.py) both start the app this way.
    """
    from PySide6.QtCore import QTimer

    from app.crash_guard import install_crash_guard
    from app.error_reporting import install_exception_hook, setup_logging
    from core.render.memory import retain_freed_memory

    # before any worker thread exists: the malloc arena cap bounds the freed memory kept
    retain_freed_memory()
    app = create_application()
    log_path = setup_logging()
    install_crash_guard(log_path)
    log.info("FaceStudio starting (pid %d, input=%s)", os.getpid(), input_path)
    install_exception_hook(log_path)

    win = create_main_window(settings)
    win.show()

    def open_initial() -> None:
        # however the app was started (a file, a project, nothing): work left by a session
        # that ended abnormally comes first
        if offer_recovery and win.editor.io.offer_recovery(then_open=input_path):
            if input_path:
                win.statusBar().showMessage(f"Recovered unsaved work; {input_path} was not opened "
                                            "(it is in File > Open recent).", 15000)
            return
        if input_path:
            win.open_media(input_path)
            return
        try:
            path = default_input_path()
        except FileNotFoundError as e:
            win.statusBar().showMessage(str(e))
            return
        win.open_media(str(path))

    # After the window is on screen, so a dialog has a parent to sit on.
    QTimer.singleShot(0, open_initial)
    return app, win


def run_gui(input_path: str | None) -> int:
    """Run the GUI until the user quits; returns the process exit code."""
    problem = gui_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    autoquit = os.environ.get(AUTOQUIT_ENV)
    ms = 0
    if autoquit:
        try:
            ms = max(0, int(autoquit))
        except ValueError:
            print(f"error: {AUTOQUIT_ENV} must be a number of milliseconds, got {autoquit!r}", file=sys.stderr)
            return 2

    from PySide6.QtCore import QTimer

    # (a smoke test must not stop at the recovery question)
    try:
        app, win = start_gui(input_path, offer_recovery=not autoquit)
    except Exception as e:  # noqa: BLE001 (a start-up failure: a message, a log entry, exit code 1)
        log.exception("FaceStudio could not start")
        print(f"error: FaceStudio could not start: {type(e).__name__}: {e} (details in the log file)",
              file=sys.stderr)
        return 1
    if autoquit:
        win.first_frame_shown.connect(lambda: QTimer.singleShot(ms, win.close))
        # Safety net: a smoke test must never hang (e.g. on a modal dialog).
        QTimer.singleShot(ms + 60_000, lambda: app.exit(1))
    code = app.exec()
    win.shutdown()
    log.info("FaceStudio exiting with code %d", code)
    return int(code)


def create_main_window(settings=None):
    """The application's main window with every feature panel installed.

    ``settings``: a QSettings (tools and tests pass their own file so they never touch
    the user's); None uses the application's.
    """
    from app.main_window import MainWindow
    from app.panels import install_panels

    win = MainWindow(settings=settings)
    try:
        win.controllers = install_panels(win)
    except BaseException:
        win.shutdown()  # its threads (preview, viewport) must not outlive a failed start
        raise
    win.memory_release = MemoryRelease(win)
    return win


class MemoryRelease:
    """Every ``MEMORY_RELEASE_MS`` the freed heap pages go back to the system
    (``core.render.memory.release_freed_memory``), on a thread of their own: the GUI thread
    keeps answering while glibc walks its heaps (~20 ms for 300 MB freed). ``timer``: the
    window's QTimer (stops with the window); ``release()`` does it now."""

    def __init__(self, parent):
        from PySide6.QtCore import QTimer

        self.timer = QTimer(parent)
        self.timer.setInterval(MEMORY_RELEASE_MS)
        self.timer.timeout.connect(self.release)
        self.timer.start()
        self.thread = None

    def release(self):
        """Start a release unless one is still running; the thread (None when skipped)."""
        import threading

        from core.render.memory import release_freed_memory

        if self.thread is not None and self.thread.is_alive():
            return None
        self.thread = threading.Thread(target=release_freed_memory, name="memory-release", daemon=True)
        self.thread.start()
        return self.thread
