"""Per-user folders of the app's computed data (no Qt: the command line uses them too)."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FACESTUDIO_CACHE_DIR"


def cache_dir() -> Path:
    """``$FACESTUDIO_CACHE_DIR``, else ``$XDG_CACHE_HOME/facestudio``, else ``~/.cache/facestudio``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facestudio"
