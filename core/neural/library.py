"""Where a target's trained renderers are found (no torch: the GUI asks before anything loads).

    folder = find_renderer("clips/anna.mp4")          # a renderer trained on that file, or None
    train into default_folder("clips/anna.mp4")       # what the GUI's "Train renderer" uses

A renderer folder (``core.neural.store``) records in its manifest the footage it was trained on
(``training.source``: the resolved path of the video, also when trained from a project folder,
whose source video it stands for). A target's renderers are looked for, newest first,
in ``<target>.renderer/`` beside the target and in the per-user ``renderers`` folder
(``core.user_dirs.cache_dir() / "renderers"``); a folder counts when its manifest names that
target. Nothing here checks the weights: ``core.neural.renderer.load_renderer`` does that.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.user_dirs import cache_dir

MANIFEST = "manifest.json"


def renderers_dir() -> Path:
    """The per-user folder of trained renderers."""
    return cache_dir() / "renderers"


def _resolved(target: str | Path) -> str:
    """The resolved path of the footage ``target`` stands for: a project folder's source video
    (a renderer trained from a project is the renderer of its clip), else ``target`` itself."""
    from core.project.document import project_source

    source = project_source(target) if Path(target).is_dir() else None
    return str(Path(source if source is not None else target).expanduser().resolve())


def default_folder(target: str | Path) -> Path:
    """Where a renderer of ``target`` is trained by default: ``renderers_dir()/<stem>-<hash>``
    (the hash of the resolved path: two targets of the same name do not collide)."""
    p = _resolved(target)
    return renderers_dir() / f"{Path(p).stem}-{hashlib.sha256(p.encode()).hexdigest()[:10]}"


def read_summary(folder: str | Path) -> dict | None:
    """The manifest's summary of a renderer folder: {"folder", "source", "preset", "hybrid",
    "iterations", "minutes"}; None when the folder holds no readable manifest."""
    try:
        m = json.loads((Path(folder) / MANIFEST).read_text())
        t = m["training"]
        return dict(folder=str(folder), source=str(t.get("source", "")), preset=str(m["preset"]["name"]),
                    hybrid=bool(m.get("hybrid")), iterations=int(t.get("iterations", 0)),
                    minutes=round(float(t.get("seconds", 0.0)) / 60, 1))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(summary: dict) -> str:
    """One line for the user, e.g. "cpu-mouth hybrid, 106 iterations (30.1 min)"."""
    kind = "hybrid" if summary["hybrid"] else "pure"
    return f"{summary['preset']} {kind}, {summary['iterations']} iterations ({summary['minutes']} min)"


def find_renderer(target: str | Path, roots: list[Path] | None = None) -> dict | None:
    """The summary (``read_summary``) of the newest renderer trained on ``target``, or None.
    roots : folders whose sub-folders are searched (default: ``renderers_dir()``); the folder
    ``<target>.renderer`` beside the target is always looked at first."""
    want = _resolved(target)
    t = Path(target)
    candidates = [t.with_name(t.name + ".renderer")]
    for root in roots if roots is not None else [renderers_dir()]:
        if Path(root).is_dir():
            candidates += sorted(p for p in Path(root).iterdir() if p.is_dir())
    found = []
    for c in candidates:
        s = read_summary(c)
        if s is not None and s["source"] and _resolved(s["source"]) == want:
            found.append(((Path(c) / MANIFEST).stat().st_mtime, s))
    return max(found, key=lambda x: x[0])[1] if found else None
