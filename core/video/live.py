"""Live frame sources: a webcam, and a simulated camera that plays a video file in real time.

A live source captures on a background thread and keeps only the newest frame: a
consumer slower than the camera skips the frames it had no time for (the index it
gets jumps), a fast consumer gets every frame. ``read_latest()`` blocks until a frame
newer than the last one returned exists, so a loop never processes a frame twice:

    with open_source("simcam:clip.mp4", loop=False) as cam:
        for index, frame in cam.frames():   # stops when the clip ends
            ...

Indices count the camera's frames since it started (0, 1, 2, ...; across loops of a
simulated camera). ``dropped`` counts the indices a consumer never received (frames it
was too slow for, and frames the capture itself skipped); ``frames_published`` counts the
frames the capture thread delivered.
"""
from __future__ import annotations

import glob
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from core.errors import InputError, detached
from core.video.images import check_frame_size, to_rgb_uint8
from core.video.source import NOMINAL_FPS, VideoFileSource, VideoSource


class StreamEnded(EOFError):
    """A live source has no more frames (a simulated camera reached the end of its clip)."""


class LiveSource(VideoSource):
    """Base of live sources: a capture thread publishing the newest frame.

    Subclasses implement ``_produce()``, which calls ``self._publish(frame)`` for every
    captured frame until ``self._stop`` is set, and returns when the stream ends.
    """

    is_live = True
    frame_count = -1
    #: Seconds ``read_latest`` waits for a new frame before declaring the source stalled.
    TIMEOUT = 5.0

    def _start(self) -> None:
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Optional[np.ndarray] = None
        self._latest_index = -1
        self._returned_index = -1
        self._ended = False
        self._error: Optional[BaseException] = None
        self.dropped = 0
        self.frames_published = 0
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as e:  # noqa: BLE001 (handed to the consumer by read_latest)
            self._error = detached(e)  # (its frames would hold the source: a reference cycle)
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _produce(self) -> None:
        raise NotImplementedError

    def _publish(self, frame: np.ndarray, index: Optional[int] = None) -> None:
        with self._cond:
            self._latest_index = self._latest_index + 1 if index is None else index
            self._latest = frame
            self.frames_published += 1
            self._cond.notify_all()

    def read(self, i: int) -> np.ndarray:
        """Not available on a live source (no random access): TypeError."""
        raise TypeError(f"{self.path}: a live source has no random access; use read_latest() or frames()")

    def read_latest(self, timeout: Optional[float] = None) -> tuple[int, np.ndarray]:
        """(index, frame) of the newest frame, waiting for one newer than the last returned.

        Raises StreamEnded when the source has ended, InputError when capture failed or no
        frame arrived within ``timeout`` seconds (default ``TIMEOUT``).
        """
        timeout = self.TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest_index <= self._returned_index:
                if self._ended:
                    if self._error is not None and not isinstance(self._error, StreamEnded):
                        if isinstance(self._error, InputError):
                            raise self._error
                        raise InputError(f"{self.path}: capture failed ({self._error})") from self._error
                    raise StreamEnded(f"{self.path}: the stream has ended")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InputError(f"{self.path}: no new frame for {timeout:.1f} s; the camera "
                                     f"stalled or was disconnected")
                self._cond.wait(left)
            index, frame = self._latest_index, self._latest
            self.dropped += index - self._returned_index - 1
            self._returned_index = index
        return index, frame

    def frames(self, start: int = 0, stop: Optional[int] = None, step: int = 1
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the newest frames as they come, until the stream ends or index >= stop.

        ``start`` and ``step`` do not apply to a live stream and must stay at their defaults.
        """
        if start != 0 or step != 1:
            raise ValueError("a live source cannot start at a given frame or step over frames")
        while True:
            try:
                index, frame = self.read_latest()
            except StreamEnded:
                return
            if stop is not None and index >= stop:
                return
            yield index, frame

    @property
    def ended(self) -> bool:
        return self._ended

    def close(self) -> None:
        """Stop the capture thread and release the device."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


class SimulatedCamera(LiveSource):
    """A video file played back in real time as if it were a webcam.

    ``loop``: start over at the end (default) or end the stream. ``speed``: playback
    rate relative to the file's frame rate (2.0 plays twice as fast). The camera keeps
    its own clock: if decoding falls behind, it skips source frames instead of slowing
    down, as a real camera would. ``source_index`` is the file frame of the latest frame.
    """

    kind = "simcam"

    def __init__(self, path: str | Path, loop: bool = True, speed: float = 1.0):
        self._file = VideoFileSource(path)
        self.path = self._file.path
        self.fps = self._file.fps * float(speed)
        self.loop = bool(loop)
        self.rotation = self._file.rotation
        self.pixel_aspect = self._file.pixel_aspect
        self._size = self._file.size
        self.source_index = -1
        self._start()

    def _produce(self) -> None:
        src, period = self._file, 1.0 / self.fps
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            due = t0 + k * period
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            # Behind schedule by more than a frame: jump to the frame due now.
            k = max(k, int((time.monotonic() - t0) / period))
            n = src.frame_count
            if k >= n and not self.loop:
                return
            j = k % n
            try:
                frame = src.read(j)
            except InputError:
                if not src.truncated:
                    raise
                n = src.frame_count  # a truncated clip: loop or end at its real end
                if k >= n and not self.loop:
                    return
                j = k % n
                frame = src.read(j)
            self.source_index = j
            self._publish(frame, index=k)
            k += 1

    def close(self) -> None:
        """Stop playing and close the clip."""
        super().close()
        self._file.close()


def _video_devices() -> list[str]:
    return sorted(glob.glob("/dev/video*"))


class WebcamSource(LiveSource):
    """Camera number ``index`` through OpenCV (V4L2 on Linux), captured on a thread."""

    kind = "webcam"

    def __init__(self, index: int = 0, width: Optional[int] = None, height: Optional[int] = None):
        self.index = int(index)
        self.path = f"webcam:{self.index}"
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            devices = _video_devices()
            found = ", ".join(devices) if devices else "no /dev/video* devices on this machine"
            raise InputError(f"{self.path}: no camera at index {self.index} ({found}); check that "
                             f"it is plugged in and not used by another program, or open a "
                             f"video file instead")
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        first = None
        for _ in range(30):  # some cameras deliver a few empty frames while starting
            ok, bgr = cap.read()
            if ok and bgr is not None:
                first = bgr
                break
            time.sleep(0.05)
        if first is None:
            cap.release()
            raise InputError(f"{self.path}: the camera opened but delivers no frames; it may be "
                             f"in use by another program")
        check_frame_size(first.shape[0], first.shape[1], self.path)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 240.0 else NOMINAL_FPS
        self._size = first.shape[:2]
        self._cap = cap
        self._first = to_rgb_uint8(first, "BGR")
        self._start()

    def _produce(self) -> None:
        self._publish(self._first)
        failures = 0
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                failures += 1
                if failures > 50:
                    raise InputError(f"{self.path}: the camera stopped delivering frames "
                                     f"(disconnected?)")
                time.sleep(0.02)
                continue
            failures = 0
            self._publish(to_rgb_uint8(bgr, "BGR"))

    def close(self) -> None:
        """Stop capturing and release the camera."""
        super().close()
        self._cap.release()
