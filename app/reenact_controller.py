"""The reenactment panel wired to core/reenact: target preparation, the live preview,
recording and the offline export. The session logic without Qt (target preparation,
opening the live source, the recorder) is core/reenact/session.py.

    controller = install_reenact_panel(main_window)   # adds the dock and a "Reenact" menu

Threads: the GUI thread never waits on a camera, a model or a file.

- the face model, the target (a photo is tracked and fitted at preview size; a video is
  reconstructed with progress/cancel) and the opening of the live source run as
  :class:`~app.jobs.Job` s, run by the controller's :class:`~app.jobs.JobRunner` (progress and
  Cancel in the panel);
- :class:`~core.reenact.live.LivePipeline` runs its own grab/track and fit/warp threads;
  a ~30 Hz QTimer polls ``latest()`` / ``stats()`` and shows them;
- recording (core.reenact.session.Recorder) writes the results on the camera's timeline from
  its own thread, with the source's sound; a virtual camera (core.reenact.virtual_camera)
  sends them from another; stopping the preview (pipeline threads joined, camera closed)
  runs on a short-lived thread, except at window close, where it is done before returning;
- the gallery's thumbnails are made on a short-lived thread;
- the offline export (:meth:`ReenactmentPipeline.export`, full quality, the source's
  audio kept) is a Job with progress/cancel.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QWidget

from app.error_reporting import show_error
# the offline export runs in a worker process, so it lives in the Qt-free app.process_jobs
from app.process_jobs import export_reenactment, train_renderer_job
from app.icons import icon
from app.jobs import Job, JobRunner
from app.progress_text import ProgressText
from core.errors import InputError, UserFacingError
from core.jobs import report
# torch-free: which trained renderers a target has (core.neural.renderer loads them, in the jobs)
from core.neural.library import default_folder, find_renderer, read_summary
from core.neural.library import describe as describe_renderer
from core.neural.progress import parse_progress
# Imported here, on the GUI thread at start-up, rather than inside the jobs: compiling and
# importing these modules holds the GIL for long stretches, which would stall the GUI
# while a target is being prepared.
from core.reenact.session import (
    MODEL_SPEC, LiveSession, LiveTarget, Recorder, export_source_file, open_live, prepare_target, start_recording,
)
from core.reenact.virtual_camera import VirtualCamera, virtual_camera_status
from widgets.reenact_panel import ReenactPanel

log = logging.getLogger(__name__)

#: GUI refresh of the preview (ms): ~30 Hz
POLL_MS = 33
#: how often the fps / latency readout is refreshed (s)
READOUT_INTERVAL_S = 0.25
#: targets kept in the gallery
GALLERY_SIZE = 24
#: the virtual camera's frame size (a video call's usual size; results are letterboxed in it)
VIRTUAL_CAMERA_SIZE = (1280, 720)


def _thumbnail(path: str):
    """(h, w, 3) uint8 RGB thumbnail of a photo or of a video's first frame, or None."""
    import cv2

    from core.video import open_source

    try:
        with open_source(path) as src:
            frame = src.read(0)
    except Exception:  # noqa: BLE001 (a missing or broken file just has no thumbnail)
        return None
    h, w = frame.shape[:2]
    k = 96 / max(h, w)
    return cv2.resize(frame, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)

class _PanelProgress:
    """The reenactment panel's progress row as the controller's job view (a ProgressView)."""

    def __init__(self, panel: ReenactPanel):
        self.panel = panel
        self._text: ProgressText | None = None

    def job_started(self, job: Job) -> None:
        self._text = ProgressText(job.name, job.subject, job.unit)
        self.panel.set_progress(job.name, 0, 0)

    def job_progress(self, job: Job, done: int, total: int, message: str) -> None:
        if self._text is None:
            self._text = ProgressText(job.name, job.subject, job.unit)
        status, bar = self._text.update(done, total, message)
        self.panel.set_progress(bar, done, total)
        self.panel.set_status(status)

    def job_ended(self, job: Job) -> None:
        self._text = None
        self.panel.set_progress(None)


# ----------------------------------------------------------------------------------------
class ReenactController(QObject):
    """Connects a :class:`ReenactPanel` to core/reenact.

    Signals (GUI thread): ``target_ready(path)``, ``live_started()``, ``live_stopped()``,
    ``recording_saved(path)``, ``export_ended(outcome)`` ("finished" | "failed" | "cancelled"),
    ``error_shown(message)`` (every error the user is shown).
    """

    target_ready = Signal(str)
    _thumbs_ready = Signal(object)  # (from the thumbnail thread) {path: thumbnail}
    live_started = Signal()
    live_stopped = Signal()
    recording_saved = Signal(str)
    export_ended = Signal(str)
    train_ended = Signal(str)
    error_shown = Signal(str)

    def __init__(self, panel: ReenactPanel, window: QWidget | None = None, model_spec: str = MODEL_SPEC):
        super().__init__(window)
        self.panel = panel
        self.window = window
        self.model_spec = model_spec
        self.target: LiveTarget | None = None
        self.live: LiveSession | None = None
        self._settings = panel.settings()
        self._prep_job: Job | None = None
        self._start_job: Job | None = None
        self._export_job: Job | None = None
        self._train_job: Job | None = None
        #: the chosen target's newest trained renderer (core.neural.library summary) or None
        self.renderer_info: dict | None = None
        #: "Train renderer": minutes per run (a finished training goes on for as long again) and preset
        self.train_minutes = 30.0
        self.train_preset: str | None = None
        self._fps_seen: dict[str, float] = {}     # renderer name -> the live frame rate last seen
        self._train_folder: Path | None = None     # the folder of the training shown in the train view
        self._sheet_mtime = None                   # the validation sheet shown (its file's mtime)
        self._pending_start: str | None = None      # source to start once the target is ready
        self._stopping: tuple[threading.Thread, LiveSession] | None = None
        self._stop_message = ""
        self._recorder: Recorder | None = None
        self._record_path = ""
        self._restart_source: str | None = None  # restart with the new target once it is ready
        self._live_source: str | None = None     # the source spec of the running preview
        self.virtual_camera: VirtualCamera | None = None
        self.settings = getattr(window, "settings", None)
        if self.settings is None:
            from PySide6.QtCore import QSettings

            self.settings = QSettings()
        self._thumbs: dict[str, object] = {}
        self._shown_result = None
        self._shown_source = None
        self._last_readout = 0.0
        self._shut_down = False
        self._opened: list[LiveSession] = []  # sessions start jobs opened, not yet taken (closed at shutdown)
        self._opened_lock = threading.Lock()
        self.jobs = JobRunner(_PanelProgress(panel), self)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        p = panel
        p.target_chosen.connect(self.set_target)
        p.start_requested.connect(self.start)
        p.stop_requested.connect(self.stop)
        p.settings_changed.connect(self._on_settings)
        p.recalibrate_requested.connect(self.recalibrate)
        p.record_requested.connect(self.start_recording)
        p.record_stop_requested.connect(self.stop_recording)
        p.export_requested.connect(self.export)
        p.cancel_requested.connect(self.cancel_job)
        p.renderer_changed.connect(self._on_renderer_changed)
        p.train_requested.connect(self.train_renderer)
        p.targets_dropped.connect(self.add_targets)
        p.gallery_remove_requested.connect(self.remove_target)
        p.quick_record_requested.connect(self.toggle_quick_record)
        p.virtual_camera_toggled.connect(self.set_virtual_camera)
        self._thumbs_ready.connect(self._on_thumbs)
        p.set_running(False)
        p.set_recording(False)
        self._show_gallery()
        self._make_thumbnails(self.gallery())

    # -- state ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """The live preview is running (its pipeline threads started)."""
        return self.live is not None

    @property
    def busy(self) -> bool:
        """A target is being prepared or the preview is starting or stopping."""
        return bool((self._prep_job and self._prep_job.running) or (self._start_job and self._start_job.running)
                    or self._stopping is not None)

    def transfer_settings(self):
        """The core TransferSettings the panel shows."""
        return self._settings

    # -- errors ---------------------------------------------------------------------------
    def _error(self, title: str, message: str) -> None:
        if self._shut_down:  # the window is gone: nobody to tell
            log.info("%s (after shutdown): %s", title, message)
            return
        self.panel.set_status(message)
        self.error_shown.emit(message)
        show_error(self.window if self.window is not None else self.panel, title, message)

    # -- jobs -----------------------------------------------------------------------------
    def cancel_job(self) -> None:
        """Cancel the job shown in the progress row (target preparation, start or export)."""
        if self.jobs.cancel():
            self.panel.set_status(f"Cancelling {self.jobs.shown.name.lower()}...")

    def _run_job(self, job: Job, on_finished, on_failed=None, on_cancelled=None) -> Job:
        """Start ``job`` on the controller's runner; the callbacks get (job, result / message)."""
        return self.jobs.start(job, lambda res: on_finished(job, res),
                               lambda msg: (on_failed or self._job_failed)(job, msg),
                               lambda: (on_cancelled or self._job_cancelled)(job))

    def _job_failed(self, job: Job, message: str) -> None:
        self._error(job.name, message)

    def _job_cancelled(self, job: Job) -> None:
        self.panel.set_status(f"{job.name} cancelled.")

    # -- the target gallery ---------------------------------------------------------------
    def gallery(self) -> list[str]:
        """The gallery's targets, most recently used first."""
        value = self.settings.value("reenact/gallery", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_targets(self, paths, choose: bool = True) -> None:
        """Put ``paths`` first in the gallery; ``choose``: drive the first of them now."""
        paths = [str(Path(p)) for p in paths]
        gallery = paths + [g for g in self.gallery() if g not in paths]
        self.settings.setValue("reenact/gallery", gallery[:GALLERY_SIZE])
        self._show_gallery()
        self._make_thumbnails(paths)
        if choose and paths:
            self.panel.set_target(paths[0])

    def remove_target(self, path: str) -> None:
        self.settings.setValue("reenact/gallery", [g for g in self.gallery() if g != str(path)])
        self._show_gallery()

    def _show_gallery(self) -> None:
        self.panel.set_gallery([(g, self._thumbs.get(g)) for g in self.gallery()])

    def _make_thumbnails(self, paths) -> None:
        todo = [p for p in paths if p not in self._thumbs]
        if not todo:
            return

        def work():
            thumbs = {p: _thumbnail(p) for p in todo}
            if self._shut_down:
                return
            try:
                self._thumbs_ready.emit(thumbs)
            except RuntimeError:  # the window closed while the pictures were read: nothing to show
                log.debug("thumbnails ready after the reenactment panel was closed")
        threading.Thread(target=work, name="reenact-thumbnails", daemon=True).start()

    def _on_thumbs(self, thumbs: dict) -> None:
        if self._shut_down:
            return
        self._thumbs.update(thumbs)
        self._show_gallery()

    # -- target ---------------------------------------------------------------------------
    def set_target(self, path: str) -> None:
        """Prepare ``path`` (photo or video) for the preview in the background; while live, the
        preview stops and starts again on the new target once it is ready."""
        path = str(path).strip()
        if not path or self._shut_down:
            return
        if self.running:
            if self.recording:
                self.panel.set_status("Stop the recording before changing the target.")
                self.panel.set_target(self.target.path if self.target else "", emit=False)
                return
            self._restart_source = self._live_source or self.panel.source_spec()
            self.stop(f"Switching to {Path(path).name}...")
        if self.target is not None and self.target.path == path and not self.running:
            if self._restart_source is not None:
                # the same target again: start as soon as the preview has stopped (_poll)
                self._pending_start, self._restart_source = self._restart_source, None
                if self._stopping is None:
                    source, self._pending_start = self._pending_start, None
                    self.start(source, path)
            return
        if self._prep_job is not None and self._prep_job.running:
            if self._prep_job.args[0] == path:
                return  # already on it
            self._prep_job.cancel()
        self.target = None
        self._lookup_renderer(path)
        self.panel.set_target_status(f"preparing {Path(path).name}...")
        self._prep_job = self._run_job(
            Job(prepare_target, path, model_spec=self.model_spec, name="Preparing target", subject=Path(path).name),
            self._on_target_finished, self._on_target_failed, self._on_target_cancelled)

    def _on_target_finished(self, job: Job, target: LiveTarget) -> None:
        if job is not self._prep_job:
            return
        self.target = target
        if target.path not in self.gallery()[:1]:
            self.add_targets([target.path], choose=False)
        h, w = target.frame.shape[:2]
        what = "photo" if target.kind == "photo" else f"video, {target.face.num_frames} frames, first frame driven"
        self.panel.set_target_status(f"{target.name}: ready ({what}; {w}x{h} in the preview)")
        self.panel.set_status("")
        if not self.running:
            self.panel.set_result_frame(target.frame)
        self.target_ready.emit(target.path)
        if self._pending_start is None and self._restart_source is not None:
            self._pending_start, self._restart_source = self._restart_source, None
        if self._pending_start is not None:
            if self._stopping is not None:
                return  # the previous preview is still stopping: started when it has (_poll)
            source, self._pending_start = self._pending_start, None
            self.start(source, target.path)

    def _on_target_failed(self, job: Job, message: str) -> None:
        if job is not self._prep_job:
            return
        self._pending_start = self._restart_source = None
        self.panel.set_target_status("no usable target")
        self.panel.set_running(False)
        self._error("Reenact: target", message)

    def _on_target_cancelled(self, job: Job) -> None:
        if job is not self._prep_job:
            return
        self._pending_start = self._restart_source = None
        self.panel.set_target_status("target preparation cancelled")
        self.panel.set_running(False)

    # -- live preview -----------------------------------------------------------------------
    def start(self, source_spec: str | None = None, target_path: str | None = None) -> bool:
        """Start the live preview (after preparing the target if needed). False if it cannot start."""
        if self._shut_down or self.running or self._stopping is not None or \
                (self._start_job is not None and self._start_job.running):
            return False
        source_spec = (source_spec if source_spec is not None else self.panel.source_spec()).strip()
        target_path = (target_path if target_path is not None else self.panel.target()).strip()
        if not source_spec:
            self._error("Reenact", "Choose a source first: a webcam, or a video file (played as a "
                                   "simulated camera or as a file).")
            return False
        if not target_path:
            self._error("Reenact", "Choose a target first: the photo or video whose face is driven.")
            return False
        if self.target is None or self.target.path != target_path:
            self._pending_start = source_spec
            if self.panel.target() != target_path:
                self.panel.set_target(target_path, emit=False)
            self.set_target(target_path)
            self.panel.set_running(False, busy=True)
            return True
        renderer_model = self._renderer_model("Reenact: live preview")
        if renderer_model is False:
            return False
        self.panel.set_running(False, busy=True)
        self.panel.set_status(f"Starting the live preview from {source_spec}...")
        self._live_source = source_spec
        self._start_job = self._run_job(
            Job(open_live_with, source_spec, self.target, self.transfer_settings(), renderer_model,
                opened=self._register_opened, name="Starting live preview"),
            self._on_live_opened, lambda _job, msg: self._on_live_failed(msg),
            lambda _job: self.panel.set_running(False))
        return True

    def _register_opened(self, live: LiveSession) -> None:  # called on the job's thread
        with self._opened_lock:
            self._opened.append(live)

    def _on_live_opened(self, job: Job, live: LiveSession) -> None:
        # the session is the controller's from here on (self.live, or closed now): neither the
        # finished job (kept as self._start_job and as the runner's last job until the next
        # start) nor the list of opened sessions keeps it, so a stopped session, its pipeline
        # and its frames go as soon as it is closed
        job.result = None
        with self._opened_lock:
            self._opened = [s for s in self._opened if not s.closed and s is not live]
        if self._shut_down:
            live.close()
            return
        if job is not self._start_job:  # stopped while it was starting
            threading.Thread(target=self._close_quietly, args=(live,), name="reenact-stop", daemon=True).start()
            return
        self.live = live
        live.pipe.set_settings(transfer=self.transfer_settings())  # the user may have changed them meanwhile
        self._shown_result = self._shown_source = None
        self._last_readout = 0.0
        self.panel.set_running(True)
        self.panel.set_status(f"Live: {job.args[0]} drives {self.target.name}.")
        if self.panel.virtual_camera_check.isChecked():
            self.set_virtual_camera(True)
        self._timer.start()
        self.live_started.emit()

    def _on_live_failed(self, message: str) -> None:
        self.panel.set_running(False)
        self._error("Reenact: live preview", message)

    def stop(self, message: str = "Live preview stopped.") -> None:
        """Stop the preview: the recording ends, the pipeline's threads are joined and the
        camera is closed on a helper thread (the GUI keeps running meanwhile); ``message``
        is shown when it is done."""
        if self._start_job is not None and self._start_job.running:
            self._start_job.cancel()  # its session is closed when it arrives
            self._start_job = None
            self.panel.set_running(False)
        if self.live is None:
            return
        self.stop_recording()
        self._detach_virtual_camera()
        live, self.live = self.live, None
        thread = threading.Thread(target=self._close_quietly, args=(live,), name="reenact-stop", daemon=True)
        self._stopping = (thread, live)
        self._stop_message = message
        thread.start()
        self.panel.set_running(False, busy=True)
        self.panel.set_status("Stopping the live preview...")
        self._timer.start()

    @staticmethod
    def _close_quietly(live: LiveSession) -> None:
        try:
            if not live.close():
                log.warning("the live pipeline's threads did not end within their join timeout")
        except Exception:  # noqa: BLE001 (closing must not raise into a thread hook)
            log.exception("closing the live preview failed")

    def recalibrate(self) -> None:
        if self.live is not None:
            self.live.pipe.recalibrate()
            self.panel.set_status("Recalibrated: the source's next frame is its new neutral.")

    def _on_settings(self, settings) -> None:
        self._settings = settings
        if self.live is not None:
            self.live.pipe.set_settings(transfer=self.transfer_settings())

    def _poll(self) -> None:
        live = self.live
        if live is not None:
            # the result and the camera frame it was made from, shown together: showing the
            # newest camera frame beside a result made ~latency earlier put a closed mouth
            # beside a wide-open one
            out = live.pipe.latest_output()
            if out.image is not self._shown_result:
                self._shown_result = out.image
                self.panel.set_result_frame(out.image)
                if out.source is not None and out.source is not self._shown_source:
                    self._shown_source = out.source
                    self.panel.set_source_frame(out.source)
            now = time.monotonic()
            if now - self._last_readout >= READOUT_INTERVAL_S:
                self._last_readout = now
                st = live.pipe.stats()
                self.panel.set_stats(st.fps, st.latency_ms, st.face, live.fps)
                if self._recorder is not None and self._recorder.started_at is not None:
                    self.panel.set_recording_time(now - self._recorder.started_at)
                vc = self.virtual_camera
                if vc is not None and vc.error is not None:
                    self._detach_virtual_camera()
                    self._error("Reenact: virtual camera", f"The virtual camera stopped: {vc.error}")
                if st.fps > 0:
                    self._fps_seen[live.pipe.renderer_name] = st.fps
                    self._show_renderer()
            if live.pipe.error is not None:
                e = live.pipe.error
                if isinstance(e, UserFacingError):
                    message = str(e)
                else:
                    log.error("the live pipeline failed", exc_info=e)
                    message = f"The live preview stopped: {type(e).__name__}: {e} (details in the log file)"
                self.stop(message)
                self._error("Reenact: live preview", message)
            elif not live.pipe.running:
                self.stop("The source ended; the live preview stopped.")
        self._poll_recorder()
        if self._stopping is not None and not self._stopping[0].is_alive():
            self._stopping = None
            self.panel.set_running(False)
            self.panel.set_status(self._stop_message)
            self.live_stopped.emit()
            if self._pending_start is not None and self.target is not None and \
                    (self._prep_job is None or not self._prep_job.running):
                source, self._pending_start = self._pending_start, None
                self.start(source, self.target.path)
        if self.live is None and self._stopping is None and self._recorder is None:
            self._timer.stop()

    # -- recording ----------------------------------------------------------------------------
    def start_recording(self, path: str) -> bool:
        """Record the live result to ``path`` (mp4), with the source's sound, until
        :meth:`stop_recording` (core.reenact.session.start_recording)."""
        if self.live is None:
            self._error("Reenact: record", "Start the live preview first; the recording is its result.")
            return False
        if self._recorder is not None:
            return False
        try:
            self._recorder = start_recording(self.live, path)
        except (UserFacingError, ValueError, OSError) as e:
            self._error("Reenact: record", str(e))
            return False
        self._record_path = str(path)
        self.settings.setValue("reenact/record_dir", str(Path(path).parent))
        self.panel.set_recording(True)
        self.panel.set_recording_time(0.0)
        self.panel.set_status(f"Recording to {path}...")
        self._timer.start()
        return True

    def toggle_quick_record(self) -> None:
        """Start recording to a new file in the last recording folder (no question asked), or
        stop: F7, and R in the presenter view."""
        if self._recorder is not None:
            self.stop_recording()
            return
        folder = Path(str(self.settings.value("reenact/record_dir", str(Path.home()))))
        if not folder.is_dir():
            folder = Path.home()
        self.start_recording(str(folder / time.strftime("live-%Y%m%d-%H%M%S.mp4")))

    def stop_recording(self) -> None:
        """Ask the recorder to finish; the file is closed on its thread (``recording_saved`` follows)."""
        if self._recorder is not None:
            self._recorder.stop()
            self._timer.start()

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def _poll_recorder(self) -> None:
        rec = self._recorder
        if rec is None or rec.is_alive():
            return
        self._recorder = None
        self.panel.set_recording(False)
        if rec.error is not None:
            e = rec.error
            self._error("Reenact: record", str(e) if isinstance(e, UserFacingError)
                        else f"Recording to {self._record_path} failed: {type(e).__name__}: {e}")
            return
        self.panel.set_status(f"Recorded {rec.duration_s:.1f} s ({rec.written} frames at {rec.fps:g} fps) "
                              f"to {self._record_path}, {rec.audio_note}.")
        self.recording_saved.emit(self._record_path)

    # -- virtual camera -------------------------------------------------------------------------
    def set_virtual_camera(self, on: bool) -> bool:
        """Send the live result to a virtual camera (or stop); says why when there is none."""
        box = self.panel.virtual_camera_check
        if not on:
            self._detach_virtual_camera()
            self.panel.set_status("Virtual camera off.")
            return True
        ok, why = virtual_camera_status()
        if not ok:
            box.blockSignals(True)
            box.setChecked(False)
            box.blockSignals(False)
            self._error("Reenact: virtual camera", f"No virtual camera: {why}")
            return False
        if self.live is None:
            self.panel.set_status("The virtual camera starts with the live preview.")
            return True
        if self.virtual_camera is not None:
            return True
        cam = VirtualCamera(*VIRTUAL_CAMERA_SIZE, fps=self.live.fps)
        try:
            cam.start()
        except (RuntimeError, OSError, ValueError) as e:
            box.blockSignals(True)
            box.setChecked(False)
            box.blockSignals(False)
            self._error("Reenact: virtual camera", f"The virtual camera could not be opened: {e}")
            return False
        self.virtual_camera = cam
        self.live.pipe.add_listener(cam.offer)
        self.panel.set_status(f"Sending the result to the virtual camera {cam.device}.")
        return True

    def _detach_virtual_camera(self) -> None:
        cam, self.virtual_camera = self.virtual_camera, None
        if cam is None:
            return
        if self.live is not None:
            self.live.pipe.remove_listener(cam.offer)
        cam.stop()

    # -- offline export -------------------------------------------------------------------------
    def export(self, source_spec: str | None = None, target_path: str | None = None,
               output: str | None = None) -> bool:
        """Export ``source`` driving ``target`` to ``output`` in the background (progress/cancel)."""
        if self._export_job is not None and self._export_job.running:
            self.panel.set_status("An export is already running.")
            return False
        source_spec = source_spec if source_spec is not None else self.panel.source_spec()
        target_path = target_path if target_path is not None else self.panel.target()
        try:
            if not source_spec.strip() or not target_path.strip() or not output:
                raise InputError("Choose a source video, a target and an output file to export.")
            source_file = export_source_file(source_spec)
        except InputError as e:
            self._error("Reenact: export", str(e))
            return False
        if self.renderer_info is None or Path(self.renderer_info.get("target", "")) != Path(target_path):
            self._lookup_renderer(target_path)
        renderer_model = self._renderer_model("Reenact: export", target_path)
        if renderer_model is False:
            return False
        self._export_output = str(output)
        self._export_job = self._run_job(
            Job(export_reenactment, source_file, target_path, str(output), self.transfer_settings(),
                model_spec=self.model_spec, renderer_model=renderer_model, name="Exporting", in_process=True,
                subject=Path(output).name, unit="frames"),
            self._on_export_finished, self._on_export_failed, self._on_export_cancelled)
        self.panel.set_export_enabled(False)
        return True

    def _on_export_finished(self, job: Job, result) -> None:
        self.panel.set_export_enabled(True)
        secs = sum(result.seconds.values())
        self.panel.set_status(f"Exported {result.frames} frames to {result.output} in {secs:.0f} s.")
        self.export_ended.emit("finished")

    def _on_export_failed(self, job: Job, message: str) -> None:
        self.panel.set_export_enabled(True)
        self._error("Reenact: export", message)
        self.export_ended.emit("failed")

    def _on_export_cancelled(self, job: Job) -> None:
        self.panel.set_export_enabled(True)
        self.panel.set_status("Export cancelled; no file was written.")
        self.export_ended.emit("cancelled")

    # -- the renderer: warp or neural ------------------------------------------------------------
    def _lookup_renderer(self, target_path: str) -> None:
        """Find the newest renderer trained on ``target_path`` (manifests only: nothing loads)."""
        info = find_renderer(target_path) if target_path else None
        self.renderer_info = None if info is None else dict(info, target=str(target_path))
        self._show_renderer()

    def _show_renderer(self) -> None:
        target = self.panel.target()
        name = Path(target).name if target else "the target"
        if self.renderer_info is not None:
            text = f"Trained renderer for {name}: {describe_renderer(self.renderer_info)}."
        elif self.panel.renderer() == "neural":
            text = (f"{name} has no trained renderer: train one (Train renderer...) or choose Warp.")
        else:
            text = f"No trained renderer for {name} (Train renderer... makes one)." if target else ""
        if self._fps_seen:
            text += "  Live: " + ", ".join(f"{k} {v:.1f} fps" for k, v in sorted(self._fps_seen.items()))
        self.panel.set_renderer_status(text)

    def _renderer_model(self, title: str, target_path: str | None = None) -> str | None | bool:
        """The trained renderer's folder for the chosen renderer: None for the warp; False
        (after telling the user) when neural is chosen and the target has none."""
        if self.panel.renderer() != "neural":
            return None
        if self.renderer_info is None:
            target = target_path or self.panel.target()
            self._error(title, f"{Path(target).name} has no trained neural renderer. Train one with "
                               f"Train renderer... (or: python main.py train-renderer {target}), or choose "
                               "the Warp renderer.")
            return False
        return str(self.renderer_info["folder"])

    def _on_renderer_changed(self, name: str) -> None:
        # the choice is locked while the preview runs: it takes effect at the next start or export
        self._show_renderer()

    def train_renderer(self, target_path: str | None = None) -> bool:
        """Train the target's neural renderer in a worker process (progress in the panel's row;
        Cancel stops it with a checkpoint, and the next Train renderer resumes it). Into the
        folder of the renderer found for the target, else ``core.neural.library.default_folder``.
        Pressed while training: stops the training."""
        if self._train_job is not None and self._train_job.running:
            self._train_job.cancel()
            return False
        target = (target_path if target_path is not None else self.panel.target()).strip()
        if not target:
            self._error("Train renderer", "Choose a target video first: the renderer is trained on its footage.")
            return False
        info = find_renderer(target)
        folder = Path(info["folder"]) if info is not None else default_folder(target)
        resume = (folder / "checkpoint.safetensors").is_file()
        minutes = self.train_minutes
        summary = read_summary(folder) if resume else None
        if summary is not None and summary["minutes"] >= self.train_minutes - 0.05:
            minutes = summary["minutes"] + self.train_minutes   # a finished training goes on
        self.panel.set_status(f"{'Resuming' if resume else 'Training'} the neural renderer of {Path(target).name} "
                              f"into {folder} ({minutes:g} min)...")
        self._train_folder = folder
        self._sheet_mtime = None
        self.panel.train_view.clear()
        self.panel.train_box.setVisible(True)
        job = Job(train_renderer_job, target, str(folder), preset=self.train_preset, hybrid=True, minutes=minutes,
                  resume=resume, model_spec=self.model_spec, name="Training renderer", in_process=True)
        job.progress.connect(self._on_train_progress)
        self._train_job = self._run_job(job, self._on_train_finished, self._on_train_failed,
                                        self._on_train_cancelled)
        self.panel.train_button.setText("Stop training")
        return True

    def _on_train_progress(self, done: int, total: int, message: str) -> None:
        """A training step: its loss on the curve; a new validation sheet (written at each
        checkpoint) in the view."""
        step = parse_progress(message)
        if step is not None:
            self.panel.train_view.add_point(step["iteration"], step["g"], step["its_per_s"], step["eta_s"], step["d"])
        self._show_newest_sheet()

    def _show_newest_sheet(self) -> None:
        if self._train_folder is None:
            return
        path = Path(self._train_folder) / "validation" / "latest.png"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._sheet_mtime:
            return
        import cv2

        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            self._sheet_mtime = mtime
            self.panel.train_view.set_sheet(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def _train_over(self, outcome: str, status: str) -> None:
        self.panel.train_button.setText("Train renderer...")
        self._show_newest_sheet()   # the sheet of the last checkpoint
        self._lookup_renderer(self.panel.target())
        if status:
            self.panel.set_status(status)
        self.train_ended.emit(outcome)

    def _on_train_finished(self, job: Job, last: dict) -> None:
        self._train_over("finished", f"Renderer trained: {last.get('iteration')} iterations in "
                                     f"{last.get('seconds', 0) / 60:.1f} min, in {last.get('folder')}; "
                                     f"validation sheet {last.get('sheet')}.")

    def _on_train_failed(self, job: Job, message: str) -> None:
        self._train_over("failed", "")
        self._error("Train renderer", message)

    def _on_train_cancelled(self, job: Job) -> None:
        self._train_over("cancelled", "Training stopped; Train renderer... resumes it where it stopped.")

    # -- shutdown ---------------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop everything before returning: jobs cancelled, recording closed, pipeline threads
        joined, camera closed. Safe to call twice (window close and application quit)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._timer.stop()
        self.panel.set_presenter_visible(False)  # a second top-level window would keep the app open
        self._pending_start = None
        jobs = [j for j in (self._prep_job, self._start_job, self._export_job, self._train_job) if j is not None]
        for j in jobs:
            j.cancel()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder.join(timeout_s)
            self._recorder = None
        self._detach_virtual_camera()
        if self.live is not None:
            live, self.live = self.live, None
            self._close_quietly(live)
        if self._stopping is not None:
            self._stopping[0].join(timeout_s)
            self._stopping = None
        for j in jobs:
            if not j.wait(timeout_s):
                log.warning("%s did not stop within %.0f s of cancel", j.name, timeout_s)
        # a start job that ended just now may have opened a session whose signal is still queued
        with self._opened_lock:
            leftovers, self._opened = self._opened, []
        for live in leftovers:
            self._close_quietly(live)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt API)
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False


# ----------------------------------------------------------------------------------------
def install_reenact_panel(main_window: QMainWindow) -> ReenactController:
    """Add the reenactment panel (a dock at the bottom) and a "Reenact" menu to ``main_window``.

    Uses ``main_window.add_panel`` when it has one (View > Panels entry, remembered layout).
    The controller stops the preview when the window closes. Returns the controller; the
    dock and the menu are ``controller.dock`` / ``controller.menu``.
    """
    panel = ReenactPanel()
    dock = QDockWidget("Reenact", main_window)
    dock.setObjectName("reenact_panel")
    dock.setWidget(panel)
    area = Qt.DockWidgetArea.BottomDockWidgetArea
    if hasattr(main_window, "add_panel"):
        main_window.add_panel(dock, area)
    else:
        main_window.addDockWidget(area, dock)
    controller = ReenactController(panel, main_window)

    menus = getattr(main_window, "menus", None)
    if menus is not None:
        menu = menus.menu("reenact")
        add = menus.add
    else:  # a bare window (tests): a menu of its own
        menu = main_window.menuBar().addMenu("&Reenact")

        def add(_menu: str, _section: str, *items) -> None:
            menu.addActions(list(items))

    def action(text: str, slot, tip: str, section: str = "live", icon_name: str = "") -> QAction:
        a = QAction(text, main_window)
        if icon_name:
            a.setIcon(icon(icon_name))
        a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        add("reenact", section, a)
        return a

    def show_panel() -> None:
        dock.show()
        dock.raise_()

    show = dock.toggleViewAction()
    show.setText("Show reenact &panel")
    add("reenact", "panel", show)
    controller.act_target = action("Choose &target...", lambda: (show_panel(), panel.browse_target()),
                                   "Choose the photo or video whose face is driven")
    controller.act_start = action("&Start / stop live preview", lambda: (show_panel(), panel.request_start_stop()),
                                  "Start or stop the live reenactment preview", icon_name="live")
    controller.act_start.setShortcut("F6")
    controller.act_recalibrate = action("Recalibrate &neutral", controller.recalibrate,
                                        "Take the source's next frame as its rest pose and expression")
    controller.act_record = action("&Record result...", panel.request_record,
                                   "Record the live result to a video file (start / stop)", "output")
    controller.act_quick_record = action("Start / stop &recording (new file)", controller.toggle_quick_record,
                                         "Record the live result to a new file in the last recording folder, "
                                         "no question asked", "output", icon_name="record")
    controller.act_quick_record.setShortcut("F7")
    controller.act_export = action("&Export...", lambda: (show_panel(), panel.request_export()),
                                   "Reenact a whole source video offline at full quality, keeping its audio",
                                   "output")
    controller.act_train = action("&Train renderer...", lambda: (show_panel(), controller.train_renderer()),
                                  "Train the target video's neural renderer in the background (again: stop)",
                                  "output")
    controller.act_presenter = action("&Presenter view", lambda: panel.set_presenter_visible(True),
                                      "Show the live result big in its own window (F11 there: full screen)",
                                      "output", icon_name="presenter")
    controller.act_presenter.setShortcut("F5")  # as slide software starts a presentation

    main_window.installEventFilter(controller)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(controller.shutdown)
    controller.dock = dock
    controller.show_panel = show_panel
    controller.menu = menu
    return controller


def open_live_with(source_spec: str, target: LiveTarget, transfer, renderer_model: str | None = None,
                   opened=None, progress=None, cancel=None) -> LiveSession:
    """``open_live`` with the warp (``renderer_model`` None) or the neural renderer trained in
    ``renderer_model`` (loaded here, on the job's thread: torch and the weights never load on
    the GUI thread)."""
    factory = None
    if renderer_model:
        report(progress, 0, 0, "loading the neural renderer")
        from core.neural.renderer import renderer_factory

        factory = renderer_factory(renderer_model, target.model)
    return open_live(source_spec, target, transfer, opened=opened, progress=progress, cancel=cancel,
                     renderer_factory=factory)
