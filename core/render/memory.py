"""Keep freed heap memory for reuse: per-frame buffers otherwise cost page faults.

Every render returns fresh arrays of ~1 MB (ids, barycentrics, images), and callers
drop them a frame later. glibc serves blocks that size with mmap and returns them to
the OS on free, so the next frame's arrays page-fault again: ~350 faults per 512x512
NMFC + ids frame, 1-2 ms on this VM, more than the numpy work on them. Raising glibc's
mmap and trim thresholds makes such blocks come from the heap and be reused instead.
The cost is that up to ``trim_threshold`` bytes of freed memory stay with the process
*per malloc arena*, and glibc gives threads arenas of their own (up to 8 per core). In the
app every live-preview start, export and render thread added one: the GUI process grew by
~60 MB a minute in the 10-minute GUI soak (bench/bench_gui_soak.py) to 2 GB, all of it
freed memory kept for reuse. So the arenas are capped too (``M_ARENA_MAX``): the process
keeps at most ``arenas * trim_threshold`` of freed heap.
Process-wide and idempotent; a no-op where glibc's ``mallopt`` is not available.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_done = False


def retain_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20, arenas: int = 2) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap, keep up to ``trim_threshold``
    bytes of freed heap per arena, and use at most ``arenas`` malloc arenas. Returns True if
    glibc accepted the settings."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # the arena cap first: it must hold before threads create more arenas
    _done = (bool(mallopt(_M_ARENA_MAX, arenas)) and bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
             and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold)))
    return _done
