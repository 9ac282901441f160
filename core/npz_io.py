"""Atomic, pickle-free ``.npz`` reading and writing used by every file the app saves."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import atomic_open
from core.errors import InputError


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` to a temp file beside ``path``, then an atomic rename."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_npz_checked(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` without pickle; clear errors for missing,
    truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError, OSError, EOFError ...
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); "
                         "it may be truncated or corrupt") from e
    missing = [k for k in required if k not in data]
    if missing:
        raise InputError(f"{path}: missing arrays {', '.join(missing)}")
    return data
