"""Qt-free job functions for tests/test_process_jobs.py: a worker process imports this
module by name (it is on sys.path under pytest), so it must not import Qt."""
from __future__ import annotations

import os
import sys
import time

from core.errors import InputError
from core.jobs import check, report


def count(n: int, delay_s: float = 0.0, progress=None, cancel=None) -> dict:
    """Reports n steps; returns facts about the process it ran in."""
    for i in range(n):
        check(cancel)
        time.sleep(delay_s)
        report(progress, i + 1, n, f"step {i + 1}")
    qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "vispy"))
    return {"pid": os.getpid(), "qt_modules": qt, "main": getattr(sys.modules.get("__main__"), "__file__", None)}


def scale(arr, k: float, progress=None, cancel=None):
    return arr * k


def deaf(seconds: float, progress=None, cancel=None) -> None:
    """Ignores cancel: only killing the process stops it early."""
    time.sleep(seconds)


def bad_input(path: str, progress=None, cancel=None) -> None:
    raise InputError(f"{path}: not a video (test)")


def buggy(progress=None, cancel=None) -> None:
    return {}["missing"]


def die(code: int, progress=None, cancel=None) -> None:
    os._exit(code)
