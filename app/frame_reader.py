"""FrameReader: decodes the frames the GUI asks for on a thread of its own.

The GUI thread never decodes during playback or scrubbing. It calls
:meth:`FrameReader.request` (a frame index) or :meth:`FrameReader.request_latest`
(the newest frame of a live source) as often as it likes; the reader keeps only
the newest request, so a fast scrub or a slow decoder drops stale frames instead
of queueing them. Each decoded frame arrives on the GUI thread as
``frame_ready(index, frame)`` with ``frame`` an (H, W, 3) uint8 RGB array.

One reader serves one VideoSource and is the only code that reads from it while
it runs (sources are not assumed to be thread-safe).
"""
from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import QThread, Signal

log = logging.getLogger(__name__)

_LATEST = -1


class FrameReader(QThread):
    """Reader thread for one source. ``frame_ready(index, frame)``, ``read_failed(index, message)``.

    For live sources ``index`` is the source's own frame counter. ``last_decode_ms`` holds the duration of the
    most recent read (for the status bar and benchmarks).
    """

    frame_ready = Signal(int, object)
    read_failed = Signal(int, str)

    def __init__(self, source, parent=None):
        super().__init__(parent)
        self.source = source
        self._cond = threading.Condition()
        self._wanted: int | None = None
        self._stop = False
        self._busy = False
        self.last_decode_ms = 0.0
        self.setObjectName("FrameReader")

    def request(self, index: int) -> None:
        """Decode frame ``index`` (replaces any request not yet started)."""
        with self._cond:
            self._wanted = int(index)
            self._cond.notify()

    def request_latest(self) -> None:
        """Fetch the newest frame of a live source."""
        with self._cond:
            self._wanted = _LATEST
            self._cond.notify()

    @property
    def idle(self) -> bool:
        """True when nothing is being decoded and nothing is waiting."""
        with self._cond:
            return not self._busy and self._wanted is None

    def stop(self, timeout_ms: int = 5000) -> None:
        """End the thread (after the read in progress) and wait for it."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)

    def run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                index, self._wanted = self._wanted, None
                self._busy = True
            t0 = time.perf_counter()
            try:
                if index == _LATEST:
                    latest = self.source.read_latest()  # (index, frame), or None before the first frame
                    if latest is None:
                        with self._cond:
                            self._busy = False
                        continue
                    index, frame = latest
                else:
                    frame = self.source.read(index)
            except Exception as e:  # noqa: BLE001 (a bad frame must not kill the reader)
                log.info("reading frame %d failed: %s", index, e)
                with self._cond:
                    self._busy = False
                self.read_failed.emit(index, str(e))
                continue
            self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
            with self._cond:
                self._busy = False
            self.frame_ready.emit(index, frame)
