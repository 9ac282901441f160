"""NewestRequestThread: a worker thread that only ever serves the newest request.

The GUI posts requests as often as it likes (scrubbing, dragging a slider); a request
not yet started is replaced by the next one, so a slow worker drops stale work instead
of queueing it. Subclasses implement :meth:`handle`, which runs on the worker thread.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread


class NewestRequestThread(QThread):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._wanted = None
        self._stop = False
        self._busy = False

    def post(self, request) -> None:
        """Queue ``request`` (not None), replacing any request not yet started."""
        with self._cond:
            self._wanted = request
            self._cond.notify()

    @property
    def idle(self) -> bool:
        """True when nothing is being handled and nothing is waiting."""
        with self._cond:
            return not self._busy and self._wanted is None

    def stop(self, timeout_ms: int = 5000) -> None:
        """End the thread (after the request in progress) and wait for it."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)

    def handle(self, request) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                request, self._wanted = self._wanted, None
                self._busy = True
            try:
                self.handle(request)
            finally:
                with self._cond:
                    self._busy = False
