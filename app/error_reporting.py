"""Error reporting for the GUI: a log file, readable error dialogs, a global exception hook.

The GUI never dies with a traceback in the user's face: any exception that
escapes a slot (or a Python thread) is written to the log file with its
traceback and shown as a dialog that says what happened and where the details
are. :class:`~core.errors.UserFacingError` messages are shown as they are (they
already name the file and the cause).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from core.errors import UserFacingError

log = logging.getLogger("facestudio")

#: Overrides the folder of the log file.
LOG_DIR_ENV = "FACESTUDIO_LOG_DIR"
LOG_FILE_NAME = "facestudio.log"


def default_log_dir() -> Path:
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return Path(env)
    # the generic data folder plus our name: AppLocalDataLocation would give
    # ~/.local/share/FaceStudio/FaceStudio (organisation and application are both FaceStudio)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return (Path(base) / "FaceStudio" if base else Path.home() / ".facestudio") / "logs"


def setup_logging(log_dir: Path | None = None) -> Path:
    """Send the ``facestudio``, ``app`` and ``core`` loggers to ``<log_dir>/facestudio.log``.

    Returns the log file path. Falls back to the temp folder when the folder cannot be made.
    """
    log_dir = Path(log_dir) if log_dir is not None else default_log_dir()
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        log_dir = Path(tempfile.gettempdir())
    path = log_dir / LOG_FILE_NAME
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    for name in ("facestudio", "app", "core", "widgets"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.INFO)
        if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path for h in lg.handlers):
            lg.addHandler(handler)
    return path


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A modal error box (tests monkeypatch ``QMessageBox.critical``/``exec`` to avoid blocking)."""
    if details:
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
        box.setDetailedText(details)
        box.exec()
    else:
        QMessageBox.critical(parent, title, message)


class _Reporter(QObject):
    # A signal so that exceptions from any thread are shown by the GUI thread.
    report = Signal(str, str, str)

    def __init__(self, log_path: Path):
        super().__init__()
        self.log_path = log_path
        self._showing = False
        self.report.connect(self._show)

    def _show(self, title: str, message: str, details: str) -> None:
        if self._showing:
            return  # one dialog at a time; the rest is in the log
        self._showing = True
        try:
            parent = QApplication.activeWindow()
            show_error(parent, title, message, details)
        finally:
            self._showing = False


_reporter: _Reporter | None = None


def install_exception_hook(log_path: Path) -> None:
    """Route uncaught exceptions (GUI thread and Python threads) to the log and a dialog."""
    global _reporter
    _reporter = _Reporter(log_path)

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception\n%s", text)
        if issubclass(exc_type, UserFacingError):
            message = str(exc)
        else:
            message = (f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                       f"FaceStudio keeps running. The details were written to {log_path}.")
        try:
            _reporter.report.emit("FaceStudio error", message, text)
        except Exception:  # noqa: BLE001 (the hook itself must never raise)
            sys.__stderr__.write(text)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
