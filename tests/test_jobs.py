"""core/jobs: stage progress, cancel tokens with a parent, the newest-item mailbox."""
from __future__ import annotations

import threading

import pytest

from core.jobs import Cancelled, CancelToken, NewestSlot, check, sub_progress


def test_sub_progress_maps_stages_and_names_them_with_real_counts():
    seen = []
    top = lambda d, t, m="": seen.append((d, t, m))  # noqa: E731
    track = sub_progress(top, 0, 400, 1000, "tracking")
    fit = sub_progress(top, 400, 600, 1000, "fitting")
    track(120, 587, "tracking")
    track(587, 587, "")
    fit(3, 8, "camera initialisation")
    fit(100, 100, "done")
    assert seen == [(82, 1000, "tracking 120/587"), (400, 1000, "tracking 587/587"),
                    (625, 1000, "fitting: camera initialisation"), (1000, 1000, "fitting: done")]
    # stages nest, every level adds its name once; an unknown total keeps the stage's start
    seen.clear()
    source = sub_progress(top, 0, 300, 1000, "source")
    inner = sub_progress(source, 0, 400, 1000, "tracking")
    inner(50, 100, "tracking")
    inner(7, 0, "")
    assert seen == [(60, 1000, "source: tracking 50/100"), (0, 1000, "source: tracking")]
    assert sub_progress(None, 0, 1, 1, "x") is None


def test_cancel_token_with_a_parent():
    job = CancelToken()
    helper = CancelToken(parent=job)
    helper.cancel()  # the helper's own stop does not cancel the job
    assert helper.cancelled and not job.cancelled
    other = CancelToken(parent=job)
    assert not other.cancelled
    job.cancel()  # the job's cancel reaches every helper
    assert other.cancelled
    with pytest.raises(Cancelled):
        check(other)
    check(None)


def test_newest_slot_keeps_the_newest_counts_drops_and_times_out():
    slot = NewestSlot()
    assert slot.take(timeout=0.01) is None  # nothing posted: the wait times out
    for i in range(5):
        slot.post(i)
    assert slot.take(timeout=1) == 4 and slot.dropped == 4
    assert not slot.idle  # taken, not yet done
    slot.done()
    assert slot.idle
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take()))
    t.start()
    slot.post("x")
    t.join(5)
    assert got == ["x"]
    slot.post("late")
    slot.close()
    assert slot.take() is None and slot.take(timeout=1) is None  # closed: nothing more
