"""LivePipeline.set_settings from another thread (the GUI's) while a frame renders: the frame
being rendered keeps the settings it started with, the next frame takes the new ones."""
from __future__ import annotations

import threading
import time

import numpy as np

from tests.conftest import shared_path


class StillCamera:
    """A live source that shows one picture over and over (as a camera pointed at a photo)."""

    dropped = 0

    def __init__(self, frame: np.ndarray):
        self.frame = frame
        self.index = -1

    def read_latest(self):
        time.sleep(0.02)
        self.index += 1
        return self.index, self.frame


def test_settings_change_does_not_reach_the_frame_being_rendered():
    import cv2

    from core.model.registry import load_model
    from core.reenact.faces import fit_face
    from core.reenact.live import LivePipeline, fit_photo_to_size
    from core.reenact.transfer import TransferSettings
    from core.tracking.tracker import track_image
    from core.warp import WarpSettings

    model = load_model("builtin")
    img = cv2.cvtColor(cv2.imread(str(shared_path("data", "portraits", "stills", "d12.jpg"))), cv2.COLOR_BGR2RGB)
    photo = fit_photo_to_size(img, (256, 256))
    target = fit_face(track_image(photo, source="d12 256"), model, name="d12 256")
    first = WarpSettings()
    pipe = LivePipeline(model, StillCamera(photo), target, photo, TransferSettings(mode="head"), warp=first)

    entered, release = threading.Event(), threading.Event()
    seen: list[tuple[object, object]] = []
    wrapped = set()

    def slow(renderer):
        """Wrap one renderer's render: record its settings at entry and exit; hold the first call."""
        if id(renderer) in wrapped:
            return
        wrapped.add(id(renderer))
        real = renderer.render

        def render(*a, **k):
            at_entry = renderer.settings
            if not entered.is_set():
                entered.set()
                release.wait(10)
            out = real(*a, **k)
            seen.append((at_entry, renderer.settings))
            return out
        renderer.render = render

    slow(pipe._renderer)
    second = WarpSettings(gaze=False, mouth_fill=False)
    with pipe:
        assert entered.wait(30), pipe.error
        pipe.set_settings(warp=second)  # the GUI thread, while the first frame renders
        release.set()
        t_end = time.monotonic() + 30
        while time.monotonic() < t_end and pipe.error is None:
            slow(pipe._renderer)  # a renderer made for the new settings is wrapped too
            if any(exit_ is second for _, exit_ in seen):
                break
            time.sleep(0.01)
    assert pipe.error is None, repr(pipe.error)
    assert seen, "no frame was rendered"
    entry, exit_ = seen[0]
    assert entry is first and exit_ is first, "the settings changed under the frame being rendered"
    assert any(e is second and x is second for e, x in seen[1:]), "the new settings never arrived"
