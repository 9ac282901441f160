"""Choosing a face model by name: ``load_model("builtin" | "ict" | PATH)``.

``ict`` is searched in, in order: ``$FACESTUDIO_ICT_DIR``, ``~/.local/share/facestudio/models/ict_facekit``,
and ``../shared/models/ict_facekit`` next to the repository; in each folder the compact
``ict_facemodel_light.npz`` is preferred, else the OBJ toolkit layout. A PATH is an ``.npz``
or a toolkit folder. Every model is validated on load (FaceModel.validate) and cached
in-process (keyed by spec and file modification time). ICT models get the tracker's
478-point landmark embedding (computed once and cached on disk, see core.model.embedding).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from core.errors import InputError
from core.model.face_model import FaceModel

REPO = Path(__file__).resolve().parents[2]
ICT_ENV = "FACESTUDIO_ICT_DIR"
ICT_NPZ = "ict_facemodel_light.npz"

_cache: dict[tuple, FaceModel] = {}
_lock = threading.Lock()


def ict_search_dirs() -> list[Path]:
    """Where ICT-FaceKit is looked for, in order: ``$FACESTUDIO_ICT_DIR``, the per-user data folder,
    ``../shared/models/ict_facekit``."""
    dirs = []
    if os.environ.get(ICT_ENV):
        dirs.append(Path(os.environ[ICT_ENV]).expanduser())
    dirs.append(Path.home() / ".local" / "share" / "facestudio" / "models" / "ict_facekit")
    dirs.append(REPO.parent / "shared" / "models" / "ict_facekit")
    return dirs


def find_ict() -> Path:
    """The first usable ICT-FaceKit file or folder; InputError listing where it looked."""
    looked = []
    for d in ict_search_dirs():
        looked.append(str(d))
        if (d / ICT_NPZ).is_file():
            return d / ICT_NPZ
        if (d / "generic_neutral_mesh.obj").is_file() and (d / "vertex_indices.json").is_file():
            return d
    raise InputError("ICT-FaceKit model not found. Looked in: " + "; ".join(looked) +
                     f". Put {ICT_NPZ} (or the toolkit's OBJ folder) in one of them, or set {ICT_ENV}.")


def _load_path(path: Path, embed: bool) -> FaceModel:
    from core.model import ict

    if path.is_dir():
        model = ict.load_ict_folder(path)
    elif path.suffix.lower() == ".npz":
        model = ict.load_ict_npz(path)
    elif not path.exists():
        raise InputError(f"{path}: face model not found (expected 'builtin', 'ict', an .npz file or a toolkit folder)")
    else:
        raise InputError(f"{path}: unknown face model format (expected an .npz file or an ICT-FaceKit folder)")
    if embed:
        from core.model.embedding import attach_tracker_embedding
        from core.model.tracker_neutral import reembed_from_neutral
        attach_tracker_embedding(model)
        reembed_from_neutral(model)
    return model


def _cache_key(spec: str, embed: bool) -> tuple[tuple, Path | None]:
    if spec == "builtin":
        return ("builtin",), None
    path = find_ict() if spec == "ict" else Path(spec).expanduser()
    mtime = path.stat().st_mtime_ns if path.exists() else None
    return (str(path.resolve()) if path.exists() else str(path), mtime, embed), path


def remember_model(spec: str, model: FaceModel, embed: bool = True) -> None:
    """Cache ``model`` as what ``load_model(spec, embed)`` returns, unless one is cached.

    For a model built elsewhere (the app's worker process sends it back), so this
    process does not build it again.
    """
    key, _ = _cache_key(str(spec).strip(), embed)
    with _lock:
        _cache.setdefault(key, model)


def load_model(spec: str = "builtin", embed: bool = True) -> FaceModel:
    """Load (or reuse) a face model. ``embed``: attach the tracker embedding to file models."""
    spec = str(spec).strip()
    key, path = _cache_key(spec, embed)
    with _lock:
        if key in _cache:
            return _cache[key]
    if spec == "builtin":
        from core.model.builtin import build_builtin_model
        model = build_builtin_model()
    else:
        model = _load_path(path, embed)
    model.validate()
    with _lock:
        _cache[key] = model
    return model


def clear_cache() -> None:
    """Forget the loaded models (tests; a changed model file)."""
    with _lock:
        _cache.clear()
