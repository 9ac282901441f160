"""The live result as a virtual camera (core.reenact.virtual_camera) through pyvirtualcam, with a
fake backend standing for the v4l2loopback device this machine does not have."""
from __future__ import annotations

import glob
import sys
import time

import numpy as np
import pytest

pyvirtualcam = pytest.importorskip("pyvirtualcam")

from core.reenact.virtual_camera import VirtualCamera, letterbox, virtual_camera_status  # noqa: E402


class FakeBackend:
    """A pyvirtualcam backend that keeps what it is sent (pyvirtualcam's Backend interface)."""

    frames: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.size = (height, width)
        FakeBackend.frames = []

    def device(self):
        return "fake0"

    def send(self, frame):
        FakeBackend.frames.append(np.array(frame).reshape(*self.size, 3).copy())

    def close(self):
        pass

    def native_fourcc(self):
        return None


@pytest.fixture
def fake():
    pyvirtualcam.register_backend("fake", FakeBackend)
    return "fake"


def test_outputs_reach_the_device_letterboxed(fake):
    cam = VirtualCamera(width=320, height=180, fps=30, backend=fake)
    cam.start()
    try:
        assert cam.device == "fake0"
        img = np.zeros((100, 100, 3), np.uint8)
        img[:] = (200, 30, 30)
        cam.offer(img)
        deadline = time.monotonic() + 20
        while cam.sent < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        cam.stop()
    assert cam.error is None and cam.sent >= 5 and not cam.running
    f = FakeBackend.frames[-1]
    assert f.shape == (180, 320, 3)
    assert (f[90, 160] == (200, 30, 30)).all() and (f[90, 10] == 0).all()  # square picture, black bars


def test_letterbox_and_status():
    out = letterbox(np.full((480, 640, 3), 9, np.uint8), 1280, 720)
    assert out.shape == (720, 1280, 3) and out[360, 640, 0] == 9 and out[360, 100, 0] == 0
    ok, why = virtual_camera_status()
    if sys.platform.startswith("linux") and not glob.glob("/dev/video*"):
        assert not ok and "v4l2loopback" in why and "modprobe" in why
    assert virtual_camera_status(backend="fake")[0]
