"""The project document on disk: a folder holding ``project.json`` and ``.npz`` arrays.

Layout of ``NAME/`` (any folder name; ``.fsproj`` is customary)::

    project.json                     schema version, source, model, settings, edits, array index
    reconstruction-<gen>-<id>.npz    Reconstruction arrays (core.fitting.reconstruction)
    track-<gen>-<id>.npz             TrackResult arrays (optional)
    .lock                            the writers' advisory lock (core.project.lock)

Saving is crash-safe: the arrays are written under new, unique names (each file itself
atomically: temp file, fsync, rename), then ``project.json`` is replaced atomically (it is
the commit point), then everything the new ``project.json`` does not name is deleted: the
previous generation, and what earlier saves that were killed left behind (temp files,
arrays never committed). A crash at any moment leaves either the old or the new project
complete, never a mix. ``project.json`` records each array file's size and sha256, so a
truncated or edited file is reported, not half-loaded.

One writer at a time: a save takes the folder's lock (``core.project.lock``; it waits for
another save, and refuses when an editor holds the project open), or uses the lock its
caller holds (``open_project``). Readers take no lock: a load that finds ``project.json``
replaced while it read the arrays (a save committed meanwhile) reads the new one.

Everything read is checked (``core.project.validate``): JSON size and depth, field types,
array shapes, dtypes, finiteness, rotations, coefficient ranges, array files that stay inside
the folder, and the frame count against the source clip when it is there.
Unknown top-level JSON keys are kept on load and written back on save, so older
versions of the program do not drop what newer ones add.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import ensure_folder, fsync_folder, is_temp_name, remove_quietly, write_text_atomic
from core.checksum import sha256_of
from core.errors import InputError, OutputError, UserFacingError, output_error
from core.fitting.reconstruction import Reconstruction
from core.npz_io import load_npz_checked, save_npz_atomic
from core.project.lock import LOCK_NAME, ProjectLock, lock_project
from core.project.validate import (MAX_JSON_BYTES, check_reconstruction_arrays, check_track_arrays, is_int,
                                   parse_json)
from core.tracking.result import TrackResult

FORMAT = "facestudio.project"
SCHEMA_VERSION = 1
JSON_NAME = "project.json"
_KNOWN = {"format", "schema_version", "source", "model", "settings", "edits", "arrays"}


def _source_path(source: str, folder: Path | None) -> Path:
    p = Path(source).expanduser()
    if p.is_absolute() or folder is None:
        return p
    return (Path(folder) / p).resolve()


def project_source(folder: str | os.PathLike) -> Path | None:
    """The source video of the project saved in ``folder`` (read from its JSON only, by
    :attr:`Project.source_path`'s rule), or None when ``folder`` is not a readable project."""
    try:
        doc = json.loads((Path(folder) / JSON_NAME).read_text(encoding="utf-8"))
        source = doc.get("source") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None
    return _source_path(source, Path(folder)) if isinstance(source, str) and source else None


@dataclass
class Project:
    """An open project.

    source : str            path of the video/image the project was made from, as stored: absolute,
                            or relative to the project folder (use :attr:`source_path`)
    model_spec : str        face model spec for ``core.model.registry.load_model``
    reconstruction : Reconstruction or None
    track : TrackResult or None
    edits : dict            JSON-serialisable; later features (keyframes, curves) live here
    settings : dict         JSON-serialisable (fit settings, view options)
    extra : dict            unknown top-level keys read from a newer file, written back unchanged
    """

    source: str
    model_spec: str
    reconstruction: Reconstruction | None = None
    track: TrackResult | None = None
    edits: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    #: the folder the project was loaded from (None: not saved yet)
    folder: Path | None = None

    @property
    def source_path(self) -> Path:
        """The source as a path: ``source`` when absolute, else relative to the project folder
        (the one rule for every reader of a project: the editor, ``render``, the QA commands);
        a project not saved yet has only the current directory to go by."""
        return _source_path(self.source, self.folder)

    def reconstruction_and_source(self) -> tuple[Reconstruction, Path]:
        """What rendering a project needs: its reconstruction and its source video's path
        (:attr:`source_path`). InputError, naming the project, when either is missing."""
        where = self.folder or self.source or "the project"
        if self.reconstruction is None:
            raise InputError(f"{where}: the project has no reconstruction yet; reconstruct it first")
        src = self.source_path
        if not self.source or not src.exists():
            raise InputError(f"{where}: the project's source video {self.source or '(none)'} was not found "
                             f"(looked for {src})")
        return self.reconstruction, src


#: array files a save writes: ``<kind>-<generation>[-<8 hex>].npz`` (the bare form: older saves)
ARRAY_FILE_RE = re.compile(r"^(reconstruction|track)-(\d{1,12})(?:-[0-9a-f]{8})?\.npz$")
#: what an array file named in project.json may look like (a plain name inside the folder)
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,200}\.npz$")
#: longest source path accepted from project.json
_MAX_SOURCE_CHARS = 4096

_save_locks: dict[str, threading.Lock] = {}
_save_locks_guard = threading.Lock()


def _thread_lock(folder: Path) -> threading.Lock:
    """One lock per folder within this process: two threads saving one project take turns
    (the folder's flock separates processes and windows; this keeps one window's autosave
    and Save apart even when they share one ProjectLock)."""
    key = os.path.abspath(folder)
    with _save_locks_guard:
        return _save_locks.setdefault(key, threading.Lock())


def _inside(folder: Path, fp: Path) -> bool:
    """``fp`` (after following symlinks) is inside ``folder``."""
    try:
        fp.resolve(strict=False).relative_to(folder.resolve(strict=False))
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _read_json(path: Path) -> dict:
    """project.json of folder ``path``, parsed and checked (format, version, field types)."""
    jp = path / JSON_NAME
    if not path.is_dir():
        raise InputError(f"{path}: not a project folder (expected a folder holding {JSON_NAME})")
    if not jp.exists() and not jp.is_symlink():
        raise InputError(f"{path}: not a project ({JSON_NAME} is missing)")
    if not _inside(path, jp):
        raise InputError(f"{jp}: is a link to a file outside the project folder; refused")
    if not jp.is_file():
        raise InputError(f"{jp}: not a regular file")
    try:
        size = jp.stat().st_size
        if size > MAX_JSON_BYTES:
            raise InputError(f"{jp}: {size:,} bytes, more than the {MAX_JSON_BYTES:,} a project file holds; "
                             "the file is damaged or not a project file")
        with open(jp, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise InputError(f"{jp}: cannot be read ({e.strerror or e})") from e
    doc = parse_json(raw, str(jp))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{jp}: not a FaceStudio project file")
    ver = doc.get("schema_version")
    if not is_int(ver) or ver < 1:
        raise InputError(f"{jp}: missing or invalid schema_version {ver!r}")
    if ver > SCHEMA_VERSION:
        raise InputError(f"{jp}: project schema version {ver} is newer than this program supports "
                         f"({SCHEMA_VERSION}); update FaceStudio to open it")
    source = doc.get("source", "")
    if not isinstance(source, str) or len(source) > _MAX_SOURCE_CHARS or "\0" in source:
        raise InputError(f"{jp}: 'source' must be a file path (text)")
    model = doc.get("model", {})
    if not isinstance(model, dict) or not all(isinstance(model.get(k, ""), str) for k in ("spec", "name")):
        raise InputError(f"{jp}: 'model' must be an object with text 'spec' and 'name'")
    if not isinstance(doc.get("settings", {}), dict) or not isinstance(doc.get("edits", {}), dict):
        raise InputError(f"{jp}: 'settings' and 'edits' must be JSON objects")
    index = doc.get("arrays", {})
    if not isinstance(index, dict):
        raise InputError(f"{jp}: 'arrays' must be an object")
    for name in ("reconstruction", "track"):
        e = index.get(name)
        if e is None:
            continue
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or not _SAFE_NAME_RE.match(e["file"]):
            raise InputError(f"{jp}: invalid entry for the {name} arrays (the file must be a plain .npz "
                             "name inside the project folder)")
        for key in ("bytes", "frames", "expressions", "identity"):
            if key in e and (not is_int(e[key]) or e[key] < 0):
                raise InputError(f"{jp}: the {name} entry's {key!r} must be a whole number, not {e[key]!r}")
        if "sha256" in e and (not isinstance(e["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", e["sha256"])):
            raise InputError(f"{jp}: the {name} entry's 'sha256' is not a checksum")
    return doc


def _generations(folder: Path, index: dict) -> list[int]:
    """Every generation number in use: named by project.json (whatever type a hand edit gave
    it) or by an array file in the folder (a killed save's, never committed)."""
    gens = []
    for e in index.values() if isinstance(index, dict) else ():
        g = e.get("generation") if isinstance(e, dict) else None
        if is_int(g) and 0 <= g < 10**12:
            gens.append(g)
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    gens += [int(m.group(2)) for n in names if (m := ARRAY_FILE_RE.match(n))]
    return gens


def _remove_leftovers(folder: Path, keep: set[str]) -> list[str]:
    """After a save committed: delete array files project.json does not name and temp files
    (left by saves that were killed, or the previous generation). Returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if name in keep or name in (JSON_NAME, LOCK_NAME):
            continue
        if ARRAY_FILE_RE.match(name) or is_temp_name(name):
            remove_quietly(folder / name)
            removed.append(name)
    return removed


def save_project(path: str | os.PathLike, project: Project, lock: ProjectLock | None = None,
                 wait: float = 30.0) -> None:
    """Write ``project`` into folder ``path`` (created if needed), crash-safely.

    lock : the folder's ProjectLock the caller holds (an editor's session, ``open_project``);
    None takes one for this save, waiting up to ``wait`` seconds for another save and
    refusing at once (ProjectLockedError) when an editor holds the project open.
    Raises OutputError naming the folder when it cannot be written (read-only, disk full).
    """
    path = Path(path)
    if lock is not None and (not lock.held or os.path.abspath(lock.folder) != os.path.abspath(path)):
        raise ValueError(f"the lock given is not a held lock of {path}")
    ensure_folder(path)
    own = lock_project(path, kind="save", wait=wait) if lock is None else None
    try:
        with _thread_lock(path):
            _save_locked(path, project)
    finally:
        if own is not None:
            own.release()


def _save_locked(path: Path, project: Project) -> None:
    old = {}
    if (path / JSON_NAME).is_file():
        try:
            old = _read_json(path).get("arrays", {})
        except InputError:
            old = {}
    gen = max(_generations(path, old) + [0]) + 1
    token = secrets.token_hex(4)
    arrays_index: dict[str, dict] = {}
    written: list[Path] = []
    try:
        blocks = {}
        if project.reconstruction is not None:
            blocks["reconstruction"] = project.reconstruction.to_arrays()
        if project.track is not None:
            blocks["track"] = project.track.to_arrays()
        # what is written is checked as a reader will check it: a save never leaves a project
        # that cannot be opened again (the previous save stays the project until this one is whole)
        checks = {"reconstruction": check_reconstruction_arrays, "track": check_track_arrays}
        for name, arrays in blocks.items():   # (as arrays, the way np.load gives them back)
            checks[name]({k: np.asarray(v) for k, v in arrays.items()}, f"{path}: refusing to save: the {name}")
        for name, arrays in blocks.items():
            fname = f"{name}-{gen}-{token}.npz"
            written.append(path / fname)
            save_npz_atomic(path / fname, arrays)
            entry = dict(file=fname, generation=gen, bytes=(path / fname).stat().st_size,
                         sha256=sha256_of(path / fname))
            if name == "reconstruction":
                r = project.reconstruction
                entry.update(frames=r.num_frames, expressions=int(r.expression.shape[1]),
                             identity=int(r.identity.shape[0]))
            else:
                entry.update(frames=project.track.num_frames)
            arrays_index[name] = entry
        doc = dict(project.extra)
        doc.update(format=FORMAT, schema_version=SCHEMA_VERSION, source=str(project.source),
                   model=dict(spec=str(project.model_spec),
                              name=project.reconstruction.model_name if project.reconstruction else ""),
                   settings=project.settings, edits=project.edits, arrays=arrays_index)
        try:
            text = json.dumps(doc, indent=1, allow_nan=False)
        except (TypeError, ValueError) as e:  # the caller put something JSON cannot hold into it
            raise ValueError(f"{path}: the project's settings or edits cannot be saved as JSON ({e})") from e
        write_text_atomic(path / JSON_NAME, text)  # the commit point
        fsync_folder(path)
    except OSError as e:  # (writes themselves raise OutputError; this is stat/sha of what was written)
        for p in written:  # the old json still points at the old files
            remove_quietly(p)
        raise output_error(path, e, "cannot save the project") from e
    except BaseException:
        for p in written:
            remove_quietly(p)
        raise
    _remove_leftovers(path, {p.name for p in written})


def _json_stamp(path: Path) -> bytes | None:
    """project.json's bytes (a few kB): what a load read, to tell whether a save replaced it
    meanwhile. Not its inode and mtime: a busy file system reuses the inode of the file just
    replaced and can give two saves in one clock tick the same mtime, and two saves that differ
    only in an edit of the same length then look the same (a concurrent load failed that way)."""
    try:
        return (path / JSON_NAME).read_bytes()
    except OSError:
        return None


def load_project(path: str | os.PathLike, check_source: bool = True) -> Project:
    """Read a project folder; InputError naming the file and the problem when anything is off.

    check_source : check the arrays' frame count (at most the clip's) and frame size against the source when
    the source is there (a missing source is not an error here: the caller reports it when it
    needs the pictures). Never writes (read-only media are fine) and takes no lock: when a save
    replaces project.json while this reads, the new one is read instead (up to LOAD_ATTEMPTS
    times).
    """
    path = Path(path)
    for attempt in range(LOAD_ATTEMPTS):
        stamp = _json_stamp(path)
        try:
            return _load_once(path, check_source)
        except InputError:
            if attempt == LOAD_ATTEMPTS - 1 or stamp is None or _json_stamp(path) == stamp:
                raise


#: reads of a project that a concurrent save keeps replacing, before the load gives up
LOAD_ATTEMPTS = 8


def _load_once(path: Path, check_source: bool) -> Project:
    doc = _read_json(path)
    jp = path / JSON_NAME
    index = doc.get("arrays", {})
    data = {}
    for name in ("reconstruction", "track"):
        e = index.get(name)
        if e is None:
            continue
        fp = path / e["file"]
        if not fp.exists() and not fp.is_symlink():
            raise InputError(f"{fp}: missing ({name} arrays of the project)")
        if not _inside(path, fp):
            raise InputError(f"{fp}: is a link to a file outside the project folder; refused")
        if not fp.is_file():
            raise InputError(f"{fp}: not a regular file ({name} arrays of the project)")
        try:
            size = fp.stat().st_size
            if "bytes" in e and size != e["bytes"]:
                raise InputError(f"{fp}: size {size} bytes, project.json says {e['bytes']}; "
                                 "the file is truncated or was replaced")
            if "sha256" in e and sha256_of(fp) != e["sha256"]:
                raise InputError(f"{fp}: contents do not match the checksum in project.json; "
                                 "the file was modified or damaged")
        except OSError as e2:
            raise InputError(f"{fp}: cannot be read ({e2.strerror or e2})") from e2
        arrays = load_npz_checked(fp)
        F = check_reconstruction_arrays(arrays, str(fp)) if name == "reconstruction" else \
            check_track_arrays(arrays, str(fp))
        if "frames" in e and e["frames"] != F:
            raise InputError(f"{fp}: has {F} frames, project.json says {e['frames']}")
        data[name] = (fp, arrays, e)
    rec = None
    if "reconstruction" in data:
        fp, arrays, e = data["reconstruction"]
        rec = _build(Reconstruction.from_arrays, arrays, fp)
        for key, actual in (("expressions", int(rec.expression.shape[1])), ("identity", int(rec.identity.shape[0]))):
            if key in e and e[key] != actual:
                raise InputError(f"{fp}: has {actual} {key}, project.json says {e[key]}")
    track = None
    if "track" in data:
        fp, arrays, e = data["track"]
        track = _build(TrackResult.from_arrays, arrays, fp)
        if rec is not None and track.num_frames != rec.num_frames:
            raise InputError(f"{path}: track has {track.num_frames} frames but the reconstruction has {rec.num_frames}")
    model = doc.get("model", {})
    project = Project(source=doc.get("source", ""), model_spec=model.get("spec", ""), reconstruction=rec,
                      track=track, edits=doc.get("edits", {}), settings=doc.get("settings", {}),
                      extra={k: v for k, v in doc.items() if k not in _KNOWN}, folder=path)
    if check_source and project.source:
        _check_against_source(project, jp)
    return project


def _build(make, arrays: dict, fp: Path):
    """TrackResult / Reconstruction from checked arrays; whatever slipped past the checks
    still becomes an InputError naming the file."""
    try:
        return make(arrays, str(fp))
    except UserFacingError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise InputError(f"{fp}: the arrays do not form a valid result ({type(e).__name__}: {e})") from e


_source_cache: dict[tuple, tuple[int, tuple[int, int]]] = {}


def source_frames(src: Path) -> tuple[int, tuple[int, int]]:
    """(frame count, (H, W)) of a video, image or image folder; cached per file version.
    InputError when it cannot be read."""
    from core.video import open_source

    st = src.stat()
    key = (str(src.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _source_cache.get(key)
    if hit is None:
        with open_source(str(src)) as video:
            if video.is_live:
                raise InputError(f"{src}: not a clip with frames")
            hit = (int(video.frame_count), tuple(int(v) for v in video.size))
        if len(_source_cache) > 32:
            _source_cache.clear()
        _source_cache[key] = hit
    return hit


def _check_against_source(project: Project, jp: Path) -> None:
    """The arrays belong to the source: its frame size, and no more frames than it has (they
    cover its first F frames)."""
    src = project.source_path
    try:
        if not src.exists():
            return
    except OSError:
        return
    frames, size = source_frames(src)
    rec, track = project.reconstruction, project.track
    counts = (("reconstruction", rec.num_frames if rec else None), ("track", track.num_frames if track else None))
    for what, F in counts:
        # (fewer frames: a project of the clip's beginning, as the editor makes with a frame limit)
        if F is not None and F > frames:
            raise InputError(f"{jp}: the {what} has {F} frames but the project's source {src} has only "
                             f"{frames}; the arrays belong to another clip or the project is damaged")
    if rec is not None and tuple(rec.image_size) not in ((0, 0), size):
        raise InputError(f"{jp}: the reconstruction was made on {rec.image_size[1]}x{rec.image_size[0]} frames "
                         f"but the source {src} is {size[1]}x{size[0]}")
    if track is not None and tuple(track.size) != size:
        raise InputError(f"{jp}: the track was made on {track.size[1]}x{track.size[0]} frames "
                         f"but the source {src} is {size[1]}x{size[0]}")


@dataclass
class OpenProject:
    """A project opened for editing: the folder, what was loaded, and the write lock.

    ``lock`` None: opened read-only (another window holds it, or the media is read-only);
    ``save`` then refuses and the caller offers Save As. Close it to give the lock up.
    """

    folder: Path
    project: Project
    lock: ProjectLock | None

    @property
    def read_only(self) -> bool:
        return self.lock is None

    def save(self, project: Project | None = None) -> None:
        """Save ``project`` (default: the loaded one) back into the folder under the held lock."""
        if self.lock is None:
            raise OutputError(f"{self.folder}: the project was opened read-only; save it under another name")
        save_project(self.folder, project if project is not None else self.project, lock=self.lock)
        if project is not None:
            self.project = project

    def close(self) -> None:
        """Give the write lock up (idempotent)."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> "OpenProject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_project(path: str | os.PathLike, read_only: bool = False, program: str = "FaceStudio",
                 check_source: bool = True) -> OpenProject:
    """Open a project for editing: take its write lock (kind "session", held until ``close``),
    then load it. ``read_only`` loads it without the lock.

    Raises ProjectLockedError (``.holder`` says who) when another window or process has it
    open for writing: offer ``open_project(path, read_only=True)``; OutputError when the
    folder cannot hold a lock (read-only media): open it read-only; InputError for a damaged
    project.
    """
    path = Path(path)
    if read_only:
        return OpenProject(path, load_project(path, check_source), None)
    if not (path / JSON_NAME).is_file():  # no lock file left in a folder that is no project
        load_project(path, check_source)
    lock = lock_project(path, kind="session", program=program, wait=5.0)
    try:
        return OpenProject(path, load_project(path, check_source), lock)
    except BaseException:
        lock.release()
        raise
