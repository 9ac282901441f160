"""Background jobs: the one way the app runs long core/ functions off the GUI thread.

- :class:`Job`: one call of a core function, on a pool thread or in a worker process,
  with progress, cancel and its outcome as Qt signals;
- :class:`JobRunner`: one place that starts jobs, shows their progress and cancel on a
  :class:`ProgressView` (the window's status bar, the reenactment panel's progress row)
  and hands results to the caller's callbacks. The window, the editor and the reenactment
  panel all start their jobs through a runner; nothing reaches into another's jobs.

A :class:`Job` runs ``fn(*args, progress=..., cancel=..., **kwargs)`` on a pool
thread. ``progress`` and ``cancel`` are the plain core/ mechanism
(:mod:`core.jobs`); this module turns them into Qt signals, delivered on the GUI
thread:

- ``progress(done, total, message)`` (throttled to ~20 per second, the last one always sent),
- ``finished(result)``  the function returned,
- ``failed(message)``   it raised; a :class:`~core.errors.UserFacingError` gives its own
  text, anything else a short summary (the traceback goes to the log),
- ``cancelled()``       it raised :class:`~core.jobs.Cancelled` after :meth:`Job.cancel`.

Exactly one of ``finished`` / ``failed`` / ``cancelled`` is emitted, then ``done()``.

With ``in_process=True`` the pool thread only drives the call: ``fn`` runs in a
persistent worker *process* (:mod:`app.process_jobs`), so GIL-heavy work (MediaPipe,
numpy, the export renderer) cannot stall the GUI thread. ``fn`` must then be a
module-level function importable without Qt, its arguments and result picklable.
Cancel sets the child's flag and kills the child if it has not stopped after a grace
period; a crash of the child becomes ``failed(message)``.

Tests may set ``Job.synchronous = True``: ``start()`` then runs the call at once on the
calling thread (no pool, no worker process) and emits the same signals before it returns,
so a test gets its result without waiting on a machine whose load it does not control.
``ran_on`` tells where a finished call ran: ``"process <pid>"`` (a worker process),
``"thread <name>"`` (a pool thread) or ``"gui thread"`` (synchronous mode).

Example::

    job = Job(track_video, path, max_frames=100, name="Tracking", in_process=True)
    job.progress.connect(bar.update); job.finished.connect(on_result)
    job.start()
    ...
    job.cancel()
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.process_jobs import run_in_process
from core.errors import UserFacingError
from core.jobs import CancelToken, Cancelled

log = logging.getLogger(__name__)

# A private pool: jobs never compete with other users of the global pool, and the
# app can wait for exactly its own jobs at shutdown.
_POOL: QThreadPool | None = None


def job_pool() -> QThreadPool:
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(2)
    return _POOL


class Job(QObject):
    """One call of a core function on a worker thread, with progress and cancel as signals.

    ``fn`` must accept the keyword arguments ``progress`` and ``cancel`` (every long
    core/ function does).
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()
    #: after ``done``, with the job itself (its ``outcome``, ``result``, ``error`` are set):
    #: what a JobRunner listens to, so no connection has to hold the job (a lambda that
    #: captures the job it is connected to keeps both alive for good)
    ended = Signal(object)

    PROGRESS_INTERVAL_S = 0.05
    #: run every job inline on the calling thread (tests; see the module docstring)
    synchronous = False

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "Job",
                 parent: QObject | None = None, in_process: bool = False, subject: str = "", unit: str = "",
                 **kwargs: Any):
        super().__init__(parent)
        self.fn = fn
        self.in_process = in_process
        self.args = args
        self.kwargs = kwargs
        self.name = name
        #: what the job works on, for its progress line ("d6.mp4"); "" for nothing in particular
        self.subject = subject
        #: what the function's own done / total count ("frames"), "" when they are only a scale
        self.unit = unit
        self.token = CancelToken()
        self._ended = threading.Event()
        self._started = False
        self._last_emit = 0.0
        self.outcome: str | None = None  # "finished" | "failed" | "cancelled" once done
        self.result: Any = None          # the function's return value once finished
        self.error: str | None = None    # the message once failed
        self.context: Any = None         # the caller's note, e.g. the media the result is for
        self.ran_on: str | None = None   # where the call ran (see the module docstring)

    # -- GUI-thread API -------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError(f"{self.name}: a Job runs once")
        self._started = True
        if self.synchronous:
            self._run()
            return
        job_pool().start(_JobRunnable(self))

    def cancel(self) -> None:
        """Ask the job to stop; it does so at its next cancel check."""
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self._started and not self._ended.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the function has returned (signals may still be queued)."""
        if not self._started:
            return True
        return self._ended.wait(timeout_s)

    # -- worker-thread side ---------------------------------------------------------
    def _report(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        final = total > 0 and done >= total
        if final or now - self._last_emit >= self.PROGRESS_INTERVAL_S:
            self._last_emit = now
            self.progress.emit(int(done), int(total), str(message))

    def _run(self) -> None:
        kwargs = dict(self.kwargs, progress=self._report, cancel=self.token)
        try:
            if self.token.cancelled:
                raise Cancelled()
            if self.in_process and not self.synchronous:
                where: dict = {}
                result = run_in_process(self.fn, self.args, self.kwargs, progress=self._report,
                                        cancel=self.token, where=where)
                self.ran_on = f"process {where.get('pid')}"
            else:
                thread = threading.current_thread()
                self.ran_on = "gui thread" if thread is threading.main_thread() else f"thread {thread.name}"
                result = self.fn(*self.args, **kwargs)
        except Cancelled:
            self.outcome = "cancelled"
            self._ended.set()
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 (a job must never take the app down)
            # the one error policy (core.errors): the user's situation (bad input, a read-only or
            # full disk, too little memory) is its message naming the file; anything else a bug
            from core.errors import is_user_error, user_message

            self.outcome = "failed"
            if isinstance(e, UserFacingError) or is_user_error(e):
                self.error = user_message(e, self.name)
                log.info("%s failed: %s", self.name, self.error)
            else:
                self.error = (f"{self.name} failed unexpectedly: {type(e).__name__}: {e} "
                              "(details in the log file)")
                log.exception("%s crashed", self.name)
            self._ended.set()
            self.failed.emit(self.error)
        else:
            self.outcome, self.result = "finished", result
            self._ended.set()
            self.finished.emit(result)
        self.done.emit()
        self.ended.emit(self)


class _JobRunnable(QRunnable):
    # Holds a strong reference to the Job so its QObject outlives the run even if
    # the caller drops it; signals then still reach their receivers safely.
    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._run()  # noqa: SLF001


class ProgressView(Protocol):
    """Where a JobRunner shows its jobs (a status bar, a panel's progress row)."""

    def job_started(self, job: Job) -> None: ...

    def job_progress(self, job: Job, done: int, total: int, message: str) -> None: ...

    def job_ended(self, job: Job) -> None: ...


class JobRunner(QObject):
    """Starts jobs, shows them on a :class:`ProgressView`, cancels them, routes their results.

    ``start(job, on_finished=..., on_failed=..., on_cancelled=...)``: the callbacks get the
    job's result, its message, or nothing; each runs on the GUI thread once, after which
    the runner drops the job (and the callbacks). The view shows the newest job that
    reports progress; :meth:`cancel` cancels that one (or the given job).

    ``busy`` stays True from ``start`` until the job's end has been handled here (the
    job's own thread ends earlier, while its signals are still queued).

    Signals: ``started(job)``, ``ended(job)`` (outcome in ``job.outcome``).
    """

    started = Signal(object)
    ended = Signal(object)

    def __init__(self, view: ProgressView | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self._jobs: dict[Job, tuple] = {}   # running job -> (on_finished, on_failed, on_cancelled)
        self.shown: Job | None = None        # the job the view shows
        self.last: Job | None = None         # the newest job started

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def running(self) -> list[Job]:
        """The jobs started and not yet ended, oldest first."""
        return list(self._jobs)

    def start(self, job: Job, on_finished=None, on_failed=None, on_cancelled=None, context: Any = None) -> Job:
        """Start ``job``; returns it. ``context`` is stored on the job (``job.context``)."""
        job.context = context
        self._jobs[job] = (on_finished, on_failed, on_cancelled)
        self.last = job
        job.progress.connect(self._on_progress)
        job.ended.connect(self._on_ended)
        self._show(job)
        self.started.emit(job)
        job.start()
        return job

    def cancel(self, job: Job | None = None) -> bool:
        """Cancel ``job`` (default: the one shown); False when there is nothing to cancel."""
        job = job if job is not None else self.shown
        if job is None or job not in self._jobs:
            return False
        job.cancel()
        return True

    def cancel_all(self) -> list[Job]:
        jobs = list(self._jobs)
        for j in jobs:
            j.cancel()
        return jobs

    def _show(self, job: Job) -> None:
        self.shown = job
        if self.view is not None:
            self.view.job_started(job)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        job = self.sender()
        if job not in self._jobs:
            return
        if job is not self.shown:
            self._show(job)
        if self.view is not None:
            self.view.job_progress(job, done, total, message)

    def _on_ended(self, job: Job) -> None:
        callbacks = self._jobs.pop(job, None)
        if callbacks is None:
            return
        job.progress.disconnect(self._on_progress)
        job.ended.disconnect(self._on_ended)
        if job is self.shown:
            self.shown = None
            if self.view is not None:
                self.view.job_ended(job)
        on_finished, on_failed, on_cancelled = callbacks
        try:
            if job.outcome == "finished" and on_finished is not None:
                on_finished(job.result)
            elif job.outcome == "failed" and on_failed is not None:
                on_failed(job.error)
            elif job.outcome == "cancelled" and on_cancelled is not None:
                on_cancelled()
        finally:
            self.ended.emit(job)
