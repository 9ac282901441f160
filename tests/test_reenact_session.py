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
    start_recording,
)
from core.reenact.transfer import TransferSettings
from core.video import VideoWriter, open_source, probe


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
        rec = start_recording(live, out)   # a simulated camera: the clip's sound comes along
        t0 = time.monotonic()
        changed = []
        deadline = time.monotonic() + 120
        while len(changed) < 3 and time.monotonic() < deadline:
            f = live.pipe.latest()
            if f is not None and np.abs(f.astype(int) - target.frame.astype(int)).mean() > 1.0:
                if not changed or f is not changed[-1]:
                    changed.append(f)
            time.sleep(0.05)
        rec.stop()
        recorded = time.monotonic() - t0
        rec.join(120)
    finally:
        assert live.close()
    assert len(changed) >= 3, "the camera did not drive the photo"
    assert not live.pipe.running and live.source.ended
    assert rec.error is None and rec.written >= 1
    with open_source(out) as src:
        assert src.frame_count == rec.written and src.size == target.frame.shape[:2]
    # as long as it was recorded, whatever the pipeline's rate or the encoder's pace, with sound
    info = probe(out)
    assert abs(rec.written / live.fps - recorded) < 0.15, (rec.written, recorded)
    assert rec.audio_kept and info["has_audio"] and abs(info["duration"] - recorded) < 0.25, (info, recorded)


class FakePipe:
    """A pipeline stand-in: outputs numbered images at ``rate`` per second, the grab time in them."""

    def __init__(self, rate: float):
        from core.reenact.live import LiveOutput

        self.rate, self._listeners, self._stop = rate, [], False
        self._last = LiveOutput(np.zeros((64, 64, 3), np.uint8))
        self.t0 = time.monotonic()
        import threading

        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        from core.reenact.live import LiveOutput

        k = 0
        while not self._stop:
            time.sleep(1.0 / self.rate)
            grabbed = time.monotonic()
            img = np.full((64, 64, 3), k % 256, np.uint8)
            time.sleep(0.05)  # the pipeline's latency: the output comes after the grab
            self._last = LiveOutput(img, img, k, grabbed, True)
            for fn in list(self._listeners):
                fn(self._last)
            k += 1

    def latest_output(self):
        return self._last

    def add_listener(self, fn):
        self._listeners.append(fn)

    def remove_listener(self, fn):
        self._listeners.remove(fn)


def test_recorder_keeps_the_camera_timeline_and_records_a_microphone(tmp_path):
    """A slow pipeline (8 results a second) recorded at 25 fps for ~2 s: the file is as long as
    the recording, its frames follow the grab times (each result repeated ~3 times, in order),
    and the microphone (here ffmpeg's test tone standing for it) is in the file."""
    pipe = FakePipe(rate=8.0)
    out = tmp_path / "mic.mp4"
    rec = Recorder(pipe, VideoWriter(out, fps=25.0), 25.0, sound="mic",
                   mic_input=["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
    rec.start()
    t0 = time.monotonic()
    time.sleep(2.0)
    rec.stop()
    recorded = time.monotonic() - t0
    rec.join(60)
    pipe._stop = True
    assert rec.error is None, rec.error
    assert abs(rec.written / 25.0 - recorded) < 0.1
    info = probe(out)
    assert info["has_audio"] and rec.audio_kept and abs(info["duration"] - recorded) < 0.2, info
    with open_source(out) as src:
        values = [int(src.read(i)[32, 32, 0]) for i in range(src.frame_count)]
    steps = np.diff(values)
    assert (steps >= 0).all() or (steps[steps < 0] < -200).all()   # in grab order (wrapping at 256 only)
    assert 4 <= len(set(values)) <= 30
