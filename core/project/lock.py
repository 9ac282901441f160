"""An advisory lock per project folder: one writer at a time.

A writer (an editor window with the project open, or a save from a script) holds an
exclusive ``flock`` on ``NAME/.lock``. The operating system drops the lock when the process
ends however it ends (a crash, ``kill -9``, a power cut), so a lock is never stale. The file
records who holds it (pid, host, program, since, kind) for the "open elsewhere" message;
its contents are only ever informational.

Two kinds of holder:

- ``session``: an editor keeps the project open for writing. Another writer is refused at
  once with :class:`~core.errors.ProjectLockedError` (the GUI then offers to open it
  read-only: ``core.project.open_project(path, read_only=True)``).
- ``save``: one save in progress (a script or a second process saving). Another saver waits
  for it (up to ``wait`` seconds) and then saves in turn.

Reading a project never takes the lock: a project on read-only media, or held by another
window, still loads. Locks are per open file description, so they also separate two
windows (two locks) of one process.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from core.atomic import pid_alive
from core.errors import OutputError, ProjectLockedError, output_error, os_error_text

LOCK_NAME = ".lock"
#: how often a waiting saver retries (seconds)
_POLL = 0.02

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows: no advisory locks; writers are not kept apart)
    fcntl = None


def holder_of(folder: str | os.PathLike) -> dict:
    """Who holds (or last held) the lock of ``folder``: pid, host, program, since (epoch
    seconds), kind ("session" | "save"); {} when unknown."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text(encoding="utf-8", errors="replace")[:4096]
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(info: dict) -> str:
    """'process 1234 (FaceStudio editor) on host, since 10:32' or 'another process'."""
    if not info.get("pid"):
        return "another process"
    text = f"process {info['pid']}"
    if info.get("program"):
        text += f" ({info['program']})"
    if info.get("host") and info.get("host") != socket.gethostname():
        text += f" on {info['host']}"
    since = info.get("since")
    if isinstance(since, (int, float)):
        text += f", since {time.strftime('%Y-%m-%d %H:%M', time.localtime(since))}"
    return text


class ProjectLock:
    """The write lock of one project folder, held until ``release()`` (or the process ends).

    Use :func:`lock_project`; ``kind`` "session" (an editor keeps the project) or "save".
    """

    def __init__(self, folder: Path, fd: int, kind: str):
        self.folder = folder
        self.kind = kind
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)  # the holder's record goes with the lock
            except OSError:
                pass
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> "ProjectLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            self.release()


def _write_holder(fd: int, kind: str, program: str) -> None:
    info = dict(pid=os.getpid(), host=socket.gethostname(), program=program or os.path.basename(sys.argv[0]),
                since=round(time.time(), 1), kind=kind)
    data = json.dumps(info).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:  # informational only (e.g. a full disk): the lock itself holds
        pass


def lock_project(folder: str | os.PathLike, kind: str = "session", program: str = "",
                 wait: float = 0.0) -> ProjectLock:
    """Take the write lock of project ``folder`` (created when missing).

    kind : "session" (held while an editor has the project open) or "save" (one save).
    wait : seconds to wait while another *save* holds the lock; a session holding it is
    reported at once. Raises ProjectLockedError naming the holder when the lock is taken,
    OutputError when the folder cannot hold a lock file (read-only media: open it read-only).
    """
    folder = Path(folder)
    if kind not in ("session", "save"):
        raise ValueError(f"kind must be 'session' or 'save', got {kind!r}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise output_error(folder, e, "cannot lock the project for writing") from e
    if fcntl is None:  # pragma: no cover
        return ProjectLock(folder, fd, kind)
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            info = holder_of(folder)
            # (a record of a process that is gone was left by one killed before it could clear it:
            # the real holder has not written its own yet)
            session = info.get("kind") == "session" and pid_alive(info.get("pid"))
            if session or time.monotonic() >= deadline:
                os.close(fd)
                raise ProjectLockedError(
                    f"{folder}: the project is open for writing elsewhere ({describe_holder(info)}); "
                    "close it there, or open it read-only", path=str(folder), holder=info) from None
            time.sleep(_POLL)
        except OSError as e:  # a file system without locks (some network shares)
            os.close(fd)
            raise OutputError(f"{folder}: cannot lock the project for writing ({os_error_text(e)})") from e
    _write_holder(fd, kind, program)
    return ProjectLock(folder, fd, kind)
