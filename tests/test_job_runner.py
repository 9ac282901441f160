"""app.jobs: Job and JobRunner (progress view, callbacks, cancel, no leaked jobs)."""
from __future__ import annotations

import gc
import os
import sys
import time
import weakref

import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from app.jobs import Job, JobRunner  # noqa: E402
from core.errors import UserFacingError  # noqa: E402
from core.jobs import check  # noqa: E402


def add(a, b, progress=None, cancel=None):
    for i in range(3):
        progress(i + 1, 3, f"step {i + 1}")
    return a + b


def slow(progress=None, cancel=None):
    for i in range(400):
        check(cancel)
        time.sleep(0.01)
    return "done"


def refuse(progress=None, cancel=None):
    raise UserFacingError("clip.mp4: no face found")


class View:
    def __init__(self):
        self.events = []

    def job_started(self, job):
        self.events.append(("started", job.name))

    def job_progress(self, job, done, total, message):
        self.events.append(("progress", done, total))

    def job_ended(self, job):
        self.events.append(("ended", job.name))


def test_runner_routes_results_and_drops_its_jobs(qtbot):
    view = View()
    runner = JobRunner(view)
    got = []
    job = Job(add, 2, 3, name="Adding")
    ref = weakref.ref(job)
    with qtbot.waitSignal(runner.ended, timeout=10_000):
        runner.start(job, on_finished=got.append)
    assert got == [5] and job.outcome == "finished" and not runner.busy
    assert job.ran_on.startswith("thread")
    assert view.events[0] == ("started", "Adding") and view.events[-1] == ("ended", "Adding")
    assert ("progress", 3, 3) in view.events
    # failure and cancel reach their callbacks
    failed, cancelled = [], []
    with qtbot.waitSignal(runner.ended, timeout=10_000):
        runner.start(Job(refuse, name="Tracking"), on_failed=failed.append)
    assert failed == ["clip.mp4: no face found"]
    slow_job = runner.start(Job(slow, name="Slow"), on_cancelled=lambda: cancelled.append(1))
    assert runner.busy and runner.shown is slow_job
    with qtbot.waitSignal(runner.ended, timeout=10_000):
        assert runner.cancel()
    assert cancelled == [1] and slow_job.outcome == "cancelled"
    # nothing keeps a finished job alive (a lambda connected to a job's own signal did)
    del job, slow_job
    runner.last = None
    # the pool deletes a finished runnable (which holds its job) just after the job's last
    # signal: wait for that, or the check races the pool thread
    from app.jobs import job_pool

    job_pool().waitForDone(10_000)
    gc.collect()
    assert ref() is None


def test_synchronous_mode_runs_on_the_calling_thread(qtbot, monkeypatch):
    monkeypatch.setattr(Job, "synchronous", True)
    runner = JobRunner()
    got = []
    job = runner.start(Job(add, 1, 1, name="Adding", in_process=True), on_finished=got.append)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5_000)
    assert got == [2] and job.ran_on == "gui thread"
