"""Run the fitters with single-threaded BLAS.

The fitters' linear algebra is many small or banded problems (153x153 solves,
bandwidth-106 banded Cholesky). OpenBLAS threads gain nothing there, and on a
busy 2-core machine their spin-waiting made the whole-video fit 10x slower
(measured: d12, 2.4 s single-threaded vs 23 s with default threads under load).
No threadpoolctl dependency: the OpenBLAS copies already loaded by numpy/scipy
are found in the process map and switched through their C API.
"""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_libs: list[tuple[object, object]] | None = None


def _find() -> list[tuple[object, object]]:
    global _libs
    if _libs is not None:
        return _libs
    import numpy  # noqa: F401  (make sure the BLAS libraries are loaded)
    import scipy.linalg  # noqa: F401

    found, paths = [], set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                if "openblas" in p.lower() and (".so" in p or p.endswith(".dylib")):
                    paths.add(p)
    except OSError:
        paths = set()
    for p in sorted(paths):
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for suffix in ("scipy_openblas_{}64_", "scipy_openblas_{}", "openblas_{}64_", "openblas_{}"):
            try:
                setf = getattr(lib, suffix.format("set_num_threads"))
                getf = getattr(lib, suffix.format("get_num_threads"))
            except AttributeError:
                continue
            getf.restype = ctypes.c_int
            found.append((setf, getf))
            break
    _libs = found
    return found


@contextmanager
def single_threaded_blas():
    """Context manager: OpenBLAS uses one thread inside, previous counts restored after."""
    with _lock:
        libs = _find()
        saved = [int(g()) for _, g in libs]
        for s, _ in libs:
            s(ctypes.c_int(1))
    try:
        yield
    finally:
        with _lock:
            for (s, _), n in zip(libs, saved):
                s(ctypes.c_int(n))
