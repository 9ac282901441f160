"""MediaSession: the open media, the current frame, playback, and the tracking result.

This is the state the main window and (later) the docked panels share. It owns
the VideoSource and its :class:`~app.frame_reader.FrameReader`; all decoding
happens on the reader thread. Playback runs on a wall clock: each tick asks for
the frame that is due now, and only when the reader has delivered the previous
one, so a slow decoder drops frames instead of lagging behind.

Signals (all on the GUI thread):
    media_changed()              a new source is open (frame 0 follows)
    frame_shown(index, frame)    frame ``index`` (H, W, 3) uint8 RGB is now current
    playing_changed(bool)
    track_changed()              ``track_result`` was replaced (or cleared)
    read_error(message)          a frame could not be decoded (the previous one stays)
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.frame_reader import FrameReader
from core.errors import InputError
from core.tracking.result import TrackResult

DEFAULT_PLAYBACK_FPS = 25.0


class MediaSession(QObject):
    media_changed = Signal()
    frame_shown = Signal(int, object)
    playing_changed = Signal(bool)
    track_changed = Signal()
    read_error = Signal(str)

    TICK_MS = 10

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.source = None
        self.path: str | None = None
        self.reader: FrameReader | None = None
        self.index = 0                      # frame currently shown
        self.frame: np.ndarray | None = None
        self.track_result: TrackResult | None = None
        self._requested = 0                 # newest index asked of the reader
        self._playing = False
        self.loop = False                   # playback restarts at frame 0 at the end
        self._play_t0 = 0.0
        self._play_i0 = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(self.TICK_MS)
        self._timer.timeout.connect(self._tick)

    # -- what is open -----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.source is not None

    @property
    def is_live(self) -> bool:
        return bool(self.source is not None and self.source.is_live)

    @property
    def frame_count(self) -> int:
        """Frames in the source; 0 when nothing is open, -1 for a live source."""
        return 0 if self.source is None else int(self.source.frame_count)

    @property
    def is_still(self) -> bool:
        """A single image file (tracked at once on open)."""
        return self.source is not None and getattr(self.source, "kind", "") == "image"

    @property
    def fps(self) -> float:
        fps = float(getattr(self.source, "fps", 0.0) or 0.0) if self.source is not None else 0.0
        return fps if fps > 0 else DEFAULT_PLAYBACK_FPS

    @property
    def display_name(self) -> str:
        if self.path is None:
            return ""
        return self.path if self.is_live else Path(self.path).name

    # -- opening ----------------------------------------------------------------------
    def open(self, path: str) -> None:
        """Open ``path`` (file, folder, ``webcam:N``) and show its first frame.

        Raises InputError (with the file and the cause) when it cannot be opened or its
        first frame cannot be decoded; the media open before stays open then.
        """
        src, first = self.prepare(path)
        self.adopt(path, src, first)

    @classmethod
    def prepare(cls, path: str):
        """The slow half of :meth:`open` (probe, decoder, first frame), Qt-free: it may run
        on a worker thread. Returns (source, first frame) for :meth:`adopt`."""
        from core.video import open_source

        src = open_source(path)
        try:
            first = cls._first_frame(src)
        except InputError:
            src.close()
            raise
        except Exception as e:  # noqa: BLE001 (turn decoder failures into a user message)
            src.close()
            raise InputError(f"{path}: the first frame cannot be decoded ({type(e).__name__}: {e})") from e
        if first is None:
            src.close()
            raise InputError(f"{path}: no frame could be read")
        return src, first

    def adopt(self, path: str, src, first) -> None:
        """Make a prepared source (:meth:`prepare`) the open media (GUI thread; fast)."""
        self.close()
        self.source = src
        self.path = str(path)
        self.track_result = None
        self.reader = FrameReader(src, self)
        self.reader.frame_ready.connect(self._on_frame_ready)
        self.reader.read_failed.connect(self._on_read_failed)
        self.reader.start()
        self._requested = 0
        self.media_changed.emit()
        self.track_changed.emit()
        self._show(0, first)
        if src.is_live:
            self.play()

    @staticmethod
    def _first_frame(src):
        if src.is_live:
            return src.read_latest()[1]  # waits (a few seconds at most) for the camera's first frame
        return src.read(0)

    def close(self) -> None:
        """Stop playback and the reader, and close the source (no-op when nothing is open)."""
        self.pause()
        src, reader = self.source, self.reader
        self.source, self.reader = None, None
        if reader is not None:
            reader.frame_ready.disconnect(self._on_frame_ready)
            reader.read_failed.disconnect(self._on_read_failed)
        # A live reader may sit in read_latest() waiting for the next frame: closing the
        # source first ends that wait. A file source must not close under a running read.
        if src is not None and src.is_live:
            src.close()
        if reader is not None:
            reader.stop()
            reader.deleteLater()
        if src is not None and not src.is_live:
            src.close()
        self.path = None
        self.frame = None
        self.index = 0

    # -- navigation -------------------------------------------------------------------
    def seek(self, index: int) -> None:
        """Show frame ``index`` (clamped to the clip); decoding happens on the reader thread."""
        if self.reader is None or self.is_live:
            return
        index = int(min(max(index, 0), self.frame_count - 1))
        self._requested = index
        if self._playing:
            self._play_t0, self._play_i0 = time.perf_counter(), index
        self.reader.request(index)

    def step(self, delta: int) -> None:
        """Move ``delta`` frames from the last requested frame (so fast key repeats add up)."""
        self.pause()
        self.seek(self._requested + delta)

    def seek_start(self) -> None:
        self.pause()
        self.seek(0)

    def seek_end(self) -> None:
        self.pause()
        self.seek(self.frame_count - 1)

    # -- playback ---------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        if self.reader is None or self._playing or (self.frame_count <= 1 and not self.is_live):
            return
        start = self._requested
        if not self.is_live and start >= self.frame_count - 1:
            start = 0  # play from the top after reaching the end, like any player
            self.seek(0)
        self._playing = True
        self._play_t0, self._play_i0 = time.perf_counter(), start
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._timer.stop()
        self.playing_changed.emit(False)

    def toggle_play(self) -> None:
        self.pause() if self._playing else self.play()

    def _tick(self) -> None:
        if self.reader is None:
            self.pause()
            return
        if not self.reader.idle:
            return  # still decoding: skip this tick rather than pile up requests
        if self.is_live:
            self.reader.request_latest()
            return
        due = self._play_i0 + int((time.perf_counter() - self._play_t0) * self.fps)
        if due >= self.frame_count and self.loop and self.frame_count > 1:
            self._play_i0, self._play_t0 = 0, time.perf_counter()
            due = 0
        if due >= self.frame_count:
            due = self.frame_count - 1
        if due != self._requested:
            self._requested = due
            self.reader.request(due)
        elif due == self.frame_count - 1 and self.index == due and not self.loop:
            self.pause()

    # -- frames from the reader -------------------------------------------------------
    def _on_frame_ready(self, index: int, frame: np.ndarray) -> None:
        self._show(index, frame)

    def _on_read_failed(self, index: int, message: str) -> None:
        self.pause()
        self.read_error.emit(message)

    def _show(self, index: int, frame: np.ndarray) -> None:
        self.index = index
        self.frame = frame
        self.frame_shown.emit(index, frame)

    # -- tracking ---------------------------------------------------------------------
    def set_track_result(self, result: TrackResult | None) -> None:
        self.track_result = result
        self.track_changed.emit()

    def landmarks_at(self, index: int) -> tuple[np.ndarray | None, bool]:
        """(landmarks (478, 3) pixels or None, bridged) for frame ``index`` of the track result.

        None when there is no result, the frame is outside it, or it is not valid.
        """
        r = self.track_result
        if r is None or self.is_live or not (0 <= index < r.num_frames) or not bool(r.valid[index]):
            return None, False
        return r.landmarks[index], bool(r.bridged[index])
