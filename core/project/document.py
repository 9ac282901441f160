"""The project document on disk: a folder holding ``project.json`` and ``.npz`` arrays.

Layout of ``NAME/`` (any folder name; ``.fsproj`` is customary)::

    project.json                 schema version, source, model, settings, edits, array index
    reconstruction-<gen>.npz     Reconstruction arrays (core.fitting.reconstruction)
    track-<gen>.npz              TrackResult arrays (optional)

Saving is crash-safe: the arrays are written under new generation names (each
file itself atomically: temp file, fsync, rename), then ``project.json`` is
replaced atomically (it is the commit point), then the previous generation's
files are deleted. A crash at any moment leaves either the old or the new
project complete, never a mix. ``project.json`` records each array file's size
and sha256, so a truncated or edited file is reported, not half-loaded.
Unknown top-level JSON keys are kept on load and written back on save, so older
versions of the program do not drop what newer ones add.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import write_text_atomic
from core.checksum import sha256_of
from core.errors import InputError
from core.fitting.reconstruction import Reconstruction
from core.npz_io import load_npz_checked, save_npz_atomic
from core.tracking.result import TrackResult

FORMAT = "facestudio.project"
SCHEMA_VERSION = 1
JSON_NAME = "project.json"
_KNOWN = {"format", "schema_version", "source", "model", "settings", "edits", "arrays"}


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
        p = Path(self.source).expanduser()
        if p.is_absolute() or self.folder is None:
            return p
        return (Path(self.folder) / p).resolve()

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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict:
    jp = path / JSON_NAME
    if not path.is_dir():
        raise InputError(f"{path}: not a project folder (expected a folder holding {JSON_NAME})")
    if not jp.is_file():
        raise InputError(f"{path}: not a project ({JSON_NAME} is missing)")
    try:
        doc = json.loads(jp.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{jp}: not valid JSON ({e}); the file is truncated or damaged") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{jp}: not a FaceStudio project file")
    ver = doc.get("schema_version")
    if not isinstance(ver, int) or ver < 1:
        raise InputError(f"{jp}: missing or invalid schema_version {ver!r}")
    if ver > SCHEMA_VERSION:
        raise InputError(f"{jp}: project schema version {ver} is newer than this program supports "
                         f"({SCHEMA_VERSION}); update FaceStudio to open it")
    return doc


def save_project(path: str | os.PathLike, project: Project) -> None:
    """Write ``project`` into folder ``path`` (created if needed), crash-safely."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    old = {}
    if (path / JSON_NAME).is_file():
        try:
            old = _read_json(path).get("arrays", {})
        except InputError:
            old = {}
    gen = max([int(v.get("generation", 0)) for v in old.values() if isinstance(v, dict)] + [0]) + 1
    arrays_index: dict[str, dict] = {}
    written: list[Path] = []
    try:
        blocks = {}
        if project.reconstruction is not None:
            blocks["reconstruction"] = project.reconstruction.to_arrays()
        if project.track is not None:
            blocks["track"] = project.track.to_arrays()
        for name, arrays in blocks.items():
            fname = f"{name}-{gen}.npz"
            save_npz_atomic(path / fname, arrays)
            written.append(path / fname)
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
        text = json.dumps(doc, indent=1, allow_nan=False)
        write_text_atomic(path / JSON_NAME, text)  # the commit point
        _fsync_dir(path)
    except BaseException:
        for p in written:  # the old json still points at the old files
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        raise
    keep = {e["file"] for e in arrays_index.values()}
    for e in old.values():
        if isinstance(e, dict) and e.get("file") and e["file"] not in keep:
            try:
                (path / e["file"]).unlink()
            except (FileNotFoundError, OSError):
                pass


def load_project(path: str | os.PathLike) -> Project:
    """Read a project folder; InputError naming the file and the problem when anything is off."""
    path = Path(path)
    doc = _read_json(path)
    jp = path / JSON_NAME
    index = doc.get("arrays", {})
    if not isinstance(index, dict):
        raise InputError(f"{jp}: 'arrays' must be an object")
    data = {}
    for name in ("reconstruction", "track"):
        e = index.get(name)
        if e is None:
            continue
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or "/" in e["file"] or "\\" in e["file"]:
            raise InputError(f"{jp}: invalid entry for {name!r} arrays")
        fp = path / e["file"]
        if not fp.is_file():
            raise InputError(f"{fp}: missing ({name} arrays of the project)")
        if "bytes" in e and fp.stat().st_size != e["bytes"]:
            raise InputError(f"{fp}: size {fp.stat().st_size} bytes, project.json says {e['bytes']}; "
                             "the file is truncated or was replaced")
        if "sha256" in e and sha256_of(fp) != e["sha256"]:
            raise InputError(f"{fp}: contents do not match the checksum in project.json; the file was modified "
                             "or damaged")
        data[name] = (fp, load_npz_checked(fp), e)
    rec = None
    if "reconstruction" in data:
        fp, arrays, e = data["reconstruction"]
        rec = Reconstruction.from_arrays(arrays, str(fp))
        for key, actual in (("frames", rec.num_frames), ("expressions", int(rec.expression.shape[1])),
                            ("identity", int(rec.identity.shape[0]))):
            if key in e and int(e[key]) != actual:
                raise InputError(f"{fp}: has {actual} {key}, project.json says {e[key]}")
    track = None
    if "track" in data:
        fp, arrays, e = data["track"]
        track = TrackResult.from_arrays(arrays, str(fp))
        if "frames" in e and int(e["frames"]) != track.num_frames:
            raise InputError(f"{fp}: has {track.num_frames} frames, project.json says {e['frames']}")
        if rec is not None and track.num_frames != rec.num_frames:
            raise InputError(f"{path}: track has {track.num_frames} frames but the reconstruction has {rec.num_frames}")
    model = doc.get("model", {})
    settings, edits = doc.get("settings", {}), doc.get("edits", {})
    if not isinstance(settings, dict) or not isinstance(edits, dict) or not isinstance(model, dict):
        raise InputError(f"{jp}: 'model', 'settings' and 'edits' must be JSON objects")
    return Project(source=str(doc.get("source", "")), model_spec=str(model.get("spec", "")), reconstruction=rec,
                   track=track, edits=edits, settings=settings,
                   extra={k: v for k, v in doc.items() if k not in _KNOWN}, folder=path)
