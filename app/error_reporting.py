"""Error reporting for the GUI: a log file, readable error dialogs, a global exception hook.

The GUI never dies with a traceback in the user's face: any exception that
escapes a slot (or a Python thread) is written to the log file with its
traceback and shown as a dialog that says what happened and where the details
are. :class:`~core.errors.UserFacingError` messages are shown as they are (they
already name the file and the cause).
"""
from __future__ import annotations

import html
import logging
import os
import re
import sys
import threading
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Qt, Signal
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


#: a file name longer than this gets break opportunities (at _ - . after every so many characters)
LONG_SEGMENT = 32
_ZWSP = "\u200b"


def _breakable(word: str) -> str:
    """A long path's segments with zero-width spaces where a line may break: after each path
    separator, and inside a segment longer than LONG_SEGMENT after a ``_``, ``-`` or ``.`` once 20
    characters have passed (a camera's file name has no spaces and no slashes)."""
    parts = re.split(r"([/\\])", word)
    out = []
    for part in parts:
        if part in ("/", "\\"):
            out.append(part + _ZWSP)
        elif len(part) > LONG_SEGMENT:
            run, chars = 0, []
            for ch in part:
                chars.append(ch)
                run += 1
                if (ch in "_-." and run >= 20) or run >= LONG_SEGMENT:
                    chars.append(_ZWSP)
                    run = 0
            out.append("".join(chars))
        else:
            out.append(part)
    return "".join(out)


def readable(text: str) -> str:
    """``text`` as rich text a message box wraps inside its edges: Qt wraps a message box's text at
    spaces and a few punctuation marks only, so a long path or a camera's long file name ran to
    the box's edge and past it. Long words get break opportunities (:func:`_breakable`)."""
    if text.startswith("<") and Qt.mightBeRichText(text):
        return text
    words = [_breakable(w) if len(w) > LONG_SEGMENT else w for w in text.split(" ")]
    return "<p>" + html.escape(" ".join(words), quote=False).replace("\n", "<br>") + "</p>"


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A modal error box (tests monkeypatch ``QMessageBox.critical``/``exec`` to avoid blocking)."""
    if details:
        box = QMessageBox(QMessageBox.Icon.Critical, title, readable(message), QMessageBox.StandardButton.Ok,
                          parent)
        box.setDetailedText(details)
        box.exec()
    else:
        QMessageBox.critical(parent, title, readable(message))


def show_exception(parent: QWidget | None, title: str, exc: BaseException, subject: str | None = None) -> str:
    """The one error policy in the GUI: a dialog with ``core.errors.user_message(exc, subject)``
    (the file and the cause), which keeps whatever is open. A programming error (not
    ``is_user_error``) is also logged with its traceback and the dialog says where. Returns
    the message shown. ``subject``: what the action worked on (the project being saved...)."""
    from core.errors import is_user_error, user_message

    message = user_message(exc, subject)
    details = ""
    if not is_user_error(exc):
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("%s: %s\n%s", title, message, details)
        message += "\n\nFaceStudio keeps running; the details are in the log file."
    else:
        log.info("%s: %s", title, message)
    show_error(parent, title, message, details)
    return message


class _Reporter(QObject):
    # A signal so that exceptions from any thread are shown by the GUI thread.
    report = Signal(str, str, str, str)

    def __init__(self, log_path: Path):
        super().__init__()
        self.log_path = log_path
        self._showing = False
        #: when each error (by signature) was last shown in a dialog (monotonic seconds)
        self._shown_at: dict[str, float] = {}
        self.report.connect(self._show)

    def _show(self, title: str, message: str, details: str, signature: str = "") -> None:
        if self._showing:
            return  # one dialog at a time; the rest is in the log
        now = time.monotonic()
        last = self._shown_at.get(signature) if signature else None
        parent = QApplication.activeWindow()
        if last is not None and now - last < REPEAT_QUIET_S:
            # the same failure again (e.g. on every frame of playback): one dialog, not hundreds
            bar = getattr(parent, "statusBar", None)
            if callable(bar):
                bar().showMessage(f"The same error happened again; see {self.log_path}.", 5000)
            return
        if signature:
            self._shown_at[signature] = now
        self._showing = True
        try:
            show_error(parent, title, message, details)
        finally:
            self._showing = False


def _signature(exc_type, exc, tb) -> str:
    """What makes two uncaught exceptions "the same": type, message and where it was raised."""
    where = ""
    while tb is not None:
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{exc_type.__name__}|{str(exc)[:200]}|{where}"


_reporter: _Reporter | None = None
#: how many times each uncaught exception (by signature) happened in this process
_repeats: dict[str, int] = {}
#: the same uncaught exception gets no second dialog for this long (seconds)
REPEAT_QUIET_S = 600.0
#: full tracebacks logged per signature, then one line every REPEAT_LOG_EVERY times
REPEAT_LOG_FULL = 3
REPEAT_LOG_EVERY = 100


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
        signature = _signature(exc_type, exc, tb)
        n = _repeats[signature] = _repeats.get(signature, 0) + 1
        # a failure that repeats on every frame would fill the log: the traceback the first
        # times, then a line now and then with the count
        if n <= REPEAT_LOG_FULL:
            log.error("uncaught exception\n%s", text)
        elif n % REPEAT_LOG_EVERY == 0:
            log.error("uncaught exception again (%d times so far): %s: %s", n, exc_type.__name__, exc)
        if issubclass(exc_type, UserFacingError):
            message = str(exc)
        else:
            message = (f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                       f"FaceStudio keeps running. The details were written to {log_path}.")
        try:
            _reporter.report.emit("FaceStudio error", message, text, signature)
        except Exception:  # noqa: BLE001 (the hook itself must never raise)
            sys.__stderr__.write(text)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
