"""The editor's project on disk: save, open, autosave and crash recovery.

:class:`ProjectIO` belongs to the editor (``editor.io``). It saves the open work as a
project folder (core.project), opens one on a worker thread, asks before unsaved edits
are dropped, autosaves into this session's recovery folder 1.5 s after each change (on a
background thread) and, at start-up, offers back the work of a session that ended
abnormally (app.recovery), linked to the project it belongs to.

Signals: ``project_saved(path)``, ``project_loaded(path)``, ``project_failed(path,
message)``, ``autosaved(ok, message)`` (from the autosave thread).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.error_reporting import readable, show_error
from app.jobs import Job
from app.recovery import PROJECT_SUFFIX, RECOVERY_KEY, RecoveryStore
from core.edits import PROJECT_KEY, ExpressionEdits
from core.errors import InputError, UserFacingError
from core.jobs import Cancelled, CancelToken, ProgressFn, check, report

log = logging.getLogger(__name__)

#: autosave this long after the last change (a burst of slider moves saves once)
AUTOSAVE_DELAY_MS = 1500


def write_project(path: str, project, lock=None, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> None:
    """``core.project.save_project`` as a job (a save is not cancelled half way: it is atomic).
    ``lock``: the editor's session lock of ``path`` (None: the save takes the folder's lock)."""
    from core.project import save_project

    report(progress, 0, 1, "writing the project")
    save_project(path, project, lock=lock)
    report(progress, 1, 1, "saved")


def is_project_folder(path: str) -> bool:
    """True when ``path`` is a folder holding a ``project.json``."""
    return Path(path).is_dir() and (Path(path) / "project.json").is_file()


@dataclass
class ProjectForEditing:
    """What opening a project reads off the GUI thread (:func:`read_project_for_editing`).

    ``lock``: the editor's session lock of the folder (None: opened read-only, and
    ``read_only_reason`` says why: another window or process has it open for writing, or
    the folder cannot hold a lock). ``source``/``first``: the project's media opened with
    its first frame decoded (``app.session.MediaSession.prepare``).
    """

    project: object
    edits: ExpressionEdits
    model: object
    source: object
    first: object
    lock: object = None
    read_only_reason: str = ""

    def release(self) -> None:
        """Drop what was opened (the user chose not to open it after all)."""
        if self.lock is not None:
            self.lock.release()
        self.source.close()


def read_project_for_editing(path: str, want_lock: bool = True, progress: ProgressFn | None = None,
                             cancel: CancelToken | None = None) -> ProjectForEditing:
    """Everything opening a project needs, read off the GUI thread (a worker thread).

    ``want_lock``: take the folder's session lock (core.project.open_project); when another
    window or process holds it, or the folder cannot hold one (read-only media), the project
    is read without it and the result says why. Reads the project, its expression edits,
    the model of its reconstruction (from the model cache when this process has it) and its
    source media with the first frame decoded. Raises InputError naming the folder and the
    cause when anything cannot be read.
    """
    from app.session import MediaSession
    from core.edits import PROJECT_KEY
    from core.errors import OutputError, ProjectLockedError
    from core.model.registry import load_model
    from core.project import open_project
    from core.project.lock import describe_holder

    opened, reason = None, ""
    try:
        report(progress, 0, 3, "reading the project")
        if want_lock:
            try:
                opened = open_project(path, program="FaceStudio editor")
            except ProjectLockedError as e:
                reason = f"it is open for editing in {describe_holder(e.holder or {})}"
            except OutputError as e:
                reason = f"its folder cannot be written ({e})"
        if opened is None:
            opened = open_project(path, read_only=True)
        project = opened.project
        edits = ExpressionEdits.from_dict((project.edits or {}).get(PROJECT_KEY), where=f"{path}: edits")
        check(cancel)
        report(progress, 1, 3, "loading the face model")
        model = load_model(project.model_spec or "builtin") if project.reconstruction is not None else None
        check(cancel)
        report(progress, 2, 3, "opening the video")
        src, first = MediaSession.prepare(str(project.source_path))
    except BaseException as e:
        if opened is not None:
            opened.close()
        if isinstance(e, (UserFacingError, Cancelled)) or not isinstance(e, Exception):
            raise
        raise InputError(f"{path}: cannot be read ({type(e).__name__}: {e})") from e
    report(progress, 3, 3, "done")
    return ProjectForEditing(project, edits, model, src, first, opened.lock, reason)


def _same_folder(a, b) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


class ProjectIO(QObject):
    """Save, open, autosave and recovery of the editor's work (see the module docstring)."""

    project_saved = Signal(str)
    project_loaded = Signal(str)
    project_failed = Signal(str, str)
    autosaved = Signal(bool, str)

    def __init__(self, editor):
        super().__init__(editor)
        self.editor = editor
        self.win = editor.win
        self.doc = editor.doc
        self.settings = editor.settings
        self.project_path: str | None = None
        # the open project folder's session lock (core.project.lock): other windows and
        # processes cannot write it while this one has it open; None with ``read_only`` when
        # it was opened without (held elsewhere, or read-only media)
        self._lock = None
        self.read_only, self.read_only_reason = False, ""
        self.ask_to_save = True
        self._save_job: Job | None = None
        # crash recovery: this window's session marker and autosave folder (app.recovery)
        settings_dir = Path(self.settings.fileName()).parent
        self.recovery = RecoveryStore(settings_dir / "sessions",
                                      legacy_project=settings_dir / f"recovery{PROJECT_SUFFIX}")
        self.recovery.begin_session()
        self._end_decided = False  # the user saved or discarded at close: no recovery needed
        self._autosave_thread: threading.Thread | None = None
        self._autosave_again = False
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosaved.connect(self._on_autosaved)
        d = self.doc
        # autosave after each change: indexChanged comes after push/undo/redo (edits_changed
        # comes during them, while the stack still counts as clean). Methods, not lambdas:
        # Qt drops the connections when this object goes away.
        d.undo_stack.indexChanged.connect(self._schedule_autosave)
        d.reconstruction_changed.connect(self._schedule_autosave)
        d.undo_stack.cleanChanged.connect(self._on_clean_changed)
        d.edits_changed.connect(self._update_title)
        self.win.media_opened.connect(self._on_media_opened)

    def make_project(self, for_recovery: bool = False):
        """The open work as a Project. ``for_recovery``: an autosave, which records the
        project folder it belongs to (so a recovered project is saved back there)."""
        from core.project import Project

        d, ed = self.doc, self.editor
        view = {"viewport_mode": ed.viewport.mode, "viewport_preset": ed.viewport.preset,
                "compare": ed.preview.compare_mode, "selected": ed.selected, "frame": int(self.win.session.index),
                "overlays": {n: self.win.view.overlay_enabled(n) for n in ("mesh", "error", "flow", "landmarks")}}
        settings = {"view": view}
        if for_recovery:
            settings[RECOVERY_KEY] = {"project_path": self.project_path}
        return Project(source=str(Path(self.win.session.path).resolve()),
                       model_spec=d.rec.model_spec or ed.model_spec,
                       reconstruction=d.rec, track=d.track, edits={PROJECT_KEY: d.edits.to_dict()},
                       settings=settings)

    def save_project(self, path: str | None = None, wait: bool = False) -> bool:
        """Save to ``path`` (or the current project path; asks when there is none).

        The project is written on a worker thread (the GUI keeps running: a long clip's arrays
        take seconds); ``project_saved(path)`` follows, or an error dialog. The work saved is
        what it was when Save was chosen: edits made meanwhile stay unsaved (the title keeps
        its star). ``wait`` saves on this thread and returns the outcome (closing the window).
        Returns False when nothing was (or will be) saved.
        """
        if not self.doc.has_reconstruction:
            return False
        path = path or self.project_path
        if path is None:
            return self.save_project_as(wait=wait)
        if self._save_job is not None and self._save_job.running:
            self.win.statusBar().showMessage("Still saving the project...", 4000)
            return False
        if self.read_only and _same_folder(path, self.project_path):
            if self.ask_to_save:
                QMessageBox.information(self.win, "Project opened read-only",
                                        f"{Path(path).name} was opened read-only: {self.read_only_reason}. "
                                        "Save the work under another name.")
            return self.save_project_as(wait=wait)
        lock = self._lock if self._lock is not None and _same_folder(path, self._lock.folder) else None
        project, index = self.make_project(), self.doc.undo_stack.index()
        if wait:
            from core.project import save_project

            try:
                save_project(path, project, lock=lock)
            except (UserFacingError, OSError) as e:
                self._on_save_failed(str(path), f"{path}: {e}")
                return False
            self._on_saved(str(path), index)
            return True
        self._save_job = Job(write_project, str(path), project, lock, name="Saving project")
        self.win.start_job(self._save_job, lambda _r: self._on_saved(str(path), index),
                           on_failed=lambda msg: self._on_save_failed(str(path), msg))
        self.win.statusBar().showMessage(f"Saving {path}...")
        return True

    def _on_saved(self, path: str, index: int) -> None:
        self.project_path = path
        if self._lock is None or not _same_folder(path, self._lock.folder):
            self._take_lock(path)  # (Save As, a first save, a recovered project saved back)
        if self.doc.undo_stack.index() == index:  # (no edit since Save was chosen)
            self.doc.undo_stack.setClean()
        self.win.add_recent(path)
        self.settings.setValue("editor/last_dir", str(Path(path).parent))
        self.autosave_timer.stop()
        self._wait_autosave()
        self.recovery.discard_own_work()  # everything is in the project now
        self._schedule_autosave()  # (unless edits came meanwhile)
        self._update_title()
        self.win.statusBar().showMessage(f"Saved {path}", 6000)
        self.project_saved.emit(path)

    def _on_save_failed(self, path: str, message: str) -> None:
        show_error(self.win, "Cannot save project", message)

    def save_project_as(self, wait: bool = False) -> bool:
        if not self.doc.has_reconstruction:
            return False
        start = self.settings.value("editor/last_dir", str(Path.home()))
        suggested = str(Path(start) / (Path(self.win.session.path).stem + PROJECT_SUFFIX))
        path, _ = QFileDialog.getSaveFileName(self.win, "Save project as", suggested,
                                              f"FaceStudio project (*{PROJECT_SUFFIX})")
        if not path:
            return False
        if not path.endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        return self.save_project(path, wait=wait)

    def open_project_dialog(self) -> None:
        start = self.settings.value("editor/last_dir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self.win, "Open project folder", start)
        if path:
            self.open_project(path)

    def confirm_discard(self) -> bool:
        """True when it is fine to drop the current edits (saved, or the user agreed)."""
        if self.doc.undo_stack.isClean():
            return True
        if not self.ask_to_save:
            return True  # (tools and tests) the autosave keeps the work for the next start
        b = QMessageBox.question(self.win, "Unsaved edits", "The project has unsaved edits. Save them first?",
                                 QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                                 | QMessageBox.StandardButton.Cancel)
        if b == QMessageBox.StandardButton.Save:
            return self.save_project(wait=True)
        return b == QMessageBox.StandardButton.Discard

    def confirm_close(self) -> bool:
        """The window is closing: True when it may (saved, clean, or the user discarded).
        A decided close leaves nothing for recovery; see :meth:`shutdown`."""
        ok = self.confirm_discard()
        self._end_decided = ok and self.ask_to_save
        return ok

    def open_project(self, path: str, recovered: bool = False) -> bool:
        """Start opening a project folder. It is read on a worker thread (project arrays,
        model, video probe and first frame) and then put on screen over a few event-loop
        turns; ``project_loaded(path)`` follows, or, for a bad project, a message naming
        the file and the cause and ``project_failed(path, message)``, with everything
        left as it was. Returns False when it cannot start (a job runs, or the user kept
        the unsaved edits)."""
        w = self.win
        if w.job_running:
            w.statusBar().showMessage(f"Cannot open {path} while {w.job.name.lower()} runs.", 6000)
            return False
        if not recovered and not self.confirm_discard():
            return False
        if self._lock is not None and _same_folder(path, self._lock.folder):
            self._set_lock(None)  # (reopening this window's own project: its lock is taken anew)
        # a recovered project is this session's autosave folder: the autosave writes it, so no
        # session lock there (its project's folder is locked when the work is saved back)
        job = Job(read_project_for_editing, str(path), not recovered, name="Opening project",
                  subject=Path(path).name)
        # (the failure message is shown here, titled for it)
        w.start_job(job, lambda r: self._on_project_read(str(path), recovered, r),
                    on_failed=lambda msg: self._on_project_failed(str(path), msg))
        return True

    def _on_project_failed(self, path: str, message: str) -> None:
        log.warning("could not open the project %s: %s", path, message)
        still = self.win.session.display_name
        self.win.statusBar().showMessage(f"Could not open the project {Path(path).name}"
                                         + (f"; {still} is still open." if still else "."), 15000)
        show_error(self.win, "Cannot open project", message)
        self.project_failed.emit(path, message)

    def _on_project_read(self, path: str, recovered: bool, result: ProjectForEditing) -> None:
        if result.read_only_reason and not self._agree_read_only(path, result.read_only_reason):
            result.release()
            self.win.statusBar().showMessage(f"{Path(path).name} was not opened.", 6000)
            self.project_failed.emit(path, result.read_only_reason)
            return
        project, edits, model = result.project, result.edits, result.model
        w = self.win
        w.session.adopt(str(project.source_path), result.source, result.first)
        w.media_opened.emit(str(project.source_path))  # (drops the reconstruction of another clip)
        self._set_lock(result.lock)
        self.read_only = bool(result.read_only_reason) and not recovered
        self.read_only_reason = result.read_only_reason
        if project.track is not None:
            w.session.set_track_result(project.track)
        if project.reconstruction is not None:
            self.editor.show_reconstruction(project.reconstruction, model, project.track, edits)
        view = (project.settings or {}).get("view", {})
        if view.get("selected") in self.doc.names:
            self.editor.select_component(view["selected"])
        if recovered:
            # the work belongs to the project it was autosaved from (None: an unsaved clip);
            # it is not saved there yet: mark it dirty
            link = ((project.settings or {}).get(RECOVERY_KEY) or {}).get("project_path")
            self.project_path = str(link) if link else None
            self.doc.undo_stack.resetClean()
            self._schedule_autosave()
            self.win.statusBar().showMessage(
                "Recovered the unsaved work" + (f" of {Path(link).name}" if link else "")
                + ". Save it to keep it (Ctrl+S).", 15000)
        else:
            self.project_path = str(path)
            w.add_recent(str(path))
        frame = int(view.get("frame", 0))
        if 0 < frame < w.session.frame_count:
            w.session.seek(frame)
        self._update_title()
        if self.read_only:
            w.statusBar().showMessage(f"Opened {Path(path).name} read-only: {self.read_only_reason}. "
                                      "Save As keeps your edits.", 15000)
        elif not recovered:
            rec = project.reconstruction
            what = (f"{rec.num_frames} frames reconstructed, {len(edits.components)} component"
                    f"{'s' if len(edits.components) != 1 else ''} edited" if rec is not None else
                    "tracked" if project.track is not None else "not tracked yet")
            w.statusBar().showMessage(f"Opened project {Path(path).name} ({w.session.display_name}: {what}).",
                                      15000)
        self.project_loaded.emit(str(path))

    def _agree_read_only(self, path: str, reason: str) -> bool:
        """Ask whether to open ``path`` read-only (``reason``: why it cannot be opened for
        writing). Without dialogs (tools, tests) the answer is yes."""
        if not self.ask_to_save:
            return True
        b = QMessageBox.question(self.win, "Project open elsewhere",
                                 f"{Path(path).name} cannot be opened for editing: {reason}.\n\n"
                                 "Open it read-only? You can still edit and save the work under another name.",
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return b == QMessageBox.StandardButton.Yes

    def _set_lock(self, lock) -> None:
        """Hold ``lock`` (a ProjectLock or None) as the open project's, giving up the old one."""
        old, self._lock = self._lock, lock
        if old is not None and old is not lock:
            old.release()
        self.read_only, self.read_only_reason = False, ""

    def _take_lock(self, path: str) -> None:
        """After a save to a folder this window does not hold: hold its session lock."""
        from core.project.lock import lock_project

        try:
            self._set_lock(lock_project(path, kind="session", program="FaceStudio editor"))
        except (UserFacingError, OSError) as e:  # (the save itself went through)
            log.warning("cannot hold %s open for writing: %s", path, e)
            self._set_lock(None)

    def new_project(self) -> None:
        if not self.confirm_discard():
            return
        self.doc.clear()
        self.project_path = None
        self._set_lock(None)
        self._update_title()

    def needs_autosave(self) -> bool:
        """Unsaved work: edits not saved, or a reconstruction that is in no project yet."""
        d = self.doc
        return d.has_reconstruction and (not d.undo_stack.isClean() or self.project_path is None)

    def _schedule_autosave(self, *_args) -> None:
        if self.needs_autosave():
            self.autosave_timer.start()  # (re)started: saves once a burst of changes is over

    def autosave(self, wait: bool = False) -> bool:
        """Write the unsaved work into this session's recovery folder, on a background thread
        (``wait``: on this thread, e.g. at exit). Returns False when there was nothing to save.
        A save already running makes this one follow it."""
        if not self.needs_autosave():
            return False
        if self._autosave_thread is not None and self._autosave_thread.is_alive():
            if not wait:
                self._autosave_again = True
                return True
            self._autosave_thread.join()
        project = self.make_project(for_recovery=True)  # a snapshot: edits are copied, arrays shared
        target = self.recovery.project_path
        if wait:
            self._write_autosave(target, project)
            return True
        self._autosave_thread = threading.Thread(target=self._write_autosave, args=(target, project),
                                                 name="autosave", daemon=True)
        self._autosave_thread.start()
        return True

    def _write_autosave(self, target: Path, project) -> None:
        from core.project import save_project

        try:
            save_project(target, project)
        except Exception as e:  # noqa: BLE001 (autosave must never interrupt the user)
            log.warning("autosave into %s failed: %s", target, e)
            self.autosaved.emit(False, f"Autosave failed: {e}")
            return
        self.autosaved.emit(True, "Autosaved")

    def _wait_autosave(self) -> None:
        if self._autosave_thread is not None:
            self._autosave_thread.join()

    def _on_autosaved(self, ok: bool, message: str) -> None:
        bar = self.win.statusBar()
        # a success is news only on an empty status bar: it must not replace what the user was
        # just told (a fit correction's result, a renderer's name); a failure always shows
        if not ok or not bar.currentMessage():
            bar.showMessage(message, 2000 if ok else 10000)
        if self._autosave_again:
            self._autosave_again = False
            self.autosave_timer.start()

    def offer_recovery(self, then_open: str | None = None) -> bool:
        """On start: offer back the work of sessions that ended abnormally (crash, kill, power
        loss). Returns True when recovered work is being opened. ``then_open``: the file the
        app was started with (kept in the recent files when the recovered work opens instead)."""
        orphans = self.recovery.orphans()
        for o in [o for o in orphans if o.project is None]:
            log.warning("an earlier session ended abnormally with nothing unsaved (%s)", o.marker)
            self.recovery.discard(o)
        work = [o for o in orphans if o.project is not None]
        if not work:
            if orphans:
                self.win.statusBar().showMessage("FaceStudio did not close normally last time; nothing unsaved "
                                                 "was lost.", 10000)
            return False
        o = work[0]
        what = Path(o.belongs_to).name if o.belongs_to else (Path(o.source).name if o.source else "a clip")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(o.saved_at))
        b = QMessageBox.question(self.win, "Recover unsaved work",
                                 readable(f"FaceStudio did not close normally. Recover the unsaved work on {what} "
                                          f"(autosaved {when})?"),
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if b != QMessageBox.StandardButton.Yes:
            self.recovery.discard(o)
            return False
        path = self.recovery.adopt(o)
        if then_open:
            self.win.add_recent(str(then_open))
        return self.open_project(str(path), recovered=True)

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _update_title(self) -> None:
        s = self.win.session
        name = Path(self.project_path).name if self.project_path else (s.display_name or "FaceStudio")
        dirty = "" if self.doc.undo_stack.isClean() else " *"
        ro = " [read-only]" if self.read_only else ""
        self.win.setWindowTitle(f"{name}{ro}{dirty} - FaceStudio")

    def _on_media_opened(self, path: str) -> None:
        rec = self.doc.rec
        if rec is not None and Path(rec.source).resolve() != Path(path).resolve():
            self.doc.clear()  # (the editor follows the document)
            self.project_path = None
            self._set_lock(None)
            self._update_title()

    def shutdown(self) -> None:
        """Unsaved work the user was not asked about (a close without a decision, a quit by
        the system) is autosaved and offered at the next start; after a decided close (saved
        or discarded) nothing is left behind."""
        self.autosave_timer.stop()
        d = self.doc
        d.undo_stack.cleanChanged.disconnect(self._on_clean_changed)
        d.undo_stack.indexChanged.disconnect(self._schedule_autosave)
        self._wait_autosave()
        keep = not self._end_decided and self.needs_autosave() and not d.undo_stack.isClean()
        if keep:
            self.autosave(wait=True)
        self.recovery.end_session(keep_work=keep)
        self._set_lock(None)
