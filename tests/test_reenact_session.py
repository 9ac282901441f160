"""The live reenactment session without a GUI (core/reenact/session.py): a prepared photo
target, a simulated camera driving it, the recorder, and a clean close."""
from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import shared_path
from core.errors import InputError
from core.reenact.session import (
    LIVE_MAX_SIDE, Recorder, export_source_file, live_source_spec, open_live, prepare_target, preview_size,
)
from core.reenact.transfer import TransferSettings
from core.video import VideoWriter, open_source


def test_source_specs_and_preview_size():
    assert live_source_spec("clip.mp4") == "simcam:clip.mp4"
    assert live_source_spec("webcam:1") == "webcam:1"
    assert export_source_file("simcam:/a/b.mp4") == "/a/b.mp4"
    with pytest.raises(InputError, match="live camera"):
        export_source_file("webcam:0")
    assert preview_size(720, 720) == (512, 512)
    assert preview_size(100, 300) == (100, 300)
    h, w = preview_size(1080, 1920)
    assert max(h, w) <= LIVE_MAX_SIDE and h % 2 == 0 and w % 2 == 0


def test_simulated_camera_drives_a_photo_and_records(tmp_path):
    target = prepare_target(str(shared_path("data", "portraits", "stills", "d12.jpg")))
    assert target.kind == "photo" and max(target.frame.shape[:2]) <= LIVE_MAX_SIDE
    live = open_live(f"simcam:{shared_path('data', 'videos', 'd6.mp4')}", target, TransferSettings())
    try:
        out = tmp_path / "rec.mp4"
        rec = Recorder(live.pipe.latest, VideoWriter(out, fps=live.fps), live.fps)
        rec.start()
        changed = []
        deadline = time.monotonic() + 120
        while len(changed) < 3 and time.monotonic() < deadline:
            f = live.pipe.latest()
            if f is not None and np.abs(f.astype(int) - target.frame.astype(int)).mean() > 1.0:
                if not changed or f is not changed[-1]:
                    changed.append(f)
            time.sleep(0.05)
        rec.stop()
        rec.join(60)
    finally:
        assert live.close()
    assert len(changed) >= 3, "the camera did not drive the photo"
    assert not live.pipe.running and live.source.ended
    assert rec.error is None and rec.written >= 1
    with open_source(out) as src:
        assert src.frame_count == rec.written and src.size == target.frame.shape[:2]
