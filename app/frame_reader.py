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
import time

from PySide6.QtCore import Signal

from app.newest_request import NewestRequestThread

log = logging.getLogger(__name__)

_LATEST = -1


class FrameReader(NewestRequestThread):
    """Reader thread for one source. ``frame_ready(index, frame)``, ``read_failed(index, message)``.

    For live sources ``index`` is the source's own frame counter. ``last_decode_ms`` holds the duration of the
    most recent read (for the status bar and benchmarks).
    """

    frame_ready = Signal(int, object)
    read_failed = Signal(int, str)

    def __init__(self, source, parent=None):
        super().__init__(parent)
        self.source = source
        self.last_decode_ms = 0.0
        self.setObjectName("FrameReader")

    def request(self, index: int) -> None:
        """Decode frame ``index`` (replaces any request not yet started)."""
        self.post(int(index))

    def request_latest(self) -> None:
        """Fetch the newest frame of a live source."""
        self.post(_LATEST)

    def handle(self, index: int) -> None:
        t0 = time.perf_counter()
        try:
            if index == _LATEST:
                latest = self.source.read_latest()  # (index, frame), or None before the first frame
                if latest is None:
                    return
                index, frame = latest
            else:
                frame = self.source.read(index)
        except Exception as e:  # noqa: BLE001 (a bad frame must not kill the reader)
            log.info("reading frame %d failed: %s", index, e)
            self.read_failed.emit(index, str(e))
            return
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        self.frame_ready.emit(index, frame)
