"""Atomic, pickle-free ``.npz`` reading and writing used by every file the app saves."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from core.atomic import atomic_open
from core.errors import InputError

#: more members than this is not one of our files (ours hold ~20)
MAX_MEMBERS = 256


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` to a temp file beside ``path``, then an atomic rename."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def memory_budget() -> int:
    """Bytes of arrays a file may ask for: three quarters of the machine's physical memory
    (a file declaring more is refused before anything is allocated)."""
    try:
        return int(0.75 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not on Linux: a fixed 4 GB
        return 4 << 30


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each array of an ``.npz``, read from the headers only (nothing
    allocated). InputError for a file that is not a readable npz or holds pickled objects."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InputError(f"{path}: {len(infos)} members, not a FaceStudio array file")
            for info in infos:
                name = info.filename
                if not name.endswith(".npy"):
                    raise InputError(f"{path}: holds {name!r}, which is not an array")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise InputError(f"{path}: array {name[:-4]!r} has .npy format {version}, "
                                         "which FaceStudio never writes")
                if dtype.hasobject:
                    raise InputError(f"{path}: array {name[:-4]!r} holds Python objects (pickle), which "
                                     "are never loaded")
                out[name[:-4]] = (tuple(int(n) for n in shape), dtype)
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, KeyError,
            NotImplementedError, RuntimeError) as e:
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); "
                         "it may be truncated or corrupt") from e
    return out


def load_npz_checked(path: Path, required: tuple[str, ...] = (), max_bytes: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` without pickle; clear errors for missing,
    truncated, foreign or oversized files.

    The arrays' declared sizes are checked before any is read: more than ``max_bytes``
    (default ``memory_budget()``) in total is refused instead of exhausting memory.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    headers = npz_headers(path)
    total = sum(int(np.prod(shape, dtype=np.float64)) * dtype.itemsize for shape, dtype in headers.values())
    budget = memory_budget() if max_bytes is None else max_bytes
    if total > budget:
        raise InputError(f"{path}: its arrays would take {total / 2**30:.1f} GB, more than the "
                         f"{budget / 2**30:.1f} GB this machine can give; the file is damaged or too large")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read its arrays") from None
    except Exception as e:  # noqa: BLE001 (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error ...)
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); "
                         "it may be truncated or corrupt") from e
    missing = [k for k in required if k not in data]
    if missing:
        raise InputError(f"{path}: missing arrays {', '.join(missing)}")
    return data
