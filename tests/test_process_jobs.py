"""Jobs in a worker process (app.process_jobs, Job(in_process=True)): results, progress,
errors, crashes, cancel (cooperative and forced) and no child left behind.

Run under Xvfb (the Job signals need a QApplication):
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_process_jobs.py
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import process_job_helpers as helpers
from app.process_jobs import WorkerCrashed, run_in_process, shutdown_workers, worker_pids
from core.errors import UserFacingError
from core.jobs import CancelToken, Cancelled


def _gone(pid: int) -> bool:
    """True when ``pid`` is neither running nor a zombie child of this process."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped already (or never ours)
    return done == pid


@pytest.fixture(autouse=True)
def clean_workers():
    yield
    shutdown_workers()


def test_result_progress_and_reuse_without_qt():
    seen = []
    out = run_in_process(helpers.count, (5,), progress=lambda d, t, m: seen.append((d, t, m)))
    assert out["pid"] != os.getpid() and out["qt_modules"] == []
    assert out["main"] is None  # the parent's main script was not re-run in the child
    assert seen[-1] == (5, 5, "step 5")
    # the idle worker is reused: same process, no second start-up
    assert run_in_process(helpers.count, (1,))["pid"] == out["pid"]
    assert worker_pids() == [out["pid"]]
    # numpy arrays travel both ways
    arr = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(run_in_process(helpers.scale, (arr, -2.0)), -2.0 * arr)


def test_errors_and_crash_become_exceptions():
    with pytest.raises(UserFacingError, match="clip.mp4: not a video"):
        run_in_process(helpers.bad_input, ("clip.mp4",))
    with pytest.raises(WorkerCrashed, match="KeyError"):
        run_in_process(helpers.buggy)
    pid = worker_pids()[0]  # a Python exception leaves the worker usable
    assert run_in_process(helpers.count, (1,))["pid"] == pid
    with pytest.raises(WorkerCrashed, match="exit code 7"):
        run_in_process(helpers.die, (7,))
    assert _gone(pid) and worker_pids() == []
    with pytest.raises(WorkerCrashed, match="cannot send"):
        run_in_process(lambda progress, cancel: 1)  # not picklable


def test_cancel_stops_cooperative_and_deaf_jobs_and_leaves_no_child():
    token = CancelToken()
    seen = []

    def progress(d, t, m):
        seen.append(d)
        if d >= 3:
            token.cancel()

    with pytest.raises(Cancelled):
        run_in_process(helpers.count, (1000, 0.01), progress=progress, cancel=token)
    assert max(seen) < 50  # it stopped at its next check, not at the end
    assert len(worker_pids()) == 1  # a cooperative cancel keeps the worker for reuse

    token = CancelToken()
    pid = worker_pids()[0]
    t0 = time.perf_counter()
    threading.Timer(0.3, token.cancel).start()  # once the child is inside deaf()
    with pytest.raises(Cancelled):
        run_in_process(helpers.deaf, (60.0,), cancel=token, grace_s=0.5)
    assert time.perf_counter() - t0 > 0.7  # it was given the grace period ...
    assert _gone(pid) and worker_pids() == []  # ... and then killed, not left to run 60 s

    run_in_process(helpers.count, (1,))
    pids = worker_pids()
    shutdown_workers()
    assert pids and all(_gone(p) for p in pids)


def test_job_in_process_signals(qtbot):
    from app.jobs import Job

    job = Job(helpers.count, 4, 0.01, name="Counting", in_process=True)
    progress = []
    job.progress.connect(lambda d, t, m: progress.append((d, t)))
    with qtbot.waitSignals([job.finished, job.done], timeout=30_000):
        job.start()
    assert job.outcome == "finished" and progress[-1] == (4, 4)

    job = Job(helpers.bad_input, "x.mov", name="Opening", in_process=True)
    with qtbot.waitSignal(job.failed, timeout=30_000) as sig:
        job.start()
    assert sig.args == ["x.mov: not a video (test)"]

    job = Job(helpers.die, 3, name="Crashing", in_process=True)
    with qtbot.waitSignal(job.failed, timeout=30_000) as sig:
        job.start()
    assert "Crashing failed unexpectedly" in sig.args[0] and "exit code 3" in sig.args[0]

    job = Job(helpers.count, 10_000, 0.01, name="Long", in_process=True)
    with qtbot.waitSignal(job.progress, timeout=30_000):
        job.start()
    pid = worker_pids()[0]
    with qtbot.waitSignal(job.cancelled, timeout=10_000):
        job.cancel()
    assert job.outcome == "cancelled"
    shutdown_workers()
    assert _gone(pid)
