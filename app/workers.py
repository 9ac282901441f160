"""Background jobs: the one way the app runs long core/ functions off the GUI thread.

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
from typing import Any, Callable

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

    PROGRESS_INTERVAL_S = 0.05
    #: run every job inline on the calling thread (tests; see the module docstring)
    synchronous = False

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "Job",
                 parent: QObject | None = None, in_process: bool = False, **kwargs: Any):
        super().__init__(parent)
        self.fn = fn
        self.in_process = in_process
        self.args = args
        self.kwargs = kwargs
        self.name = name
        self.token = CancelToken()
        self._ended = threading.Event()
        self._started = False
        self._last_emit = 0.0
        self.outcome: str | None = None  # "finished" | "failed" | "cancelled" once done
        self.ran_on: str | None = None  # where the call ran (see the module docstring)

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
        except UserFacingError as e:
            self.outcome = "failed"
            log.info("%s failed: %s", self.name, e)
            self._ended.set()
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 (a job must never take the app down)
            self.outcome = "failed"
            log.exception("%s crashed", self.name)
            self._ended.set()
            self.failed.emit(f"{self.name} failed unexpectedly: {type(e).__name__}: {e} "
                             "(details in the log file)")
        else:
            self.outcome = "finished"
            self._ended.set()
            self.finished.emit(result)
        self.done.emit()


class _JobRunnable(QRunnable):
    # Holds a strong reference to the Job so its QObject outlives the run even if
    # the caller drops it; signals then still reach their receivers safely.
    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job._run()  # noqa: SLF001
