"""The Dask side of a batch: the cluster, one task per clip, worker deaths, progress.

:func:`open_cluster` gives a ``distributed.Client``: on a ``LocalCluster`` of worker processes
on this machine (the default: one per core, one task thread each, each under a memory limit
its nanny enforces), or on an existing cluster by its scheduler's address. Either way the
workers must run this same FaceStudio code (checked at the start: a worker with another
checkout would write results made by other code) and reach the inputs and OUTDIR by the same
paths (a shared file system).

:func:`run_batch` submits ``core.batch.task.run_clip`` once per clip (in input order), collects
the records as they come and reports progress. A clip's own failure comes back as a record.
When a worker process dies mid-clip, the scheduler gives its task to another worker; on a
``LocalCluster`` it is allowed ``retries + 1`` such deaths (``allowed-failures``), after which
the task itself records the failure (``task.run_clip``). An existing cluster has its own
``allowed-failures``: when its scheduler gives up first (``KilledWorker``), the clip is
submitted again, up to ``retries + 1`` times, and the task's own start count still decides.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from core.batch.inputs import ClipSpec
from core.batch.record import FORMAT, VERSION, write_record
from core.batch.task import BatchJob, run_clip
from core.errors import UserFacingError

log = logging.getLogger(__name__)

#: how often the progress callback is called while nothing finishes (seconds)
TICK_S = 0.5
#: task key prefix (the running count picks this batch's tasks out of the scheduler's)
KEY_PREFIX = "facestudio-clip"
#: Dask's setting for the workers' profiler (off for a LocalCluster; README: for `dask worker`, the
#: environment variable DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False)
WORKER_PROFILE = "distributed.worker.profile.enabled"


def default_workers() -> int:
    """Worker processes of a local cluster: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ClusterOptions:
    """How to get workers.

    scheduler : address of an existing cluster's scheduler (``tcp://host:8786``), or None for a
        LocalCluster on this machine
    workers : LocalCluster worker processes (None: ``default_workers()``)
    threads : task threads per LocalCluster worker (bench/bench_batch.py measured 1 and 2)
    memory_limit : per LocalCluster worker, e.g. "6GB" ("auto": the machine's memory / workers;
        the nanny restarts a worker that goes over 95 % of it, and its clip is started again)
    dashboard : LocalCluster's dashboard address (host:port; port 0 picks a free one)
    retries : starts of a clip after its worker died, before the clip is failed
    """

    scheduler: str | None = None
    workers: int | None = None
    threads: int = 1
    memory_limit: str = "auto"
    dashboard: str = "127.0.0.1:8787"
    retries: int = 2


@dataclass
class Cluster:
    """A connected client and what to tell the user about it."""

    client: object                  # distributed.Client
    description: str                # "LocalCluster: 2 workers x 1 thread" / "tcp://...: 2 workers"
    dashboard: str | None           # the dashboard's URL, when it has one
    local: object = None            # the LocalCluster we started (None for an existing cluster)


@contextmanager
def open_cluster(options: ClusterOptions) -> Iterator[Cluster]:
    """A client on a new LocalCluster or on the cluster at ``options.scheduler``; closed (and a
    LocalCluster shut down) on exit. UserFacingError when the scheduler cannot be reached, no
    worker joins in time, or the workers run other code than this process."""
    import dask
    from distributed import Client, LocalCluster

    local = client = None
    try:
        if options.scheduler:
            try:
                client = Client(options.scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise UserFacingError(f"--scheduler {options.scheduler}: cannot reach the Dask scheduler ({e}); "
                                      "is `dask scheduler` running there, and the address right?") from e
            description = f"cluster at {options.scheduler}"
        else:
            n = options.workers or default_workers()
            with dask.config.set({"distributed.scheduler.allowed-failures": options.retries + 1,
                                  # a task goes to a worker only when a thread is free: "running" is exact
                                  "distributed.scheduler.worker-saturation": 1.0,
                                  # the workers' statistical profiler samples every thread's stack 100
                                  # times a second: ~4 % of a clip's CPU (1-7 % over 4 A/B pairs; NOTES.md, issue 18)
                                  WORKER_PROFILE: False}):
                local = LocalCluster(n_workers=n, threads_per_worker=options.threads, processes=True,
                                     host="127.0.0.1", dashboard_address=options.dashboard,
                                     memory_limit=options.memory_limit, silence_logs=logging.ERROR)
            client = Client(local)
            description = f"LocalCluster: {n} worker process{'es' if n != 1 else ''} x {options.threads} thread" \
                          f"{'s' if options.threads != 1 else ''}"
        try:
            client.wait_for_workers(1, timeout=120)
        except TimeoutError as e:
            raise UserFacingError(f"{description}: no worker joined within 120 s; start workers with "
                                  f"`dask worker {options.scheduler or 'ADDRESS'}`") from e
        check_workers(client, description)
        try:
            dashboard = client.dashboard_link
        except (KeyError, AttributeError):  # a scheduler without the dashboard (bokeh missing there)
            dashboard = None
        yield Cluster(client, description, dashboard, local)
    finally:
        try:
            if client is not None:
                client.close()
        finally:
            if local is not None:
                local.close()


def check_workers(client, description: str) -> dict:
    """{worker address: its fitting-code fingerprint}; UserFacingError when a worker cannot import
    FaceStudio or runs other code than this process."""
    from core.batch.task import code_version

    try:
        found = client.run(code_version)
    except (ImportError, AttributeError) as e:
        raise UserFacingError(f"{description}: the workers cannot run FaceStudio's code ({type(e).__name__}: {e}); "
                              "start them from the FaceStudio folder with its environment "
                              "(PYTHONPATH=. .venv/bin/dask worker ADDRESS)") from e
    mine = code_version()
    other = sorted(w for w, v in found.items() if v != mine)
    if other:
        raise UserFacingError(f"{description}: worker(s) {', '.join(other)} run other FaceStudio code than this "
                              "program (another checkout or version); update them or this copy")
    return found


@dataclass
class BatchStatus:
    """Progress of a batch: clips ``done`` (complete now, resumed ones included), ``failed``,
    ``resumed`` (of done: kept from an earlier run), ``running`` (on workers now), ``total``;
    ``elapsed_s`` since the start and ``eta_s`` (None until a clip was computed)."""

    total: int
    done: int = 0
    failed: int = 0
    resumed: int = 0
    running: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def finished(self) -> int:
        return self.done + self.failed


@dataclass
class BatchOutcome:
    """What a run ended with: the records by clip id (clips never run are missing), the final
    status, whether the user interrupted it, and resubmissions after ``KilledWorker``."""

    records: dict[str, dict] = field(default_factory=dict)
    status: BatchStatus | None = None
    interrupted: bool = False
    resubmitted: int = 0


StatusFn = Callable[[BatchStatus, "dict | None"], None]


def run_batch(client, clips: list[ClipSpec], job: BatchJob, on_status: StatusFn | None = None) -> BatchOutcome:
    """Run ``job`` over ``clips`` on ``client``'s cluster (module docstring). ``on_status(status,
    record)`` is called with each finished clip's record and, with ``record=None``, every
    TICK_S while none finishes. Ctrl+C cancels what has not finished and returns what has
    (``interrupted``)."""
    from distributed import as_completed

    t0 = time.perf_counter()
    status = BatchStatus(total=len(clips))
    outcome = BatchOutcome(status=status)
    order = {c.clip_id: i for i, c in enumerate(clips)}
    live: dict[str, tuple[ClipSpec, object]] = {}   # task key -> (clip, future)
    submits: dict[str, int] = {}

    def submit(clip: ClipSpec):
        n = submits.get(clip.clip_id, 0)
        submits[clip.clip_id] = n + 1
        key = f"{KEY_PREFIX}-{clip.clip_id}-{job.run_id}-{n}"
        # priority: earlier inputs first (Dask runs higher priorities first)
        fut = client.submit(run_clip, clip, job, key=key, pure=False, priority=len(clips) - order[clip.clip_id])
        live[key] = (clip, fut)
        return fut

    pending = as_completed([submit(c) for c in clips])
    computed_s: list[float] = []
    last_tick = 0.0
    try:
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            for fut in batch:
                clip, _ = live.pop(fut.key)
                record = _outcome_of(fut, clip, job, submits[clip.clip_id])
                fut.release()
                if record is None:  # the scheduler gave up on a dying worker: start the clip again
                    outcome.resubmitted += 1
                    pending.add(submit(clip))
                    continue
                outcome.records[clip.clip_id] = record
                if record.get("status") == "done":
                    status.done += 1
                    status.resumed += bool(record.get("resumed"))
                else:
                    status.failed += 1
                if not record.get("resumed"):
                    computed_s.append(time.perf_counter() - t0)
                _update(status, t0, computed_s)
                if on_status is not None:
                    on_status(status, record)
            now = time.perf_counter()
            if now - last_tick >= TICK_S:
                last_tick = now
                status.running = running_tasks(client)
                _update(status, t0, computed_s)
                if on_status is not None:
                    on_status(status, None)
            if not batch:
                time.sleep(0.1)
    except KeyboardInterrupt:
        outcome.interrupted = True
        if live:
            client.cancel([f for _, f in live.values()])
    status.running = 0
    _update(status, t0, computed_s)
    return outcome


def _update(status: BatchStatus, t0: float, computed_s: list[float]) -> None:
    """Elapsed time and the ETA: the clips left at the rate clips were computed so far."""
    status.elapsed_s = time.perf_counter() - t0
    left = status.total - status.finished
    if computed_s and left > 0:
        status.eta_s = left * computed_s[-1] / len(computed_s)
    elif left == 0:
        status.eta_s = 0.0


def running_tasks(client) -> int:
    """How many of the batch's tasks the scheduler has on workers now (0 when it cannot be asked)."""
    try:
        processing = client.processing()
    except (OSError, TimeoutError):
        return 0
    return sum(1 for keys in processing.values() for k in keys if str(k).startswith(KEY_PREFIX))


def _outcome_of(fut, clip: ClipSpec, job: BatchJob, submitted: int) -> dict | None:
    """A finished future's record; for a task that raised (which run_clip does not do for a
    clip's own failure), a failure record written here; None to submit the clip again."""
    from distributed import KilledWorker

    if fut.status == "finished":
        return fut.result()
    exc = fut.exception() if fut.status == "error" else None
    if (isinstance(exc, KilledWorker) or fut.status == "lost") and submitted <= job.retries:
        return None
    if isinstance(exc, KilledWorker):
        message = (f"{clip.path}: the workers processing this clip died {submitted} time(s) over the scheduler's "
                   f"allowed failures; given up after --retries {job.retries}")
    else:
        message = f"{clip.path}: the task could not run on the cluster ({type(exc).__name__}: {exc})" \
            if exc is not None else f"{clip.path}: the task ended as {fut.status!r}"
    record = dict(format=FORMAT, version=VERSION, clip_id=clip.clip_id, input=dict(path=clip.path),
                  request=job.request(clip), status="failed", error=message,
                  error_type=type(exc).__name__ if exc is not None else fut.status)
    try:
        write_record(Path(job.outdir) / clip.clip_id, record)
    except OSError as e:
        log.warning("cannot write the failure record of %s: %s", clip.clip_id, e)
    return record
