"""Progress reporting and cancellation for long jobs, shared by every core function.

Core code never touches Qt: a long job takes an optional ``progress`` callable and
an optional ``CancelToken``. The GUI's workers wrap these in Qt signals; the command
line prints a progress bar. This is the one event mechanism of ``core/``.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

#: ``progress(done, total, message)``; ``total`` may be 0 when unknown.
ProgressFn = Callable[[int, int, str], None]


class Cancelled(Exception):
    """Raised inside a job when its CancelToken was cancelled."""


@dataclass
class CancelToken:
    """Thread-safe flag a GUI sets and a worker polls between frames.

    ``parent``: a token that cancels this one too (a helper thread's own stop flag that the
    whole job's cancel also reaches: ``CancelToken(parent=cancel)``; None: no parent).
    """

    _event: threading.Event = field(default_factory=threading.Event)
    parent: Optional["CancelToken"] = None

    def cancel(self) -> None:
        """Ask the job (and every token with this one as its parent) to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self.parent is not None and self.parent.cancelled)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when the token (or its parent) was cancelled."""
        if self.cancelled:
            raise Cancelled()


def check(cancel: Optional[CancelToken]) -> None:
    """Raise Cancelled if ``cancel`` is set (``None`` means not cancellable)."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def report(progress: Optional[ProgressFn], done: int, total: int, message: str = "") -> None:
    """Call ``progress(done, total, message)`` unless it is None."""
    if progress is not None:
        progress(done, total, message)


def sub_progress(progress: Optional[ProgressFn], start: float, span: float, total: int,
                 stage: str = "") -> Optional[ProgressFn]:
    """A progress callback for one stage of a longer job: the stage's own ``(done, sub_total,
    message)`` lands on ``[start, start + span]`` of the job's ``total``.

    The message says where the job is: the stage's name, then the step the stage reported
    (when it names one), e.g. ``"fitting: camera initialisation"``; a stage that reports
    only its own progress (no message, or its own name) gets its real counts:
    ``"tracking 120/587"``. Stages nest (a stage's callback may be split again, every level
    adds its name: ``"source: tracking 120/587"``); ``stage=""`` rescales without naming.
    None when ``progress`` is None.
    """
    if progress is None:
        return None

    def fn(done: int, sub_total: int, message: str = "") -> None:
        frac = min(max(done / sub_total, 0.0), 1.0) if sub_total > 0 else 0.0
        if message and message != stage:
            text = f"{stage}: {message}" if stage else message
        else:
            text = f"{stage} {int(done)}/{int(sub_total)}" if sub_total > 0 else stage
        progress(int(round(start + frac * span)), total, text)

    return fn


class ConsoleProgress:
    """A progress bar on stderr for the command line; silent for short jobs.

    Redraws at most 5 times a second and only once the job has run for 1 s, so
    quick commands print nothing but their summary.
    """

    def __init__(self, label: str, stream=None, min_seconds: float = 1.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.min_seconds = min_seconds
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int, message: str = "") -> None:
        """Report progress (a ``ProgressFn``): redraw the bar when due."""
        now = time.perf_counter()
        if now - self.start < self.min_seconds or now - self._last < 0.2:
            return
        self._last = now
        self._shown = True
        if total > 0:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 30)
            text = f"\r{self.label} [{bar:<30}] {done}/{total} {message}"
        else:
            text = f"\r{self.label} {done} {message}"
        self.stream.write(text[:120].ljust(80))
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (when one was drawn)."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


class NewestSlot:
    """A one-item mailbox between a producer and a worker thread that keeps only the
    newest item: ``post`` replaces an item not yet taken, so a slow worker drops stale
    requests (scrubbing, slider drags, live camera frames) instead of queueing them.

    The worker loops on ``take()``, which blocks until an item arrives and returns None
    once ``close()`` was called (or, with a ``timeout``, when none came in time, so a loop
    can check its own stop flag); ``done()`` marks the taken item finished (for ``idle``).
    ``dropped`` counts the items replaced before they were taken. The one newest-item
    mailbox of the program: the viewport's render thread, the app's newest-request workers
    and the live reenactment's stages use it.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self._busy = False
        self.dropped = 0

    def post(self, item) -> None:
        """Offer ``item`` (not None), replacing any item not yet taken."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: Optional[float] = None):
        """The newest item (waiting for one, at most ``timeout`` seconds when given), or None
        after ``close()`` or when the wait timed out."""
        with self._cond:
            if timeout is None:
                while self._item is None and not self._closed:
                    self._cond.wait()
            elif self._item is None and not self._closed:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            if self._closed or self._item is None:
                return None
            item, self._item = self._item, None
            self._busy = True
            return item

    def done(self) -> None:
        """Mark the item taken last as finished (see ``idle``)."""
        with self._cond:
            self._busy = False

    @property
    def idle(self) -> bool:
        """Nothing taken and unfinished, nothing waiting."""
        with self._cond:
            return not self._busy and self._item is None

    def close(self) -> None:
        """Make ``take()`` return None (after the item in progress)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
