"""NewestRequestThread: a worker thread that only ever serves the newest request.

The GUI posts requests as often as it likes (scrubbing, dragging a slider); a request
not yet started is replaced by the next one, so a slow worker drops stale work instead
of queueing it. Subclasses implement :meth:`handle`, which runs on the worker thread.

Tests may set ``synchronous = True`` (on the class or an instance): ``post`` then handles
the request at once on the calling thread. ``handled_off_gui_thread`` is False once any
request was handled on the GUI thread.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from core.jobs import NewestSlot


class NewestRequestThread(QThread):
    synchronous = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self._slot = NewestSlot()
        self.handled_off_gui_thread = True

    def post(self, request) -> None:
        """Queue ``request`` (not None), replacing any request not yet started."""
        if self.synchronous:
            self._handle(request)
            return
        self._slot.post(request)

    def _handle(self, request) -> None:
        if threading.current_thread() is threading.main_thread():
            self.handled_off_gui_thread = False
        self.handle(request)

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
                self._handle(request)
            finally:
                self._slot.done()
