"""Atomic file writes: every file the app saves goes through here.

A temp file with a unique name is written beside the target (same folder, so the rename
stays on one filesystem), flushed and fsynced, then renamed over the target. A crash or
an exception mid-write leaves the old file untouched and no temp file behind.

The rules every output follows (the command line and the GUI alike):

- a missing output folder is created (with its parents);
- a new file gets the mode the umask gives any new file (0644 under the usual umask 022;
  a temp file alone would be 0600), a replaced file keeps its mode;
- a failed write (read-only file system, full disk, no permission) raises
  :class:`~core.errors.OutputError` naming the target, never the temp file;
- cleaning up after a failure never raises over the first error.
"""
from __future__ import annotations

import os
import stat
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator

from core.errors import OutputError, output_error

#: prefix and suffix of every temp file made here: ``.<name>.<random>.tmp`` (see ``is_temp_name``)
TEMP_SUFFIX = ".tmp"

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:  # elsewhere: set and restore (the lock keeps our own threads consistent)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode(path: Path) -> int:
    """The permission bits a file written to ``path`` should get: the existing file's, or
    0o666 less the umask for a new one."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def ensure_folder(folder: str | os.PathLike, what: str = "cannot create the folder") -> Path:
    """Create ``folder`` and its parents when missing (the output-folder rule);
    OutputError naming it when that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:  # a file sits where the folder should be
        raise OutputError(f"{folder}: cannot be used as a folder: a file of that name exists") from e
    except OSError as e:
        raise output_error(folder, e, what) from e
    return folder


def _temp_beside(path: Path) -> tuple[int, str]:
    """(fd, name) of a new, uniquely named temp file beside ``path`` (its folder created when
    missing); OutputError naming ``path`` when the folder cannot take it."""
    ensure_folder(path.parent)
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise output_error(path, e) from e


def pid_alive(pid) -> bool:
    """Whether process ``pid`` exists (a leftover's owner that is gone left it for good)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def check_writable(path: str | os.PathLike) -> Path:
    """Make sure a file can be written at ``path`` before the work that produces it starts:
    its folder is created when missing and a temp file is made and removed there.
    OutputError naming ``path`` and the cause (read-only file system, no permission...)."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    remove_quietly(tmp)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    return path


def is_temp_name(name: str) -> bool:
    """True for the name of a temp file made by ``atomic_open`` (``.<target>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and name.count(".") >= 3


def remove_quietly(path: str | os.PathLike) -> None:
    """Delete a file if it is there; errors are ignored (this is cleanup after another error,
    or of leftovers, and must never replace the error being reported)."""
    with suppress(OSError):
        os.unlink(path)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """``with atomic_open(p, "w") as f: f.write(...)``: ``p`` appears only when the block succeeds.

    An OSError while writing (from this function or from the block) becomes an OutputError
    naming ``p``; other exceptions pass unchanged. The temp file is removed either way.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        os.fchmod(fd, new_file_mode(path))
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise output_error(path, e) from e
    except BaseException:
        remove_quietly(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_open``)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see ``atomic_open``)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def fsync_folder(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
