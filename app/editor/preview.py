"""The edited preview: edited frames rendered off the GUI thread, shown edited, original or
side by side.

- :class:`PreviewWorker` renders edited frames on its own thread (newest request wins);
- :class:`EditedPreview` decides what the video view shows for the current frame (the
  original, the edited frame, or both side by side), asks the worker for an edited frame
  when it needs one (at half resolution while a slider is dragged, full resolution on
  release) and measures the latency from request to screen.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.newest_request import NewestRequestThread
from core.edits import EditedFrameRenderer

log = logging.getLogger(__name__)

COMPARE_MODES = ("edited", "original", "side_by_side")
#: resolution of the edited preview while a slider is dragged (full resolution on release):
#: the warp's cost goes with the pixel count, so a drag stays well within 100 ms per frame
DRAG_PREVIEW_SCALE = 0.5


class PreviewWorker(NewestRequestThread):
    """Renders edited frames off the GUI thread; only the newest request is rendered.

    ``request(index, frame, expression, scale)``; result ``ready(index, image, ms, serial)``
    where ``serial`` is the request's number (the app shows a result only if it is still
    wanted). ``scale`` < 1 asks for a fast reduced-resolution render (while dragging).
    """

    ready = Signal(int, object, float, int)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setObjectName("EditPreview")
        self._renderer = None
        self._renderer_key = None
        self._renderer_model: str | None = None   # a neural renderer's folder (None: the warp)
        self._built_for = None                     # (rec, renderer_model) the renderer was made for
        self._serial = 0
        self._lock = threading.Lock()  # guards _renderer_key and _serial across threads

    def set_reconstruction(self, model, rec) -> None:
        with self._lock:
            self._renderer_key = (model, rec)
            self._renderer = None  # rebuilt on the worker thread

    def set_renderer_model(self, folder: str | None) -> None:
        """Render edits with the neural renderer in ``folder`` (loaded on the worker thread), or
        with the warp (None). A renderer that fails to load is reported once (``failed``) and
        the warp renders."""
        with self._lock:
            self._renderer_model = folder

    def request(self, index: int, frame: np.ndarray, expression: np.ndarray, scale: float = 1.0) -> int:
        with self._lock:
            self._serial += 1
            serial = self._serial
        self.post((int(index), frame, np.asarray(expression, np.float64).copy(), float(scale), serial))
        return serial

    def handle(self, request) -> None:
        index, frame, expr, scale, serial = request
        with self._lock:
            key, folder = self._renderer_key, self._renderer_model
        if key is None:
            return
        try:
            t0 = time.perf_counter()
            if self._renderer is None or self._built_for != (key[1], folder):
                factory = None
                if folder:
                    try:
                        from core.neural.renderer import renderer_factory

                        factory = renderer_factory(folder, key[0])
                    except Exception as e:  # noqa: BLE001 (shown once; the warp renders)
                        log.warning("neural renderer %s not loaded: %s", folder, e)
                        self.failed.emit(f"The neural renderer could not be loaded ({e}); edits render with "
                                         "the warp.")
                        with self._lock:
                            if self._renderer_model == folder:
                                self._renderer_model = folder = None
                self._renderer = EditedFrameRenderer(key[0], key[1], renderer_factory=factory)
                self._built_for = (key[1], folder)
            out = self._renderer.render(frame, index, expr, scale)
            self.ready.emit(index, out, (time.perf_counter() - t0) * 1000.0, serial)
        except Exception as e:  # noqa: BLE001 (a bad frame must not kill the preview)
            log.exception("edit preview of frame %d failed", index)
            self.failed.emit(f"Preview of frame {index} failed: {type(e).__name__}: {e}")


class EditedPreview(QObject):
    """What the video view shows for the current frame (see the module docstring).

    ``win``: the main window (its session and video view); ``doc``: the EditorDocument.
    Signal ``shown(index, latency_ms)``: an edited frame reached the view.
    """

    shown = Signal(int, float)

    def __init__(self, win, doc, compare_mode: str = "edited", parent: QObject | None = None):
        super().__init__(parent)
        self.win, self.doc = win, doc
        self.worker = PreviewWorker(self)
        self.worker.start()
        self.worker.ready.connect(self._on_ready)
        self.worker.failed.connect(lambda m: win.statusBar().showMessage(m, 8000))
        self.compare_mode = compare_mode if compare_mode in COMPARE_MODES else "edited"
        self.dragging = False  # a slider is held: previews at DRAG_PREVIEW_SCALE
        self.last_full = True  # the last shown preview was full resolution
        self.latencies_ms: list[float] = []  # request -> on screen, the newest 1000
        self.shown_count = 0  # edited frames put on screen so far
        self._latest_serial = 0
        self._request_t: dict[int, tuple[float, bool]] = {}  # serial -> (time, full resolution)
        #: the last edited frame: (index, image, full resolution)
        self._edited: tuple[int, np.ndarray, bool] | None = None

    def set_reconstruction(self, model, rec) -> None:
        self._edited = None
        self.worker.set_reconstruction(model, rec)

    def set_renderer_model(self, folder: str | None) -> None:
        """Edited frames from the neural renderer in ``folder`` (None: the warp)."""
        self._edited = None
        self.worker.set_renderer_model(folder)

    def invalidate(self) -> None:
        """The edited frame on hand is stale (another frame, or the edits changed)."""
        self._edited = None

    def _in_rec(self) -> bool:
        d = self.doc
        return d.has_reconstruction and 0 <= self.win.session.index < d.num_frames

    def show(self) -> None:
        """Show the original, edited or side-by-side frame; request a render if needed."""
        s = self.win.session
        frame, index = s.frame, s.index
        if frame is None:
            return
        if self.compare_mode == "original" or not self._in_rec() or self.doc.edit_is_zero_at(index):
            edited = frame
        elif self._edited is not None and self._edited[0] == index and (self._edited[2] or self.dragging):
            edited = self._edited[1]  # (a reduced-resolution frame only while dragging)
        else:
            self._request()
            return  # keep what is shown until the render arrives
        view = self.win.view
        if self.compare_mode == "side_by_side":
            view.set_frame(np.concatenate([frame, edited], axis=1))
            captions = [(0, "Original"), (frame.shape[1], "Edited")]
        elif self.compare_mode == "original":
            view.set_frame(frame)
            captions = [(0, "Original")] if self._in_rec() else []
        else:
            view.set_frame(edited)
            captions = [(0, "Edited")] if edited is not frame else []
        view.set_captions(captions)

    def _request(self) -> None:
        s = self.win.session
        if s.frame is None or not self._in_rec():
            return
        full = not self.dragging
        serial = self.worker.request(s.index, s.frame, self.doc.edited_expressions()[s.index],
                                     1.0 if full else DRAG_PREVIEW_SCALE)
        self._latest_serial = serial
        self._request_t[serial] = (time.perf_counter(), full)

    def _on_ready(self, index: int, image, ms: float, serial: int) -> None:
        t, full = self._request_t.pop(serial, (None, True))
        for k in [k for k in self._request_t if k < serial]:
            self._request_t.pop(k, None)  # superseded requests never come back
        if serial != self._latest_serial or index != self.win.session.index:
            return
        self._edited = (index, image, full)
        self.last_full = full
        self.show()
        latency = (time.perf_counter() - t) * 1000.0 if t is not None else ms
        self.latencies_ms.append(latency)
        del self.latencies_ms[:-1000]
        self.shown_count += 1
        self.shown.emit(index, latency)

    def stop(self) -> None:
        self.worker.stop()
