"""Crash recovery: which app sessions ended abnormally, and their autosaved work.

Every running app writes a *session marker* ``<root>/<id>.json`` (its process id and that
process' start time) and autosaves unsaved work into ``<root>/<id>.fsproj`` (an ordinary
project folder). A clean end removes both. A marker whose process is gone (crash, kill,
power loss, logout without a decision) is an *orphan*: the next start offers its project
back, however that start was made (with a file, a project, or nothing). Several app
windows can run at once: each has its own marker, and only dead sessions are orphans.

The autosaved project records the project it belongs to (``settings["recovery"]``), so a
recovered project is saved back where it came from. Qt-free (plain files and JSON).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_text_atomic

#: key in a project's ``settings`` holding where an autosaved project belongs
RECOVERY_KEY = "recovery"
PROJECT_SUFFIX = ".fsproj"


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22 counted after the ')' that ends the command name (which may hold spaces)
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start_time: str | None = None) -> bool:
    """True when process ``pid`` runs and (when known) is the one that started at ``start_time``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that pid
    except OSError:
        return False
    if start_time is not None and sys.platform.startswith("linux"):
        return _process_start_time(pid) == start_time
    return True


@dataclass
class Orphan:
    """A session that ended without closing cleanly.

    marker : Path           its session marker
    project : Path or None  its autosaved project folder (None: nothing was unsaved)
    saved_at : float        when the project was last autosaved (epoch seconds; 0 if none)
    belongs_to : str or None  the project folder the autosaved work belongs to
    source : str or None    the video or image it was made from
    """

    marker: Path
    project: Path | None
    saved_at: float = 0.0
    belongs_to: str | None = None
    source: str | None = None


class RecoveryStore:
    """Session markers and autosave folders under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, legacy_project: str | os.PathLike | None = None):
        self.root = Path(root)
        #: a ``recovery.fsproj`` left by versions before session markers (offered once)
        self.legacy_project = Path(legacy_project) if legacy_project else None
        self.session_id: str | None = None

    # -- this session ------------------------------------------------------------------
    @property
    def marker_path(self) -> Path | None:
        return None if self.session_id is None else self.root / f"{self.session_id}.json"

    @property
    def project_path(self) -> Path | None:
        """Where this session autosaves (a project folder; may not exist yet)."""
        return None if self.session_id is None else self.root / f"{self.session_id}{PROJECT_SUFFIX}"

    def begin_session(self) -> Path:
        """Write this process' marker; returns the autosave folder of the session."""
        self.root.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        self.session_id = f"session-{pid}-{uuid.uuid4().hex[:8]}"
        write_text_atomic(self.marker_path, json.dumps(dict(
            pid=pid, process_start=_process_start_time(pid), started=time.time())))
        return self.project_path

    def end_session(self, keep_work: bool) -> None:
        """A clean end: the marker goes; the autosaved work too unless ``keep_work``.

        With ``keep_work`` (the app closed with unsaved work it was not allowed to ask
        about) the marker stays as well, so the next start offers the work back.
        """
        if self.session_id is None or keep_work:
            return
        shutil.rmtree(self.project_path, ignore_errors=True)
        self.marker_path.unlink(missing_ok=True)

    def discard_own_work(self) -> None:
        """Drop this session's autosave (the work was saved or discarded by the user)."""
        if self.project_path is not None:
            shutil.rmtree(self.project_path, ignore_errors=True)

    # -- earlier sessions --------------------------------------------------------------
    def orphans(self) -> list[Orphan]:
        """Sessions that ended abnormally, newest autosave first."""
        found: list[Orphan] = []
        if self.root.is_dir():
            for marker in self.root.glob("session-*.json"):
                if marker == self.marker_path:
                    continue
                try:
                    info = json.loads(marker.read_text(encoding="utf-8"))
                    pid, start = int(info.get("pid", -1)), info.get("process_start")
                except (OSError, ValueError, TypeError, AttributeError):
                    pid, start = -1, None  # an unreadable marker: its session is over
                if process_alive(pid, start):
                    continue
                found.append(self._orphan(marker, marker.with_suffix(PROJECT_SUFFIX)))
        if self.legacy_project is not None and (self.legacy_project / "project.json").is_file():
            found.append(self._orphan(None, self.legacy_project))
        found.sort(key=lambda o: -o.saved_at)
        return found

    @staticmethod
    def _orphan(marker: Path | None, project: Path) -> Orphan:
        jp = project / "project.json"
        if not jp.is_file():
            return Orphan(marker, None)
        belongs_to = source = None
        try:
            doc = json.loads(jp.read_text(encoding="utf-8"))
            rec = (doc.get("settings") or {}).get(RECOVERY_KEY) or {}
            belongs_to = rec.get("project_path") or None
            source = doc.get("source") or None
        except (OSError, ValueError, AttributeError):
            pass  # damaged: the loader will say so when it is opened
        return Orphan(marker, project, jp.stat().st_mtime, belongs_to, source)

    def discard(self, orphan: Orphan) -> None:
        """Delete an orphan's marker and autosaved work."""
        if orphan.project is not None:
            shutil.rmtree(orphan.project, ignore_errors=True)
        if orphan.marker is not None:
            orphan.marker.unlink(missing_ok=True)

    def adopt(self, orphan: Orphan) -> Path:
        """Make an orphan's autosaved work this session's own; returns the folder to open.

        The folder is renamed (atomic, same filesystem) to this session's autosave folder
        before it is read, so a crash while it is open leaves it recoverable again.
        """
        if self.session_id is None:
            raise RuntimeError("begin_session() first")
        if orphan.project is None:
            raise ValueError("this session left nothing to recover")
        target = self.project_path
        shutil.rmtree(target, ignore_errors=True)
        os.replace(orphan.project, target)
        if orphan.marker is not None:
            orphan.marker.unlink(missing_ok=True)
        return target
