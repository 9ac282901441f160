"""A stopped live session is freed by reference counting alone: no reference cycle and no
stale reference keeps its pipeline (target, latest result and camera frame, renderer caches,
fitter, calibration history) alive until the garbage collector's next full pass.

Every check runs with the cyclic collector off from before the session starts (``gc.disable``)
and asks a ``weakref`` whether the object is gone: an object in a reference cycle, or still
referred to by something that should have let go, is still there.

What these caught (see NOTES.md, issue 13):

- the preview's finished start Job kept the session it returned (``job.result``), referred to
  by the controller and its job runner until the next start;
- an error stored on the object whose thread raised it (``LivePipeline.error``, a live
  source's capture error, ``Recorder.error``) held its traceback, whose frames hold ``self``:
  a cycle with the whole pipeline in it after any failure.

GUI tests run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_live_release.py
"""
from __future__ import annotations

import gc
import os
import sys
import time
import weakref
from contextlib import contextmanager

import pytest


if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # the panel draws no GL

START_TIMEOUT_MS = 60_000  # model load + target fit + source open on a busy 2-core VM


@contextmanager
def no_cyclic_gc():
    """The cyclic garbage collector off (what it would find stays); on again after."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _referrers(obj, caller) -> str:
    """What still refers to ``obj`` (for the failure message; ``caller``: the frame asking)."""
    import types

    return ", ".join(sorted({f"frame of {r.f_code.co_name}" if isinstance(r, types.FrameType)
                             else type(r).__qualname__ for r in gc.get_referrers(obj) if r is not caller}))


def _assert_freed(ref: weakref.ref, what: str) -> None:
    obj = ref()
    if obj is not None:
        held = _referrers(obj, sys._getframe())  # noqa: SLF001
        del obj
        pytest.fail(f"the {what} is still alive without a full garbage collection (held by: {held})")


# -- no Qt ---------------------------------------------------------------------------------
def _error_cycle_free(make, fail, stop) -> None:
    """``make()`` an object with a thread, ``fail(obj)`` makes its thread raise (the error is
    stored on the object), ``stop(obj)`` stops it; then it must go with its last reference."""
    with no_cyclic_gc():
        obj = make()
        fail(obj)
        stop(obj)
        ref = weakref.ref(obj)
        del obj
        _assert_freed(ref, "object whose thread failed")


def test_a_live_sources_capture_error_keeps_no_cycle(d6, monkeypatch):
    from core.video.live import SimulatedCamera

    def broken(self):
        raise RuntimeError("capture exploded")

    monkeypatch.setattr(SimulatedCamera, "_produce", broken)

    def fail(cam):
        cam._thread.join(10)  # noqa: SLF001
        assert cam.ended and "capture exploded" in repr(cam._error)  # noqa: SLF001

    _error_cycle_free(lambda: SimulatedCamera(d6), fail, lambda cam: cam.close())


def test_a_failed_recorder_keeps_no_cycle(tmp_path):
    import numpy as np

    from core.reenact.live import LiveOutput
    from core.reenact.session import Recorder

    class Pipe:  # what a Recorder uses of a LivePipeline
        def __init__(self):
            self.listeners = []

        def latest_output(self):
            return LiveOutput(np.zeros((8, 8, 3), np.uint8), None, 0, time.monotonic(), True)

        def add_listener(self, fn):
            self.listeners.append(fn)

        def remove_listener(self, fn):
            self.listeners = [f for f in self.listeners if f != fn]

    class BrokenWriter:
        path = tmp_path / "out.mp4"

        def write(self, image):
            raise OSError(28, "No space left on device")

        def abort(self):
            pass

    pipe = Pipe()

    def make():
        rec = Recorder(pipe, BrokenWriter(), 30.0)
        rec.start()
        return rec

    def fail(rec):
        rec.join(10)
        assert isinstance(rec.error, OSError) and pipe.listeners == []

    _error_cycle_free(make, fail, lambda rec: None)


def test_a_failed_live_pipeline_keeps_no_cycle(d6, still, monkeypatch):
    from core.reenact.live import LivePipeline
    from core.reenact.session import open_live, prepare_target
    from core.reenact.transfer import TransferSettings

    def broken(self, frame, ft):
        raise RuntimeError("fit exploded")

    monkeypatch.setattr(LivePipeline, "_source_state", broken)
    target = prepare_target(still)
    with no_cyclic_gc():
        live = open_live(f"simcam:{d6}", target, TransferSettings())
        deadline = time.monotonic() + 60
        while live.pipe.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "fit exploded" in str(live.pipe.error)
        # the error still says where it came from (the log shows its traceback)
        import traceback

        text = "".join(traceback.format_exception(live.pipe.error))
        assert "_render_loop" in text and "broken" in text
        assert live.close()
        refs = weakref.ref(live.pipe), weakref.ref(live.source)
        del live
        _assert_freed(refs[0], "failed live pipeline")
        _assert_freed(refs[1], "failed pipeline's camera")


# -- the app's reenactment panel -----------------------------------------------------------
@pytest.mark.gui
def test_a_stopped_live_preview_is_freed_by_reference_counting(qtbot, reenact_window, errors, d6, still, tmp_path):
    """Start the preview as the panel does, record a moment, open the presenter view, stop:
    the session, its pipeline and its camera go as soon as the preview has stopped."""
    w, ctl = reenact_window
    with no_cyclic_gc():
        with qtbot.waitSignal(ctl.live_started, timeout=START_TIMEOUT_MS):
            assert ctl.start(f"simcam:{d6}", still)
        live = ctl.live
        refs = dict(session=weakref.ref(live), pipeline=weakref.ref(live.pipe), camera=weakref.ref(live.source),
                    renderer=weakref.ref(live.pipe._warp_renderer))  # noqa: SLF001
        del live
        qtbot.waitUntil(lambda: ctl.live.pipe.stats().frames >= 3, timeout=30_000)
        ctl.panel.set_presenter_visible(True)
        assert ctl.start_recording(str(tmp_path / "live.mp4"))
        n0 = ctl.live.pipe.stats().frames
        qtbot.waitUntil(lambda: ctl.live.pipe.stats().frames >= n0 + 3, timeout=30_000)
        ctl.panel.set_presenter_visible(False)
        with qtbot.waitSignal(ctl.live_stopped, timeout=30_000):
            ctl.stop()  # (the recording ends with it)
        qtbot.waitUntil(lambda: not ctl.recording, timeout=30_000)
        qtbot.wait(50)  # the queued signals of the ended threads and jobs delivered
        for what, ref in refs.items():
            _assert_freed(ref, f"stopped live preview's {what}")
    assert errors == []


@pytest.mark.gui
def test_a_failed_live_preview_is_freed_by_reference_counting(qtbot, reenact_window, errors, d6, still,
                                                              monkeypatch):
    from core.reenact.live import LivePipeline

    w, ctl = reenact_window
    pipes = []

    def broken(self, frame, ft):
        if not pipes:
            pipes.append(weakref.ref(self))
        raise RuntimeError("fit exploded")

    monkeypatch.setattr(LivePipeline, "_source_state", broken)
    with no_cyclic_gc():
        with qtbot.waitSignal(ctl.error_shown, timeout=START_TIMEOUT_MS) as blocker:
            ctl.start(f"simcam:{d6}", still)
        assert "fit exploded" in blocker.args[0]
        qtbot.waitUntil(lambda: ctl._stopping is None, timeout=30_000)  # noqa: SLF001
        qtbot.wait(50)
        assert pipes
        _assert_freed(pipes[0], "failed live preview's pipeline")
    assert [t for t, _ in errors] == ["Reenact: live preview"]
