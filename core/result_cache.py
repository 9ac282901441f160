"""A disk cache of tracking and reconstruction results, so a crash or a restart does not
cost the tracking and the fit of an unsaved clip again.

An entry is keyed by the *content* of the input (sha256 of the file, or of every file of
an image folder), the settings of the computation, and a fingerprint of the code that
computes it (the source files of core/tracking, core/fitting and core/model and the rig),
so a changed clip, changed settings or a new program version never get a stale result.
Hashing a file is remembered per (path, size, mtime), so a second lookup costs no
reading. Entries are ``.npz`` files written atomically; the oldest are removed when the
cache grows over its budget. A damaged entry is treated as missing.

Layout: ``<cache_dir>/results/<kind>-<key>.npz`` and ``<cache_dir>/results/hashes.json``
(``$FACESTUDIO_RESULTS_DIR`` replaces ``<cache_dir>/results``; the tests point it at a
temporary folder).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from core.atomic import write_text_atomic
from core.checksum import sha256_of
from core.errors import UserFacingError
from core.npz_io import load_npz_checked, save_npz_atomic
from core.user_dirs import cache_dir

log = logging.getLogger(__name__)

#: total size the cache may reach before its least recently used entries go
BUDGET_BYTES = 2 * 1024 ** 3
RESULTS_ENV = "FACESTUDIO_RESULTS_DIR"
_CODE_DIRS = ("core/tracking", "core/fitting", "core/model", "resources/rig")
_ROOT = Path(__file__).resolve().parents[1]
_code_fingerprints: dict[tuple[str, ...], str] = {}


def code_fingerprint(dirs: tuple[str, ...] = _CODE_DIRS) -> str:
    """sha256 over the source (``.py``, ``.json``) under ``dirs`` of the repository, by default the
    code that computes cached results; once per process and set of folders."""
    if dirs not in _code_fingerprints:
        h = hashlib.sha256()
        for d in dirs:
            for p in sorted((_ROOT / d).rglob("*")):
                if p.is_file() and p.suffix in (".py", ".json"):
                    h.update(str(p.relative_to(_ROOT)).encode())
                    h.update(p.read_bytes())
        _code_fingerprints[dirs] = h.hexdigest()
    return _code_fingerprints[dirs]


class ResultCache:
    """Tracking / reconstruction results by input content and settings (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None, budget_bytes: int = BUDGET_BYTES):
        if root is None:
            root = os.environ.get(RESULTS_ENV) or cache_dir() / "results"
        self.root = Path(root)
        self.budget_bytes = int(budget_bytes)

    # -- keys ----------------------------------------------------------------------------
    def content_hash(self, path: str | os.PathLike) -> str | None:
        """sha256 of a file, or of an image folder's files (names and contents); None for a
        live source (``webcam:N``, ``simcam:...``) or a path that does not exist."""
        p = Path(path)
        if str(path).startswith(("webcam:", "simcam:")) or not p.exists():
            return None
        files = [p] if p.is_file() else sorted(q for q in p.iterdir() if q.is_file())
        index_path = self.root / "hashes.json"
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            if not isinstance(index, dict):
                index = {}
        except (OSError, ValueError):
            index = {}
        h = hashlib.sha256()
        changed = False
        for f in files:
            st = f.stat()
            stamp = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"
            digest = index.get(stamp)
            if not isinstance(digest, str):
                digest = sha256_of(f)
                index[stamp] = digest
                changed = True
            # an image folder's order comes from the names; a single file's name does not matter
            h.update((f.name.encode() + b"\0" if p.is_dir() else b"") + digest.encode())
        if changed:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                # bounded: an index of hashes of files long gone must not grow forever
                items = list(index.items())[-2000:]
                write_text_atomic(index_path, json.dumps(dict(items)))
            except OSError as e:
                log.warning("result cache: cannot write %s (%s)", index_path, e)
        return h.hexdigest()

    def key(self, path: str | os.PathLike, kind: str, settings: dict) -> str | None:
        """The cache key of computing ``kind`` of ``path`` with ``settings`` (JSON-able), or None
        when the input cannot be cached."""
        content = self.content_hash(path)
        if content is None:
            return None
        text = json.dumps(dict(kind=kind, content=content, settings=settings, code=code_fingerprint()),
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    # -- entries -------------------------------------------------------------------------
    def _file(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}.npz"

    def get_arrays(self, kind: str, key: str | None) -> dict[str, np.ndarray] | None:
        """The arrays of entry ``kind``/``key``, or None (missing, damaged, or no key)."""
        if key is None:
            return None
        f = self._file(kind, key)
        if not f.is_file():
            return None
        try:
            data = load_npz_checked(f)
            os.utime(f)  # least recently *used* goes first when pruning
            return data
        except (UserFacingError, OSError) as e:
            log.warning("result cache: dropping a damaged entry %s (%s)", f, e)
            f.unlink(missing_ok=True)
            return None

    def put_arrays(self, kind: str, key: str | None, arrays: dict[str, np.ndarray]) -> None:
        """Store an entry (atomically); a full disk or a read-only cache only logs a warning."""
        if key is None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            save_npz_atomic(self._file(kind, key), arrays)
            self.prune()
        except OSError as e:
            log.warning("result cache: cannot store %s (%s)", self._file(kind, key), e)

    def prune(self) -> None:
        """Remove the least recently used entries until the cache fits its budget."""
        entries = []
        for f in self.root.glob("*.npz"):
            try:
                st = f.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, f))
        total = sum(e[1] for e in entries)
        for _t, size, f in sorted(entries):
            if total <= self.budget_bytes:
                break
            f.unlink(missing_ok=True)
            total -= size

    # -- typed helpers -------------------------------------------------------------------
    def get_track(self, key: str | None, source: str):
        """A cached TrackResult (its ``source`` set to ``source``), or None."""
        from core.tracking.result import TrackResult

        data = self.get_arrays("track", key)
        if data is None:
            return None
        try:
            track = TrackResult.from_arrays(data, where=str(self._file("track", key)))
        except UserFacingError as e:
            log.warning("result cache: %s", e)
            return None
        track.source = str(source)
        return track

    def put_track(self, key: str | None, track) -> None:
        """Keep a TrackResult under ``key``."""
        self.put_arrays("track", key, track.to_arrays())

    def get_reconstruction(self, key: str | None, source: str):
        """A cached Reconstruction (its ``source`` set to ``source``), or None."""
        from core.fitting.reconstruction import Reconstruction

        data = self.get_arrays("reconstruction", key)
        if data is None:
            return None
        try:
            rec = Reconstruction.from_arrays(data, str(self._file("reconstruction", key)))
        except UserFacingError as e:
            log.warning("result cache: %s", e)
            return None
        rec.source = str(source)
        return rec

    def put_reconstruction(self, key: str | None, rec) -> None:
        """Keep a Reconstruction under ``key``."""
        self.put_arrays("reconstruction", key, rec.to_arrays())


def track_digest(track) -> str:
    """sha256 of a TrackResult's landmarks and validity: what a fit of it depends on."""
    h = hashlib.sha256()
    for a in (track.landmarks, track.valid):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def track_cached(path: str, max_frames: int | None = None, cache: ResultCache | None = None,
                 progress=None, cancel=None):
    """``core.tracking.track_video(path, max_frames)``, or its earlier result from ``cache``
    (default: the user's result cache). The GUI's Track action runs this."""
    from core.jobs import report
    from core.tracking import track_video

    cache = cache if cache is not None else ResultCache()
    key = cache.key(path, "track", dict(max_frames=max_frames))
    track = cache.get_track(key, path)
    if track is not None:
        report(progress, 1, 1, "taken from the cache")
        return track
    track = track_video(path, max_frames=max_frames, progress=progress, cancel=cancel)
    cache.put_track(key, track)
    return track
