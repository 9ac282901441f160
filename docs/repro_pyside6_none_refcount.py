"""Minimal reproducer: PySide6 6.12.0 loses a reference to None on every void method call.

    python docs/repro_pyside6_none_refcount.py        # no display needed (QtCore only)

On Python 3.11 (where None is not immortal) each call of a wrapped C++ method that
returns void drops None's reference count by one, so a GUI that makes a few thousand
such calls a second (QPainter.fillRect, QLabel.setText, QSlider.setValue, ...) deallocates
None within seconds: "Fatal Python error: none_dealloc: deallocating None".
PySide6-Essentials / shiboken6 6.11.3 do not have the bug (delta 0.000 per call).
On Python >= 3.12 None is immortal (PEP 683): the same bug is invisible there.

Prints the change of sys.getrefcount(None) per call and exits 1 when it is negative.
"""
import sys

import PySide6
from PySide6.QtCore import QObject

CALLS = 100  # (a few thousand are enough to abort a small process at exit)

obj = QObject()
before = sys.getrefcount(None)
for _ in range(CALLS):
    obj.setObjectName("x")  # returns void
per_call = (sys.getrefcount(None) - before) / CALLS
print(f"Python {sys.version.split()[0]}, PySide6 {PySide6.__version__}: "
      f"sys.getrefcount(None) changes by {per_call:+.3f} per void call")
sys.exit(1 if per_call < -0.5 else 0)
