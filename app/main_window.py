"""The FaceStudio main window: menus, the video view, the transport bar, tracking.

Layout: the :class:`~widgets.video_view.VideoView` is the central widget with the
:class:`~widgets.transport_bar.TransportBar` under it; panels added later (3D
viewport, expression sliders, curves, reenactment) are dock widgets registered
with :meth:`MainWindow.add_panel`, which lists them in View > Panels and keeps
their layout across sessions.

The shared state lives in :class:`~app.session.MediaSession` (``window.session``).
Long jobs run through the window's :class:`~app.jobs.JobRunner` (``window.jobs``, started
with :meth:`MainWindow.start_job`); one at a time, shown in the status bar with a Cancel
button. Other parts of the app use only the window's public methods.
"""
from __future__ import annotations

import gc
import logging
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
    QPushButton, QToolBar, QVBoxLayout, QWidget,
)

from app.error_reporting import readable, show_error
from app.icons import app_icon, icon
from app.jobs import Job, JobRunner
from app.theme import THEME_LABELS, THEMES, apply_theme
from app.progress_text import ProgressText
from app.session import MediaSession
from app.menus import MenuBar
from core.errors import UserFacingError
from widgets.transport_bar import TransportBar
from widgets.video_view import VideoView

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = ("mp4", "mov", "avi", "mkv", "webm", "m4v", "mpg", "mpeg", "wmv")
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp")
MAX_RECENT = 10


class StatusBarProgress:
    """The window's job progress: a bar and a Cancel button in the status bar (a ProgressView).
    The status line says the stage, its real counts, the rate and the time left
    (app.progress_text); it goes when the job ends, so no progress text outlives its job."""

    #: Progress reaches the widgets at most this often: QStatusBar.showMessage repaints
    #: synchronously, so 20 updates a second are too many while playing or editing.
    INTERVAL_S = 0.25

    def __init__(self, win: "MainWindow"):
        self.win = win
        self._shown_at = 0.0
        self._text: ProgressText | None = None
        self._last = ""  # the status line this view put up last

    def job_started(self, job: Job) -> None:
        w = self.win
        self._shown_at = 0.0
        self._text = ProgressText(job.name, job.subject, job.unit)
        w.progress_bar.setRange(0, 0)  # busy until the first progress report
        w.progress_bar.setFormat(f"{job.name}...")
        w.progress_bar.show()
        w.cancel_button.setEnabled(True)
        w.cancel_button.show()
        self._show(f"{job.name} {job.subject}...".replace(" ...", "..."))

    def job_progress(self, job: Job, done: int, total: int, message: str) -> None:
        now = time.perf_counter()
        if now - self._shown_at < self.INTERVAL_S and not (total > 0 and done >= total):
            return
        self._shown_at = now
        w = self.win
        if self._text is None:
            self._text = ProgressText(job.name, job.subject, job.unit)
        status, bar = self._text.update(done, total, message)
        if total > 0:
            w.progress_bar.setRange(0, total)
            w.progress_bar.setValue(min(done, total))
        w.progress_bar.setFormat(bar)
        self._show(status)

    def _show(self, text: str) -> None:
        self._last = text
        self.win.statusBar().showMessage(text)

    def job_ended(self, job: Job) -> None:
        self.win.progress_bar.hide()
        self.win.cancel_button.hide()
        if self.win.statusBar().currentMessage() == self._last:
            self.win.statusBar().clearMessage()  # (the job's result or failure says what happened)
        self._text = None


class MainWindow(QMainWindow):
    """Signals for tools and tests: ``first_frame_shown()`` (once), ``media_opened(path)``,
    ``job_ended(outcome)`` with outcome ``"finished" | "failed" | "cancelled"``."""

    first_frame_shown = Signal()
    media_opened = Signal(str)
    job_ended = Signal(str)
    #: the theme changed (True: dark); the plots follow it
    theme_changed = Signal(bool)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.setWindowTitle("FaceStudio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.theme = str(self.settings.value("view/theme", "system"))
        self.dark = apply_theme(self.theme)
        self.setDockOptions(QMainWindow.DockOption.AllowNestedDocks | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AnimatedDocks)

        self.session = MediaSession(self)
        self.view = VideoView()
        self.transport = TransportBar()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.transport)
        self.setCentralWidget(central)

        self._first_frame_done = False
        self._track_after_job = False
        self._shown_times: deque[float] = deque(maxlen=30)  # display times while playing (fps readout)
        self._shut_down = False
        self._panels: list[QDockWidget] = []

        self._build_status_bar()
        self.jobs = JobRunner(StatusBarProgress(self), self)
        self.jobs.ended.connect(self._on_job_ended)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._on_system_scheme)
        from app.editor import EditorUI  # the expression editor: panels, project, export
        self.editor = EditorUI(self)
        from app.batch_qa import BatchQA  # a batch folder (main.py batch) as a QA list of its clips
        self.batch_qa = BatchQA(self)
        self.update_actions()
        self.resize(1400, 900)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        # Everything alive now (modules, widgets) lives as long as the app: take it out of
        # the cyclic GC's sight, else each full collection scans it all on the GUI thread
        # (measured 85-140 ms stalls after a reconstruction).
        gc.freeze()

    # ----------------------------------------------------------------------------------
    # construction
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.info_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_job)
        sb.addPermanentWidget(self.info_label)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_button)
        self.progress_bar.hide()
        self.cancel_button.hide()

    def new_action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False,
                   icon_name: str = "", short: str = "") -> QAction:
        """A window-wide action (its shortcut works even when the menu bar is hidden); ``icon_name``
        one of resources/icons, ``short`` its text on the tool bar."""
        a = QAction(text, self)
        if icon_name:
            a.setIcon(icon(icon_name))
        if short:
            a.setIconText(short)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            a.setToolTip(f"{tip} ({keys})" if keys else tip)
        a.setCheckable(checkable)
        if checkable:
            a.toggled.connect(slot)
        else:
            a.triggered.connect(lambda _checked=False: slot())
        self.addAction(a)  # shortcuts work even when the menu bar is hidden
        return a

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_open = self.new_action("&Open video or image...", self.open_dialog, K.Open,
                                        "Open a video file or an image", icon_name="open", short="Open")
        self.act_open_folder = self.new_action("Open image &folder...", self.open_folder_dialog, "Ctrl+Shift+O",
                                            "Open a folder of images as a sequence")
        self.act_open_webcam = self.new_action("Open &webcam", lambda: self.open_media("webcam:0"), None,
                                            "Show the live webcam (device 0)")
        self.act_quit = self.new_action("&Quit", self.close, K.Quit)

        self.act_play = self.new_action("&Play / pause", self.session.toggle_play, Qt.Key.Key_Space)
        self.act_step_back = self.new_action("Step &back", lambda: self.session.step(-1), Qt.Key.Key_Left)
        self.act_step_forward = self.new_action("Step &forward", lambda: self.session.step(1), Qt.Key.Key_Right)
        self.act_first = self.new_action("&First frame", self.session.seek_start, Qt.Key.Key_Home)
        self.act_last = self.new_action("&Last frame", self.session.seek_end, Qt.Key.Key_End)

        self.act_fit = self.new_action("&Fit to window", self.view.fit_to_window, "Ctrl+0",
                                       "Fit the frame to the view", icon_name="fit", short="Fit")
        self.act_zoom_in = self.new_action("Zoom &in", lambda: self.view.zoom_by(1.25), K.ZoomIn)
        self.act_zoom_out = self.new_action("Zoom &out", lambda: self.view.zoom_by(0.8), K.ZoomOut)
        self.act_actual_size = self.new_action("&Actual size", self.view.zoom_actual_size, "Ctrl+1")
        self.act_show_landmarks = self.new_action("Show &landmarks", self._on_show_landmarks, "L",
                                                  "Show or hide the tracked landmarks", checkable=True,
                                                  icon_name="landmarks", short="Landmarks")
        self.act_show_landmarks.setChecked(self.settings.value("view/show_landmarks", True, type=bool))

        self.act_track = self.new_action("&Track face", lambda: self.track(user=True), "Ctrl+T",
                                         "Track the face in every frame (runs in the background)",
                                         icon_name="track", short="Track")
        self.act_cancel = self.new_action("&Cancel job", self.cancel_job, Qt.Key.Key_Escape, "Stop the running job",
                                          icon_name="cancel", short="Cancel")
        self.act_about = self.new_action("&About FaceStudio", self._about)

    def _build_menus(self) -> None:
        self.menus = MenuBar(self.menuBar())
        mn = self.menus
        mn.add("file", "open", self.act_open, self.act_open_folder, self.act_open_webcam)
        self.recent_menu = mn.add_submenu("file", "recent", "Open &recent")
        mn.add("file", "quit", self.act_quit)
        self._rebuild_recent_menu()
        mn.add("view", "zoom", self.act_fit, self.act_zoom_in, self.act_zoom_out, self.act_actual_size)
        mn.add("view", "landmarks", self.act_show_landmarks)
        self.panels_menu = mn.add_submenu("view", "panels", "&Panels")
        theme_menu = mn.add_submenu("view", "theme", "&Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions = {}
        for t in THEMES:
            a = theme_menu.addAction(THEME_LABELS[t])
            a.setCheckable(True)
            a.setChecked(t == self.theme)
            a.triggered.connect(lambda _c=False, t=t: self.set_theme(t))
            self.theme_group.addAction(a)
            self.theme_actions[t] = a
        mn.add("playback", "transport", self.act_play, self.act_step_back, self.act_step_forward, self.act_first,
               self.act_last)
        mn.add("track", "track", self.act_track)
        mn.add("track", "cancel", self.act_cancel)
        mn.add("help", "about", self.act_about)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addActions([self.act_open, self.act_track, self.act_cancel])
        tb.addSeparator()
        tb.addActions([self.act_fit, self.act_show_landmarks])
        self.addToolBar(tb)
        self.toolbar = tb
        self.panels_menu.addAction(tb.toggleViewAction())

    def _connect(self) -> None:
        s = self.session
        s.frame_shown.connect(self._on_frame_shown)
        s.media_changed.connect(self._on_media_changed)
        s.track_changed.connect(self._refresh_overlay)
        s.playing_changed.connect(self.transport.set_playing)
        s.playing_changed.connect(lambda _p: self.update_actions())
        s.read_error.connect(lambda msg: self.statusBar().showMessage(f"Cannot show frame: {msg}", 8000))
        self.transport.play_toggled.connect(s.toggle_play)
        self.transport.step_requested.connect(s.step)
        self.transport.seek_requested.connect(s.seek)
        self.view.set_overlay_enabled("landmarks", self.act_show_landmarks.isChecked())

    def add_panel(self, dock: QDockWidget,
                  area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        """Add a dock panel; it gets a View > Panels entry and its place is remembered."""
        if not dock.objectName():
            dock.setObjectName(dock.windowTitle() or f"panel{len(self._panels)}")
        self.addDockWidget(area, dock)
        self.panels_menu.addAction(dock.toggleViewAction())
        self._panels.append(dock)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    # ----------------------------------------------------------------------------------
    # opening media
    def open_dialog(self) -> None:
        exts = " ".join(f"*.{e}" for e in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(
            self, "Open video or image", self._last_dir(),
            f"Videos and images ({exts});;All files (*)")
        if path:
            self.open_media(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self._last_dir())
        if path:
            self.open_media(path)

    def _last_dir(self) -> str:
        recent = self.recent_files()
        for p in recent:
            if not p.startswith(("webcam:", "simcam:")):
                return str(Path(p).parent)
        return str(Path.home())

    def open_media(self, path: str, from_project: bool = False) -> bool:
        """Open a file, folder or ``webcam:N`` (a project folder opens the project, a batch folder
        its QA list). On failure shows a message box, keeps what was open before, and returns False."""
        path = str(path)
        from app.editor import is_project_folder
        if not from_project and is_project_folder(path):
            return self.editor.io.open_project(path)
        from app.batch_qa import handles
        if handles(path):
            return self.batch_qa.open_folder(path)
        try:
            self.session.open(path)
        except UserFacingError as e:
            log.warning("could not open %s: %s", path, e)
            self._open_failed(path)
            show_error(self, "Cannot open", str(e))
            return False
        except Exception as e:  # noqa: BLE001 (a decoder bug must not take the window down)
            log.exception("opening %s failed", path)
            self._open_failed(path)
            show_error(self, "Cannot open", f"{path}: could not be opened ({type(e).__name__}: {e}).")
            return False
        self.jobs.cancel_all()  # their results belong to the media just replaced
        self.add_recent(path)
        self.media_opened.emit(path)
        if self.session.is_still:
            # a still is fast to track: do it at once (after the cancelled job, if any, ends)
            if not self.track(user=False):
                self._track_after_job = self.job_running
        return True

    def _open_failed(self, path: str) -> None:
        """Say which file could not be opened and what stays open (no earlier text stays up)."""
        still = self.session.display_name
        self.statusBar().showMessage(f"Could not open {Path(path).name}"
                                     + (f"; {still} is still open." if still else "."), 15000)

    # ----------------------------------------------------------------------------------
    # recent files
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):  # QSettings returns a bare string for one-element lists
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> None:
        """Put ``path`` first in File > Open recent."""
        if not path.startswith(("webcam:", "simcam:")):
            path = str(Path(path).resolve())
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _checked=False, p=p: self.open_media(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_files", [])
        self._rebuild_recent_menu()

    # ----------------------------------------------------------------------------------
    # drag and drop
    @staticmethod
    def _local_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if isinstance(u, QUrl) and u.isLocalFile()]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        paths = self._local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_media(paths[0])

    # ----------------------------------------------------------------------------------
    # frames and overlays
    def _on_media_changed(self) -> None:
        s = self.session
        self.transport.set_media(s.frame_count if not s.is_live else 0, s.fps, live=s.is_live)
        self.view.set_pixel_aspect(getattr(s.source, "pixel_aspect", 1.0))
        self.view.set_captions([])
        self.setWindowTitle(f"{s.display_name} - FaceStudio")
        if s.is_still:
            hint = "tracking the face..."
        elif s.is_live:
            hint = "live"
        else:
            # (a project's source opens here too: its project says more once it is on screen)
            hint = f"{s.frame_count} frames at {s.fps:g} fps. Track > Track face (Ctrl+T) to track it."
        self.statusBar().showMessage(f"Opened {s.display_name}: {hint}", 10000)
        self.update_actions()

    def _on_frame_shown(self, index: int, frame) -> None:
        self.view.set_frame(frame)
        self.transport.set_position(index)
        self._refresh_overlay()
        h, w = frame.shape[:2]
        reader = self.session.reader
        text = f"{w}x{h}"
        if reader is not None and reader.last_decode_ms:
            text += f"   decode {reader.last_decode_ms:.1f} ms"
        now = time.perf_counter()
        if self.session.playing:
            self._shown_times.append(now)
            if len(self._shown_times) >= 2:
                span = self._shown_times[-1] - self._shown_times[0]
                if span > 0:
                    text += f"   {(len(self._shown_times) - 1) / span:.1f} fps shown"
        else:
            self._shown_times.clear()
        self.info_label.setText(text)
        if not self._first_frame_done:
            self._first_frame_done = True
            self.first_frame_shown.emit()

    def _refresh_overlay(self) -> None:
        lm, bridged = self.session.landmarks_at(self.session.index)
        self.view.set_landmarks(lm, bridged)

    def _on_show_landmarks(self, on: bool) -> None:
        self.view.set_overlay_enabled("landmarks", on)
        self.settings.setValue("view/show_landmarks", bool(on))

    # ----------------------------------------------------------------------------------
    # tracking
    @property
    def job(self) -> Job | None:
        """The newest job the window started (finished or not)."""
        return self.jobs.last

    @property
    def job_running(self) -> bool:
        """A job runs, or its result is still being put on screen (a few event-loop turns)."""
        if self.jobs.busy:
            return True
        editor = getattr(self, "editor", None)
        return editor is not None and editor.result_pending

    def track(self, user: bool = True, max_frames: int | None = None) -> bool:
        """Track the open media in the background. Returns False when it cannot start now."""
        s = self.session
        if self.job_running or not s.is_open or s.is_live:
            if user and s.is_live:
                self.statusBar().showMessage("Live sources are not tracked here; open a video or image.", 6000)
            return False
        # tracking opens its own source from the path, so it never shares a decoder with
        # the playback reader thread; a still is tracked in image mode. In a worker process:
        # MediaPipe holds the GIL long enough to stall the GUI. A clip tracked before (same
        # content, same settings) comes from the result cache.
        from core.result_cache import track_cached  # (its imports are the worker process's)

        job = Job(track_cached, s.path, name="Tracking", max_frames=max_frames, in_process=True,
                  subject=s.display_name, unit="frames")
        self.start_job(job, self._on_track_finished, user=user)
        return True

    def start_job(self, job: Job, on_finished, user: bool = True, on_failed=None, on_cancelled=None) -> Job:
        """Run ``job`` as the window's one job (progress and Cancel in the status bar).

        The callbacks run only while the media the job was started on is still open (the
        user may have opened something else meanwhile). Without ``on_failed`` a failure is
        shown in the status bar and, for a job the user started, in a message box.
        """
        path = self.session.path

        def current() -> bool:
            return path == self.session.path

        def finished(result) -> None:
            if current():
                on_finished(result)

        def failed(message: str) -> None:
            if not current():
                return
            if on_failed is not None:
                on_failed(message)
                return
            self.statusBar().showMessage(message)
            if user:
                QMessageBox.warning(self, job.name, readable(message))

        def cancelled() -> None:
            if not current():
                return
            if on_cancelled is not None:
                on_cancelled()
            else:
                self.statusBar().showMessage(f"{job.name} cancelled; the previous result (if any) is kept.", 8000)

        self.jobs.start(job, finished, failed, cancelled, context=path)
        self.update_actions()
        return job

    def cancel_job(self) -> None:
        if self.jobs.cancel():
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage(f"Cancelling {self.jobs.shown.name.lower()}...")

    def _on_track_finished(self, result) -> None:
        self.session.set_track_result(result)
        n, valid = result.num_frames, int(result.valid.sum())
        name = self.session.display_name
        if valid == 0:
            text = f"No face found in {name}."
        elif n == 1:
            text = f"Tracked the face in {name}: {result.landmarks.shape[1]} landmarks."
        else:
            bridged = int(result.bridged.sum())
            text = (f"Tracked {name}: face in {valid} of {n} frames ({100.0 * valid / n:.0f}%)"
                    + (f", {bridged} bridged." if bridged else "."))
        self.statusBar().showMessage(text, 0 if valid == 0 else 15000)

    def _on_job_ended(self, job: Job) -> None:
        self.update_actions()
        self.job_ended.emit(job.outcome or "finished")
        if self._track_after_job and not self._shut_down and not self.jobs.busy:
            self._track_after_job = False
            self.track(user=False)

    # ----------------------------------------------------------------------------------
    def update_actions(self) -> None:
        """Enable or disable the actions for the current state (also the editor's)."""
        s = self.session
        running = self.job_running
        seekable = s.is_open and not s.is_live and s.frame_count > 1
        self.act_track.setEnabled(s.is_open and not s.is_live and not running)
        self.act_cancel.setEnabled(running)
        self.act_play.setEnabled(seekable or s.is_live)
        for a in (self.act_step_back, self.act_step_forward, self.act_first, self.act_last):
            a.setEnabled(seekable)
        if getattr(self, "editor", None) is not None:
            self.editor.update_actions()

    # ----------------------------------------------------------------------------------
    # theme
    def set_theme(self, theme: str) -> None:
        """"system" (follow the desktop), "light" or "dark"."""
        self.theme = theme if theme in THEMES else "system"
        self.settings.setValue("view/theme", self.theme)
        self.theme_actions[self.theme].setChecked(True)
        self.dark = apply_theme(self.theme)
        self.theme_changed.emit(self.dark)

    def _on_system_scheme(self, _scheme) -> None:
        if self.theme == "system":
            self.set_theme("system")

    def _about(self) -> None:
        QMessageBox.about(self, "About FaceStudio",
                          "FaceStudio: face tracking, 4D face reconstruction, 3D facial flow, "
                          "expression editing and reenactment.")

    def shutdown(self) -> None:
        """Stop the job and the reader, save the layout. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.editor.shutdown()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        for job in self.jobs.cancel_all():
            if not job.wait(10.0):
                log.warning("%s did not stop within 10 s of cancel", job.name)
        self.session.close()
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if not self._shut_down and not self.editor.io.confirm_close():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)
