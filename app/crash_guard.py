"""Fatal errors leave a trace in the log: stderr is copied into the log file, and
``faulthandler`` dumps every thread's stack there on a crash.

A fatal error kills the process before any Python logging can run: Python's own fatal
errors ("none_dealloc", a corrupted heap) print straight to file descriptor 2 and abort,
and a segfault in a C extension only reaches ``faulthandler``. So fd 2 itself is made a
pipe into a small *separate* process (``tee``) that writes everything to the terminal's
stderr and appends it to the log file. Being another process, it still receives and
writes what the dying process wrote in its last moment.

If the copier cannot be started (no ``tee`` and no Python, fd 2 closed), ``faulthandler``
writes to the log file only, which is what the user needs to send in a bug report.
"""
from __future__ import annotations

import faulthandler
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

#: the fallback copier when coreutils' ``tee`` is missing (Windows, minimal systems)
_PY_TEE = (
    "import os, sys\n"
    "log = open(sys.argv[1], 'ab', buffering=0)\n"
    "while True:\n"
    "    b = os.read(0, 65536)\n"
    "    if not b:\n"
    "        break\n"
    "    os.write(1, b)\n"
    "    log.write(b)\n"
)

_state: dict = {}


def _start_copier(log_path: Path, stderr_fd: int) -> subprocess.Popen:
    tee = shutil.which("tee")
    # -i: a Ctrl+C in the terminal must not end the copier before the app's last words
    cmd = [tee, "-a", "-i", str(log_path)] if tee else [sys.executable, "-c", _PY_TEE, str(log_path)]
    r, w = os.pipe()
    try:
        child = subprocess.Popen(cmd, stdin=r, stdout=stderr_fd, stderr=subprocess.DEVNULL,
                                 close_fds=True, start_new_session=True)
    except BaseException:
        os.close(w)
        raise
    finally:
        os.close(r)
    os.dup2(w, 2)
    os.close(w)
    return child


def install_crash_guard(log_path: Path) -> bool:
    """Copy stderr into ``log_path`` and enable ``faulthandler`` for all threads.

    Also logs exceptions Python cannot raise anywhere (``sys.unraisablehook``: errors in
    ``__del__`` or in callbacks run by C code). Returns True when stderr is copied, False
    when only the log file receives the crash dumps. Call once, early, from the GUI's
    start-up (never from a library or a test process that shares its stderr).
    """
    log_path = Path(log_path)
    teed = False
    if "copier" not in _state and sys.platform != "win32":
        try:
            saved = os.dup(2)
            _state["copier"] = _start_copier(log_path, saved)
            os.close(saved)
            teed = True
        except OSError as e:
            log.warning("stderr cannot be copied into the log (%s): crash dumps go to the log only", e)
    if teed:
        faulthandler.enable(file=sys.stderr, all_threads=True)
    else:
        _state["fault_file"] = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process' life)
        faulthandler.enable(file=_state["fault_file"], all_threads=True)

    previous = sys.unraisablehook

    def unraisable(u) -> None:
        log.error("unraisable exception in %r: %s: %s", u.object, getattr(u.exc_type, "__name__", u.exc_type),
                  u.exc_value, exc_info=(u.exc_type, u.exc_value, u.exc_traceback) if u.exc_type else None)
        previous(u)

    sys.unraisablehook = unraisable
    log.info("crash guard on: pid %d, stderr %s", os.getpid(), "copied into this log" if teed else "not copied")
    return teed
