"""Exceptions that carry a message meant for the user, and the one error policy.

Anything raised as ``UserFacingError`` (or a subclass) is shown as-is by the
command line (one line on stderr, exit code 2) and by the GUI (a message box),
so its text must name the file and the cause and say what to do.

The policy for everything else (``user_message``): an ``OSError`` (a read-only or full
disk, a missing permission), a ``MemoryError`` and the errors a decoder or parser raises on
a damaged file (``ValueError``, ``EOFError``, ``zipfile.BadZipFile``, OpenCV's ``cv2.error``,
``RecursionError`` of a deeply nested file) are the user's situation, not a bug: they become
one message naming the file (or what was being worked on) and the cause. Anything else is a
programming error and is reported as one (with its traceback in the log or on stderr).
The command line (main.py) and the GUI both call ``user_message``.
"""
from __future__ import annotations

import errno
import os
import zipfile


class UserFacingError(Exception):
    """An error caused by input (a file, a device, a setting), with a clear message."""


class InputError(UserFacingError):
    """A file or device could not be read: missing, unreadable, truncated, unknown format."""


class NoFaceError(UserFacingError):
    """No face was found where one is needed."""


class OutputError(UserFacingError):
    """A file could not be written: read-only file system, disk full, no permission."""


class ProjectLockedError(UserFacingError):
    """The project is open for writing in another window or process.

    ``path``: the project folder; ``holder``: who holds it (dict with ``pid``, ``host``,
    ``since``, ``program``; empty when unknown). The GUI offers to open it read-only.
    """

    def __init__(self, message: str, path: str = "", holder: dict | None = None):
        super().__init__(message)
        self.path = path
        self.holder = dict(holder or {})


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM): raised in the main thread so that every
    ``finally`` and ``with`` block runs (partial outputs removed, child processes ended).
    A BaseException, like KeyboardInterrupt, so ``except Exception`` does not swallow it."""

    def __init__(self, signum: int = 15):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


#: errno -> what it means for the user (the strerror text alone is too terse)
_OS_HINTS = {
    errno.EROFS: "the file system is read-only; write to another folder",
    errno.ENOSPC: "no space left on the device; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write to another disk",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "it already exists",
    errno.EMFILE: "too many open files",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error (a failing disk or a disconnected drive)",
    errno.ENXIO: "no such device",
    errno.ENODEV: "no such device",
}

#: exceptions a decoder or parser raises on damaged data (user's input, not a bug)
DATA_ERRORS: tuple[type[BaseException], ...] = (ValueError, EOFError, zipfile.BadZipFile, RecursionError)


def _cv2_error() -> tuple[type[BaseException], ...]:
    try:
        import cv2
    except ImportError:  # pragma: no cover (cv2 is a hard dependency)
        return ()
    return (cv2.error,)


def os_error_text(exc: OSError) -> str:
    """The cause of an OSError in words: the hint for its errno, else its strerror."""
    hint = _OS_HINTS.get(exc.errno or -1)
    if hint:
        return hint
    return exc.strerror or str(exc) or type(exc).__name__


def output_error(path: str | os.PathLike, exc: OSError, what: str = "cannot write") -> OutputError:
    """An OutputError naming ``path`` (the file the user asked for, not a temporary name) and
    the cause of ``exc``."""
    return OutputError(f"{os.fspath(path)}: {what}: {os_error_text(exc)} ({exc.strerror or type(exc).__name__})")


def is_user_error(exc: BaseException) -> bool:
    """True when ``exc`` is the user's situation (bad input, a full or read-only disk, too
    little memory), False for a programming error."""
    return isinstance(exc, (UserFacingError, OSError, MemoryError, *DATA_ERRORS, *_cv2_error()))


def user_message(exc: BaseException, subject: str | None = None) -> str:
    """One line for the user about ``exc``, naming the file and the cause.

    ``subject``: what was being worked on (the command's input files, the project being
    saved), named when the exception itself does not carry a file name. A UserFacingError's
    own text is returned unchanged (it already names its file). For a programming error
    (``is_user_error`` False) the line says so; callers log the traceback.
    """
    where = f"{subject}: " if subject else ""
    if isinstance(exc, UserFacingError):
        return str(exc)
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else None
        target = f"{os.fspath(name)}: " if name is not None else where
        return f"{target}{os_error_text(exc)} ({exc.strerror or type(exc).__name__})".strip()
    if isinstance(exc, MemoryError):
        return (f"{where}not enough memory to process it; use a smaller input "
                f"(or --max-frames) or close other programs")
    if isinstance(exc, RecursionError):
        return f"{where}the data is nested too deeply to be read; the file is damaged or hostile"
    if isinstance(exc, (*DATA_ERRORS, *_cv2_error())):
        text = str(exc).strip().splitlines()
        return f"{where}cannot be processed: the file is damaged or not what it claims to be " \
               f"({type(exc).__name__}: {text[-1] if text else 'no details'})"
    return f"{where}internal error ({type(exc).__name__}: {exc}); this is a bug, please report it"


def detached(exc: BaseException) -> BaseException:
    """``exc`` made fit to be kept on an object after the thread that raised it has ended: its
    traceback (with those of its causes and contexts) is kept as text, in a note, and the
    frames are let go. Returns ``exc``.

    A thread that stores its error on its own object (``self.error = e``: the live pipeline, a
    live source's capture, the recorder, the virtual camera) would otherwise keep the
    traceback's frames, and with them every local of those frames, ``self`` first: a reference
    cycle around the object and all it holds (a live pipeline's frames, renderer and camera)
    that only a full pass of the garbage collector frees. (Clearing the frames is not enough:
    a frame also keeps its caller, the thread's own function, ``self`` included.) The note
    keeps the report as useful: ``traceback.format_exception`` and logging's ``exc_info``
    print it under the message.

        except BaseException as e:
            self.error = detached(e)
    """
    import threading
    import traceback

    text = "".join(traceback.format_exception(exc)).rstrip()
    exc.add_note(f"(raised on thread {threading.current_thread().name}; its traceback, kept as text:)\n{text}")
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = None
        todo += [e.__cause__, e.__context__]
    return exc
