"""Start-up check of the installed Qt binding for the reference-count bug of PySide6 6.12.0.

PySide6 / shiboken6 6.12.0 return ``None`` from every wrapped C++ method that returns
void without taking a new reference to it. On Python 3.11 (``None`` is not immortal
before 3.12) the reference count of ``None`` then falls by one per call, and a GUI that
makes thousands of such calls a second (painting, labels, sliders) aborts within seconds
with "Fatal Python error: none_dealloc". ``requirements.txt`` pins a good version; this
check catches an environment installed some other way before the user loses work.
See ``docs/pyside6-none-refcount.md``.
"""
from __future__ import annotations

import sys

CALLS = 64


def none_references_lost_per_call() -> float:
    """References to ``None`` lost per void method call of the Qt binding (0.0 when healthy).

    Makes ``CALLS`` calls of ``QObject.setObjectName`` (returns void); needs no
    QApplication and no display. Too few calls to do harm when the bug is there.
    """
    from PySide6.QtCore import QObject

    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        obj.setObjectName("probe")
    return max(0.0, (before - sys.getrefcount(None)) / CALLS)


def binding_problem() -> str | None:
    """A message for the user when the installed PySide6 has the bug, else None."""
    if none_references_lost_per_call() < 0.5:
        return None
    import PySide6

    return (f"the installed PySide6 {PySide6.__version__} has a reference-count bug that makes "
            f"FaceStudio abort within seconds on Python {sys.version_info.major}.{sys.version_info.minor} "
            "('none_dealloc'). Run scripts/install.sh (or `bash run.sh`) to install the pinned "
            "PySide6-Essentials from requirements.txt; see docs/pyside6-none-refcount.md.")
