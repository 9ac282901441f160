"""Long core/ jobs in a separate worker process, so the GUI thread never waits for the GIL.

Threads are not enough for the app's long jobs: MediaPipe model creation, some numpy /
scipy calls and the export renderer hold Python's GIL for hundreds of milliseconds,
and the GUI thread then stalls although the work is "in the background". A worker
process has its own interpreter and GIL.

This module holds no Qt, so the child process imports only core/ (and this module):

- :class:`WorkerProcess`  one persistent child started with the ``spawn`` context (never
  ``fork``: the parent has Qt and GL threads). It runs one call at a time and is
  reused, so MediaPipe / torch import cost is paid once.
- :func:`run_in_process`  the parent side of one call: sends ``fn, args, kwargs`` (all
  picklable: module-level functions, dataclasses of numpy arrays), forwards progress,
  turns cancel into the child's ``multiprocessing.Event`` and terminates the child
  when it does not stop within a grace period; a crash of the child becomes an
  exception. It blocks, so callers run it on a worker thread (``app.jobs.Job``).
- :func:`shutdown_workers`  stops every child (also registered with ``atexit``).
- :func:`export_edit`, :func:`export_reenactment`  the app's composite jobs, here
  because a function run in the child must be importable without Qt (the Reconstruct job
  runs ``core.fitting.clip.reconstruct_clip`` directly).

Pickling is only inter-process communication here, never a file format.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable


from core.errors import UserFacingError
from core.jobs import CancelToken, Cancelled, ProgressFn, report

log = logging.getLogger(__name__)

_CTX = mp.get_context("spawn")

#: Seconds a cancelled job may take to reach its next cancel check before the child is killed.
CANCEL_GRACE_S = 3.0
#: Idle children kept for reuse (one per concurrent job kind is plenty on a 2-core machine).
MAX_IDLE = 2
PROGRESS_INTERVAL_S = 0.05
#: Added to the child's nice value (lower CPU priority than the GUI).
CHILD_NICENESS = 10


class WorkerCrashed(RuntimeError):
    """The child process died or its call raised something that is not a UserFacingError."""


# ---------------------------------------------------------------------------------------
# child side
def _child_main(conn, cancel_event) -> None:
    """Loop of the worker process: receive ``(fn, args, kwargs)``, send back the outcome.

    Messages to the parent: ``("progress", done, total, msg)``, then exactly one of
    ``("finished", result)``, ``("cancelled",)``, ``("failed", text)`` (a
    UserFacingError) or ``("crashed", summary, traceback_text)``.
    """
    # Lower priority than the GUI process: on a 2-core machine the job's native threads
    # (MediaPipe, BLAS, the decoder) otherwise take the cores the GUI needs to repaint.
    try:
        os.nice(CHILD_NICENESS)
    except OSError:
        pass
    # A CancelToken over the shared multiprocessing.Event: core code polls it as usual.
    token = CancelToken(_event=cancel_event)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        last = [0.0]

        def progress(done: int, total: int, message: str = "") -> None:
            now = time.perf_counter()
            if (total > 0 and done >= total) or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                conn.send(("progress", int(done), int(total), str(message)))

        try:
            fn, args, kwargs = task
            if token.cancelled:
                raise Cancelled()
            result = fn(*args, progress=progress, cancel=token, **kwargs)
            reply = ("finished", result)
        except Cancelled:
            reply = ("cancelled",)
        except UserFacingError as e:
            reply = ("failed", str(e))
        except BaseException as e:  # noqa: BLE001 (reported to the parent, the child stays usable)
            reply = ("crashed", f"{type(e).__name__}: {e}", traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as e:  # noqa: BLE001 (an unpicklable result)
            conn.send(("crashed", f"result cannot be sent back: {type(e).__name__}: {e}",
                       traceback.format_exc()))


# ---------------------------------------------------------------------------------------
# parent side
class WorkerProcess:
    """One persistent child process; runs one call at a time (see :func:`run_in_process`)."""

    def __init__(self):
        self.conn, child_conn = _CTX.Pipe(duplex=True)
        self.cancel_event = _CTX.Event()
        # daemon: multiprocessing terminates and reaps it at interpreter exit at the latest
        self.process = _CTX.Process(target=_child_main, args=(child_conn, self.cancel_event),
                                    name="facestudio-worker", daemon=True)
        with _LOCK:
            _start_without_main(self.process)
        child_conn.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the child to exit; kill it if it does not within ``timeout_s``. Reaps it."""
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self.conn.close()


def _start_without_main(process) -> None:
    """Start ``process`` without the child re-running the parent's ``__main__`` script.

    'spawn' normally re-imports the main script in the child (as ``__mp_main__``); a
    script that imports Qt or runs code at import would then do so in the worker. The
    child needs nothing from it (its target lives here), so the script is hidden from
    the spawn preparation for the moment ``start()`` takes.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        process.start()
    finally:
        if main is not None:
            sys.modules["__main__"] = main


_LOCK = threading.Lock()
_IDLE: list[WorkerProcess] = []
_ALL: set[WorkerProcess] = set()


def _acquire() -> WorkerProcess:
    with _LOCK:
        while _IDLE:
            w = _IDLE.pop()
            if w.alive():
                return w
            _ALL.discard(w)
            w.kill()
    w = WorkerProcess()
    with _LOCK:
        _ALL.add(w)
    return w


def _release(w: WorkerProcess, reusable: bool) -> None:
    with _LOCK:
        if reusable and w.alive() and len(_IDLE) < MAX_IDLE:
            _IDLE.append(w)
            return
        _ALL.discard(w)
    # not reusable: dead, or still busy with an abandoned call (cancel timed out)
    w.stop() if reusable else w.kill()


def warm_up() -> None:
    """Start one idle worker now (spawn + numpy/scipy import take ~1 s of the child's time)."""
    w = _acquire()
    _release(w, True)


def worker_pids() -> list[int]:
    """Process ids of the live worker children (busy or idle)."""
    with _LOCK:
        return [w.pid for w in _ALL if w.alive() and w.pid is not None]


def shutdown_workers() -> None:
    """Stop every worker child (busy ones are killed) and reap them; no zombies remain."""
    with _LOCK:
        idle, busy = list(_IDLE), [w for w in _ALL if w not in _IDLE]
        _ALL.clear()
        _IDLE.clear()
    for w in busy:
        w.kill()
    for w in idle:
        w.stop(timeout_s=1.0)


atexit.register(shutdown_workers)


def run_in_process(fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, *,
                   progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                   grace_s: float = CANCEL_GRACE_S, where: dict | None = None) -> Any:
    """Call ``fn(*args, progress=..., cancel=..., **kwargs)`` in a worker process; blocks.

    ``fn`` must be a module-level function importable without Qt; arguments and result
    must be picklable. Raises :class:`Cancelled` after ``cancel`` (the child is
    terminated when it has not stopped ``grace_s`` seconds later), the child's
    :class:`UserFacingError` text as a UserFacingError, and :class:`WorkerCrashed` when
    the call raised anything else or the child died. ``where`` (a dict) receives the
    worker's process id as ``where["pid"]``.
    """
    w = _acquire()
    if where is not None:
        where["pid"] = w.pid
    reusable = False
    cancel_sent_at: float | None = None
    try:
        w.cancel_event.clear()
        try:
            w.conn.send((fn, tuple(args), dict(kwargs or {})))
        except (OSError, EOFError) as e:
            raise WorkerCrashed(f"the worker process could not be reached ({e})") from None
        except Exception as e:  # noqa: BLE001 (pickling the task failed: a programming error)
            reusable = w.alive()
            raise WorkerCrashed(f"cannot send {getattr(fn, '__name__', fn)} to the worker process: "
                                f"{type(e).__name__}: {e}") from None
        while True:
            if cancel is not None and cancel.cancelled and cancel_sent_at is None:
                w.cancel_event.set()
                cancel_sent_at = time.perf_counter()
            if cancel_sent_at is not None and time.perf_counter() - cancel_sent_at > grace_s:
                log.warning("worker pid %s ignored cancel for %.1f s: terminating it", w.pid, grace_s)
                raise Cancelled()
            try:
                ready = w.conn.poll(0.05)
                msg = w.conn.recv() if ready else None
            except (EOFError, OSError):
                w.process.join(1.0)
                raise WorkerCrashed(f"the worker process stopped unexpectedly "
                                    f"(exit code {w.process.exitcode})") from None
            if msg is None:
                if not w.alive():
                    w.process.join(0.1)
                    raise WorkerCrashed(f"the worker process stopped unexpectedly "
                                        f"(exit code {w.process.exitcode})")
                continue
            kind = msg[0]
            if kind == "progress":
                report(progress, msg[1], msg[2], msg[3])
                continue
            reusable = True
            if kind == "finished":
                return msg[1]
            if kind == "cancelled":
                raise Cancelled()
            if kind == "failed":
                raise UserFacingError(msg[1])
            log.error("worker process traceback:\n%s", msg[2])
            raise WorkerCrashed(msg[1])
    finally:
        _release(w, reusable)


# ---------------------------------------------------------------------------------------
# the app's composite jobs (run in the child; importable without Qt)
def export_edit(kind: str, path: str, source: str, rec, model, edits,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                renderer_model: str | None = None) -> None:
    """Export an edited reconstruction: ``kind`` is video, png, obj, ply, csv or json. The video
    and png frames are rendered by the neural renderer in ``renderer_model`` when given (else the warp)."""
    from core.edits import export as ex

    factory = None
    if renderer_model and kind in ("video", "png"):
        report(progress, 0, 0, "loading the neural renderer")
        from core.neural.renderer import renderer_factory

        factory = renderer_factory(renderer_model, model)
    if kind == "video":
        ex.export_video(path, source, rec, model, edits, progress=progress, cancel=cancel, renderer_factory=factory)
    elif kind == "png":
        ex.export_png_sequence(path, source, rec, model, edits, progress, cancel, renderer_factory=factory)
    elif kind in ("obj", "ply"):
        ex.export_meshes(path, rec, model, edits, kind, False, progress, cancel)
    elif kind == "csv":
        ex.export_curves_csv(path, rec, model, edits)
    elif kind == "json":
        ex.export_curves_json(path, rec, model, edits)
    else:
        raise ValueError(f"unknown export kind {kind!r}")


def export_reenactment(source_file: str, target_path: str, output: str, transfer,
                       model_spec: str = "builtin", progress: ProgressFn | None = None,
                       cancel: CancelToken | None = None, renderer_model: str | None = None,
                       device: str = "auto"):
    """Offline, full-quality reenactment export with the source's audio (ReenactmentPipeline.export).

    ``transfer`` is a core TransferSettings; ``renderer_model`` a trained neural renderer's folder
    (None: the warp renderer), run on ``device``; returns the pipeline's ReenactResult.
    """
    from pathlib import Path

    from core.errors import InputError
    from core.model.registry import load_model
    from core.reenact.pipeline import ReenactmentPipeline

    for what, p in (("source", source_file), ("target", target_path)):
        if not Path(p).exists():
            raise InputError(f"{p}: the {what} file does not exist")
    report(progress, 0, 0, "loading the face model")
    model = load_model(model_spec)
    factory = None
    if renderer_model:
        report(progress, 0, 0, "loading the neural renderer")
        from core.neural.renderer import renderer_factory

        factory = renderer_factory(renderer_model, model, device)
    pipe = ReenactmentPipeline(model, transfer, model_spec=model_spec, renderer_factory=factory)
    return pipe.export(source_file, target_path, output, keep_audio=True, progress=progress, cancel=cancel)


def train_renderer_job(target: str, folder: str, preset: str | None = None, hybrid: bool = True,
                       minutes: float = 30.0, resume: bool = False, device: str = "auto",
                       model_spec: str = "builtin", max_frames: int | None = None,
                       progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> dict:
    """Train (or resume training) the neural renderer of the video ``target`` into ``folder``
    (``core.neural.job.train_renderer``; the GUI's "Train renderer"). Returns the last update
    (iteration, seconds, losses, the newest validation sheet's path) with ``folder``. Cancelled
    leaves a checkpoint in ``folder`` to resume from."""
    from core.neural.job import train_renderer
    from core.neural.presets import default_preset
    from core.neural.train import TrainSettings

    settings = TrainSettings(preset=preset or default_preset(hybrid), hybrid=hybrid, minutes=minutes, device=device)
    last = train_renderer(target, folder, settings, model_spec=model_spec, max_frames=max_frames, resume=resume,
                          progress=progress, cancel=cancel)
    return dict(last, folder=str(folder))
