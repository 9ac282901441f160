"""NewestRequestThread: a worker thread that only ever serves the newest request.

The GUI posts requests as often as it likes (scrubbing, dragging a slider); a request
not yet started is replaced by the next one, so a slow worker drops stale work instead
of queueing it. Subclasses implement :meth:`handle`, which runs on the worker thread.
"""
from __future__ import annotations

from PySide6.QtCore import QThread

from core.jobs import NewestSlot


class NewestRequestThread(QThread):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._slot = NewestSlot()

    def post(self, request) -> None:
        """Queue ``request`` (not None), replacing any request not yet started."""
        self._slot.post(request)

    @property
    def idle(self) -> bool:
        """True when nothing is being handled and nothing is waiting."""
        return self._slot.idle

    def stop(self, timeout_ms: int = 5000) -> None:
        """End the thread (after the request in progress) and wait for it."""
        self._slot.close()
        if self.isRunning():
            self.wait(timeout_ms)

    def handle(self, request) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while (request := self._slot.take()) is not None:
            try:
                self.handle(request)
            finally:
                self._slot.done()
