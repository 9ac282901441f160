"""A live reenactment session without any GUI: the target prepared for the preview, the
live source and the running :class:`~core.reenact.live.LivePipeline`, and the recorder.

The app's reenactment panel (app/reenact_controller.py) only wires these to widgets; a
script or the live soak bench uses them directly:

    target = prepare_target("photo.jpg")
    live = open_live("simcam:clip.mp4", target, TransferSettings())
    ... live.pipe.latest() ...
    live.close()

Everything here runs off the GUI thread (progress and cancel as in core/jobs.py); the
pipeline and the recorder run their own threads.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.jobs import CancelToken, ProgressFn, check, report
from core.model.registry import load_model
from core.reenact.faces import fit_face
from core.reenact.live import LivePipeline, fit_photo_to_size
from core.reenact.pipeline import ReenactmentPipeline
from core.tracking.tracker import track_image
from core.video import open_source

#: longest side of a target photo in the live preview (the warp's cost grows with the pixels;
#: the offline export uses the full-size target)
LIVE_MAX_SIDE = 512
MODEL_SPEC = "builtin"


@dataclass
class LiveTarget:
    """A target ready for the live preview.

    path: the file the user chose; kind: "photo" or "video"; frame (H, W, 3) uint8 RGB: the
    picture the preview warps (a photo resized to at most LIVE_MAX_SIDE, a video's first
    frame); face: its core.reenact FittedFace (pixel quantities in ``frame``'s coordinates);
    model: the face model it was fitted with.
    """

    path: str
    kind: str
    frame: np.ndarray
    face: object
    model: object

    @property
    def name(self) -> str:
        return Path(self.path).name


def preview_size(h: int, w: int, max_side: int = LIVE_MAX_SIDE) -> tuple[int, int]:
    """(H, W) of a photo in the preview: at most ``max_side`` on the long side, even sides."""
    k = min(1.0, max_side / max(h, w))
    return max(2, int(round(h * k / 2)) * 2), max(2, int(round(w * k / 2)) * 2)


def prepare_target(path: str, model_spec: str = MODEL_SPEC, max_side: int = LIVE_MAX_SIDE,
                   progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LiveTarget:
    """Load the model, then track and fit ``path`` (a photo or a video) for the live preview.

    Raises InputError (unreadable file), NoFaceError (no face, naming the file), Cancelled.
    """
    report(progress, 0, 0, "loading the face model")
    model = load_model(model_spec)
    check(cancel)
    with open_source(path) as src:
        if src.is_live:
            raise InputError(f"{path}: a camera cannot be the target; choose a photo or a video")
        kind = "photo" if src.frame_count == 1 else "video"
        first = src.read(0)
    if kind == "photo":
        report(progress, 0, 0, "tracking the face")
        frame = fit_photo_to_size(first, preview_size(*first.shape[:2], max_side))
        face = fit_face(track_image(frame, source=str(path)), model, name=str(path), cancel=cancel)
    else:
        # the whole clip: one identity for the person; the preview drives its first frame
        face = ReenactmentPipeline(model, model_spec=model_spec).prepare(str(path), progress=progress,
                                                                         cancel=cancel)
        frame = first
    return LiveTarget(str(path), kind, frame, face, model)


def live_source_spec(spec: str) -> str:
    """A plain video file becomes a simulated camera (played in real time); others stay."""
    s = str(spec)
    if s.lower().startswith(("webcam:", "simcam:")):
        return s
    return f"simcam:{s}"


def export_source_file(spec: str) -> str:
    """The video file behind a source spec, for the offline export (a webcam has none)."""
    s = str(spec).strip()
    if s.lower().startswith("webcam:"):
        raise InputError(f"{s}: a live camera cannot be exported offline; use Record for the live "
                         "result, or choose a video file as the source")
    if s.lower().startswith("simcam:"):
        s = s.split(":", 1)[1]
    return s


class TappedSource:
    """A live source that remembers the newest frame it handed out (the source view shows it).

    Everything else is the wrapped source's (``dropped``, ``fps``, ``close``...).
    """

    def __init__(self, source):
        self._source = source
        #: (H, W, 3) uint8 RGB: the frame the pipeline took last (None before the first)
        self.last: np.ndarray | None = None

    def read_latest(self, timeout: float | None = None):
        """(index, frame) from the wrapped source; the frame is kept as ``last``."""
        index, frame = self._source.read_latest(timeout)
        self.last = frame
        return index, frame

    def __getattr__(self, name):
        return getattr(self._source, name)


class LiveSession:
    """An open live source and the running LivePipeline on it."""

    def __init__(self, source, tap: TappedSource, pipe):
        self.source = source
        self.tap = tap
        self.pipe = pipe
        self.started = time.monotonic()
        self.closed = False

    @property
    def fps(self) -> float:
        fps = float(getattr(self.source, "fps", 0.0) or 0.0)
        return fps if fps > 0 else 30.0

    def close(self) -> bool:
        """Stop the pipeline's threads and close the camera; True when every thread ended.
        Safe to call twice."""
        if self.closed:
            return not self.pipe.running
        self.closed = True
        self.pipe.stop()
        self.source.close()
        return not self.pipe.running


def open_live(source_spec: str, target: LiveTarget, transfer, opened=None,
              progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LiveSession:
    """Open the live source and start a LivePipeline driving ``target`` (its threads run on).

    ``opened``: called with the session as soon as it runs (so an owner shutting down
    meanwhile can still close it).
    """
    report(progress, 0, 0, f"opening {source_spec}")
    source = open_source(live_source_spec(source_spec))
    try:
        if not source.is_live:
            raise InputError(f"{source_spec}: not a live source")
        check(cancel)
        tap = TappedSource(source)
        pipe = LivePipeline(target.model, tap, target.face, target.frame, transfer)
        pipe.start()
    except BaseException:
        source.close()
        raise
    session = LiveSession(source, tap, pipe)
    if opened is not None:
        opened(session)
    return session


class Recorder(threading.Thread):
    """Writes ``frames()`` (the live result) to a VideoWriter at ``fps`` frames per second of
    wall-clock time, so the file plays at the speed it was seen (a frame the pipeline had
    not replaced yet is written again)."""

    def __init__(self, frames, writer, fps: float):
        super().__init__(name="reenact-record", daemon=True)
        self._frames = frames
        self.writer = writer
        self.fps = float(fps)
        self.written = 0
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Finish: write the frames still due, close the file (on this thread)."""
        self._stop_event.set()

    def run(self) -> None:
        """Write frames on the wall clock until stopped."""
        t0 = time.monotonic()
        try:
            while not self._stop_event.wait(max(0.0, t0 + self.written / self.fps - time.monotonic())):
                self.writer.write(self._frames())
                self.written += 1
            # frames still due when stop came (the writer may have been behind on a busy machine)
            due = int((time.monotonic() - t0) * self.fps) + 1
            while self.written < due:
                self.writer.write(self._frames())
                self.written += 1
            self.writer.close()
        except BaseException as e:  # noqa: BLE001 (reported by the controller)
            self.error = e
            self.writer.abort()
