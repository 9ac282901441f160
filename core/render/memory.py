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
keeps at most ``arenas * trim_threshold`` of freed heap *at the top of its heaps*.

That is not a bound on the freed memory kept: glibc trims a heap only from its top, so a
block freed below a block still in use stays resident (fragmentation). A person editing
without pause in the GUI soak (an action every 0.7 s, live preview and recordings in
between) left ~230 MB of such freed heap after 5 minutes (RSS 969 MB, 736 MB after
``malloc_trim``; the memory in use did not grow), and the process grew ~20 MB a minute
with it. :func:`release_freed_memory` gives all freed heap pages back (glibc's
``malloc_trim``: ~20 ms for 300 MB); the GUI calls it now and then (``app.gui_main``),
so the freed memory kept is what the frames since the last call freed, and the next
frame's buffers page-fault once.
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


def _glibc_function(name: str, argtypes: list, restype):
    """The glibc function ``name`` with its C signature, or None where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, restype
    return fn


def retain_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20, arenas: int = 2) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap, keep up to ``trim_threshold``
    bytes of freed heap per arena, and use at most ``arenas`` malloc arenas. Returns True if
    glibc accepted the settings."""
    global _done
    if _done:
        return True
    mallopt = _glibc_function("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
    if mallopt is None:
        return False
    # the arena cap first: it must hold before threads create more arenas
    _done = (bool(mallopt(_M_ARENA_MAX, arenas)) and bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
             and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold)))
    return _done


def release_freed_memory() -> bool:
    """Give every freed page of the malloc heaps back to the operating system (glibc's
    ``malloc_trim(0)``: pages inside free blocks anywhere in a heap, not only at its top;
    thread-safe). Returns True if something was released; False also where glibc is not
    there."""
    trim = _glibc_function("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
    return trim is not None and bool(trim(0))
