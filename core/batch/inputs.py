"""What a batch works on: the clips named by the command's INPUTS, each with a stable, unique id.

INPUTS are, in any mix:

- a video file (any name; one that is not a readable video fails as that clip, not the batch);
- a folder: every video file under it (recursively, sorted; hidden files and folders skipped);
- a glob (``data/**/*.mp4``; quoted, so that the shell leaves it to us);
- a CSV manifest (``.csv``): one clip per row, ``path[,model][,max_frames]``; an optional
  header row starting with ``path``; blank lines and lines starting with ``#`` are skipped;
  relative paths are relative to the manifest's folder; an empty model or max_frames cell
  takes the command's default. A manifest's path may also be a folder of images (a clip).

Clip ids (the clip's folder name in OUTDIR) are ``<name>-<8 hex>``: the file's stem made safe
for any file system, then the first 8 hex digits of the sha256 of its absolute path (as
given: a symbolic link keeps its own name and place). So the
id of a clip never depends on the other inputs or their order (a resumed run finds its
results again), and two ``face.mp4`` in different folders get different ids. The same path
listed twice with the same settings is one clip; listed with different settings (a manifest
comparing two models), each gets its settings in its hash, so both results are kept.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError

#: what a folder given as an input contributes: its files with these suffixes
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
MANIFEST_SUFFIX = ".csv"
_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: longest name part of a clip id (ids stay well inside file-name limits)
NAME_CHARS = 40


@dataclass(frozen=True)
class ClipSpec:
    """One clip of a batch.

    clip_id : its folder name in OUTDIR (stable and unique, see the module docstring)
    path : absolute path of the video (or image folder)
    model : face model spec ("builtin", "ict" or a path)
    max_frames : work on the first N frames only (None: all)
    """

    clip_id: str
    path: str
    model: str
    max_frames: int | None = None


def collect_clips(inputs: list[str], model: str = "builtin", max_frames: int | None = None,
                  cwd: str | os.PathLike | None = None) -> list[ClipSpec]:
    """The clips named by ``inputs`` (files, folders, globs, CSV manifests), in input order,
    with their ids. ``model`` and ``max_frames`` are the defaults a manifest row may override.
    InputError when an input names nothing (a missing file, an empty folder or glob, a bad
    manifest row) or when no clip at all is found."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    rows: list[tuple[str, str, int | None]] = []
    model = model_spec(model, base)
    for spec in inputs:
        rows.extend(_expand(str(spec), base, model, max_frames))
    if not rows:
        raise InputError("no clips given: name video files, folders, globs or a CSV manifest")
    return _with_ids(rows)


def model_spec(spec: str, base: Path) -> str:
    """A model spec as the workers must see it: "builtin" and "ict" as they are (each worker looks
    ICT-FaceKit up in its own search folders), a file or folder as an absolute path (relative to
    ``base``), since the workers do not share this process's working folder."""
    spec = str(spec).strip()
    if spec in ("builtin", "ict"):
        return spec
    p = Path(spec).expanduser()
    return os.path.abspath(p if p.is_absolute() else base / p)


def check_models(clips: list[ClipSpec], here_too: bool = True) -> None:
    """InputError, before any clip starts, for a model file or folder that does not exist and
    (``here_too``: the workers run on this machine) for "ict" when ICT-FaceKit is not found."""
    from core.model.registry import find_ict

    for spec in sorted({c.model for c in clips}):
        if spec == "ict":
            if here_too:
                find_ict()
        elif spec != "builtin" and not Path(spec).exists():
            raise InputError(f"--model {spec}: face model not found (expected builtin, ict, an .npz file or an "
                             "ICT-FaceKit folder)")


def _expand(spec: str, base: Path, model: str, max_frames: int | None) -> list[tuple[str, str, int | None]]:
    p = Path(spec).expanduser()
    if not p.is_absolute():
        p = base / p
    if p.is_file() and p.suffix.lower() == MANIFEST_SUFFIX:
        return read_manifest(p, model, max_frames)
    if p.is_dir():
        found = videos_under(p)
        if not found:
            raise InputError(f"{p}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
        return [(str(f), model, max_frames) for f in found]
    if p.exists():
        return [(os.path.abspath(p), model, max_frames)]
    if _GLOB_CHARS.search(spec):
        matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
        files = [os.path.abspath(m) for m in matches if m.is_file()]
        if not files:
            raise InputError(f"{spec}: the pattern matches no file")
        return [(str(f), model, max_frames) for f in files]
    raise InputError(f"{p}: input not found (no such file or folder)")


def videos_under(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively), sorted by path; hidden entries skipped."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_SUFFIXES:
                out.append(Path(os.path.abspath(Path(root) / name)))
    return sorted(out)


def read_manifest(path: Path, model: str = "builtin", max_frames: int | None = None
                  ) -> list[tuple[str, str, int | None]]:
    """Rows ``(absolute path, model, max_frames)`` of a CSV manifest (module docstring).
    InputError naming the file and line for a row that cannot be used."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: the manifest cannot be read ({e})") from e
    rows = []
    for line_no, cells in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in cells]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if line_no == 1 and cells[0].lower() == "path":
            continue
        if len(cells) > 3:
            raise InputError(f"{path}:{line_no}: expected path[,model][,max_frames], got {len(cells)} columns")
        where = f"{path}:{line_no}"
        clip = Path(cells[0]).expanduser()
        if not clip.is_absolute():
            clip = path.parent / clip
        if not clip.exists():
            raise InputError(f"{where}: {clip}: not found")
        row_model = model_spec(cells[1], path.parent) if len(cells) > 1 and cells[1] else model
        row_max = max_frames
        if len(cells) > 2 and cells[2]:
            try:
                row_max = int(cells[2])
            except ValueError:
                raise InputError(f"{where}: max_frames {cells[2]!r} is not a whole number") from None
            if row_max < 1:
                raise InputError(f"{where}: max_frames must be at least 1, got {row_max}")
        rows.append((os.path.abspath(clip), row_model, row_max))
    if not rows:
        raise InputError(f"{path}: the manifest lists no clips")
    return rows


def safe_name(stem: str) -> str:
    """A file stem as the readable part of a clip id: runs of characters other than letters,
    digits, ``.``, ``_`` and ``-`` become ``_``; at most NAME_CHARS characters; never empty."""
    s = _UNSAFE.sub("_", stem).strip("._-")[:NAME_CHARS]
    return s or "clip"


def clip_id(path: str, settings: tuple = ()) -> str:
    """The id of the clip at absolute ``path``; ``settings`` (model, max_frames) enter the hash
    only when the same path is listed with different settings (see the module docstring)."""
    key = "\0".join([path, *(str(s) for s in settings)])
    return f"{safe_name(Path(path).stem)}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _with_ids(rows: list[tuple[str, str, int | None]]) -> list[ClipSpec]:
    settings_of: dict[str, set] = {}
    for path, model, max_frames in rows:
        settings_of.setdefault(path, set()).add((model, max_frames))
    seen: set[tuple] = set()
    clips = []
    for path, model, max_frames in rows:
        if (path, model, max_frames) in seen:
            continue
        seen.add((path, model, max_frames))
        extra = (model, max_frames) if len(settings_of[path]) > 1 else ()
        clips.append(ClipSpec(clip_id(path, extra), path, model, max_frames))
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):  # a sha256 prefix collision: vanishingly rare, but never merge two clips
        raise InputError("two clips got the same id; rename one of: "
                         + ", ".join(c.path for c in clips if ids.count(c.clip_id) > 1))
    return clips
