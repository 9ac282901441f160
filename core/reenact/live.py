"""Live reenactment: a camera (or simulated camera) drives a photo, newest frame first.

Two threads, each always working on the newest input and dropping stale ones:

1. grab + track: ``read_latest()`` from the live source, FaceTracker on it;
2. fit + transfer + warp: a per-frame fit (core.fitting's FrameFitter, identity
   fixed), the attribute transfer against the source's reference (the first tracked
   frame; ``recalibrate()`` takes a new one) and the warp of the target photo.

A frame where the face is lost keeps the last good parameters (the output freezes)
and the fit restarts when the face comes back. ``latest()`` returns the newest output
frame, ``latest_output()`` it with the source frame it was made from (a preview shows the
two together, so the source shown is the one the result is for), and ``stats()`` the frame
rate and the latency from grabbing a frame to its output being ready (medians over the last
second or so). ``add_listener`` hands every output to a consumer on the render thread (a
recorder, a virtual camera). Settings can be changed while running (``set_settings``). No
Qt here: the GUI polls ``latest_output()``.

Pacing (``pace=True``, the default): the tracker works only on frames the render thread will
take. Once the render thread has taken a frame, the track thread waits until it is about to
be free again (its median render time less the median track time) and then tracks the newest
camera frame, so the two stages interleave: no camera frame is tracked only to be dropped
(on a loaded machine that work came out of the render thread's share and the frame rate
fell), and the frame rendered is as fresh as if the tracker ran flat out.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.camera import project
from core.errors import detached
from core.fitting.basis import basis_from_embedding
from core.fitting.frame_fit import FrameFitter
from core.fitting.settings import FitSettings
from core.fitting.weights import tracker_point_weights
from core.jobs import NewestSlot
from core.model.face_model import FaceModel
from core.reenact.faces import FittedFace
from core.model.arkit import expression_group
from core.reenact.transfer import FaceState, Reference, TransferSettings, transfer_state
from core.warp import FrameRequest, WarpRenderer, WarpSettings
from core.warp.landmarks import gaze_from_landmarks


def fit_photo_to_size(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Centre-crop to the aspect of ``size`` (H, W) and resize; None keeps the image."""
    if size is None:
        return image
    H, W = size
    h, w = image.shape[:2]
    scale = max(H / h, W / w)
    ch, cw = int(round(H / scale)), int(round(W / scale))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = image[y0:y0 + ch, x0:x0 + cw]
    return cv2.resize(crop, (W, H), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


@dataclass
class LiveOutput:
    """One output of the pipeline: image (H, W, 3) uint8 RGB; source: the camera frame it was
    made from (None for the target shown before the first); index: that frame's camera index
    (-1 before the first); grabbed: when it was grabbed (time.monotonic()); face: whether it
    had a face (False: the output holds the last good one)."""

    image: np.ndarray
    source: np.ndarray | None = None
    index: int = -1
    grabbed: float = 0.0
    face: bool = False


@dataclass
class LiveStats:
    """fps: output frames per second; latency_ms: median grab-to-output time;
    track_ms / render_ms: median stage times; frames: outputs so far; dropped: camera
    frames never processed; face: whether the last frame had a face; stages: median
    milliseconds per stage of the render thread (fit, transfer, warp, sample, mouth, eyes; and
    mouth_open: the mouth stage over the frames where a mouth interior was filled)."""

    fps: float = 0.0
    latency_ms: float = 0.0
    track_ms: float = 0.0
    render_ms: float = 0.0
    frames: int = 0
    dropped: int = 0
    face: bool = False
    stages: dict = field(default_factory=dict)


class SourceCalibration:
    """The live source's reference: first tracked frame, plus running mouth/jaw neutral.

    Expression groups with a percentile neutral (TransferSettings.neutral_percentile)
    use that percentile over the recent history, never above the reference's value.
    """

    def __init__(self, expression_names, history: int = 600):
        self.names = list(expression_names)
        self.history: collections.deque = collections.deque(maxlen=history)
        self.reference: FaceState | None = None
        self._neutral: np.ndarray | None = None
        self._count = 0

    def reset(self) -> None:
        """Forget the reference and the history (the next tracked frame becomes the reference)."""
        self.history.clear()
        self.reference = None
        self._neutral = None

    def update(self, state: FaceState, settings: TransferSettings) -> Reference:
        """Add a source frame's state; the source's reference with the running neutral expression."""
        if self.reference is None:
            self.reference = state.copy()
        self.history.append(state.expression)
        self._count += 1
        if self._neutral is None or self._count % 15 == 0:
            E = np.asarray(self.history)
            neutral = self.reference.expression.copy()
            for k, n in enumerate(self.names):
                pct = settings.neutral_percentile.get(expression_group(n), 5.0)
                if pct is not None:
                    neutral[k] = min(neutral[k], float(np.percentile(E[:, k], pct)))
            self._neutral = neutral
        ref = self.reference.copy()
        ref.expression = self._neutral.copy()
        return Reference(ref)


def _notify(listeners: list, output: "LiveOutput") -> None:
    """Hand ``output`` to every listener (in a call of its own: a loop variable in the render
    loop would hold on to the last listener called, a removed one too, for as long as no
    other listener is called)."""
    for fn in listeners:
        fn(output)


class LivePipeline:
    """Live head/face reenactment of a photo by a live source.

    source : a live core.video source (``open_source("simcam:clip.mp4")`` or a webcam);
    target : the photo's FittedFace (``fit_face`` of ``track_image``) and its frame.
    """

    def __init__(self, model: FaceModel, source, target: FittedFace, target_frame: np.ndarray,
                 transfer: TransferSettings | None = None, warp: WarpSettings | None = None,
                 fit_settings: FitSettings | None = None, pace: bool = True, renderer_factory=None):
        self.model = model
        self.source = source
        self.target = target
        self.target_frame = target_frame
        self._lock = threading.Lock()
        self._transfer = transfer or TransferSettings()
        self._warp = warp or WarpSettings()
        # renderer_factory (core.reenact.pipeline.RendererFactory): makes the frame renderer of
        # the warp renderer (the neural renderer); None renders with the warp
        self._renderer_factory = renderer_factory
        self._renderer = self._make_renderer(self._warp)
        self._target_face = target.target(model, 0)
        self._target_state = target.seq.frame(0)
        self._target_ref = Reference(target.seq.frame(0))
        fs = fit_settings or FitSettings()
        self._basis = basis_from_embedding(model)
        # the source's identity is unknown live: the mean face; the relative transfer and the
        # per-point detail absorb what the mean cannot express
        self._fitter = FrameFitter(self._basis, np.zeros(model.num_identity),
                                   tracker_point_weights(self._basis.num_points, fs),
                                   np.asarray(model.expression_bounds, np.float64), fs)
        self._calib = SourceCalibration(model.expression_names)
        self._slot = NewestSlot()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._out: np.ndarray | None = target_frame.copy()
        self._out_info = LiveOutput(self._out)
        self._out_lock = threading.Lock()
        self._listeners: list = []
        self.pace = bool(pace)
        self._taken = threading.Event()  # the render thread took the last posted frame
        self._taken_at = 0.0
        self._times: collections.deque = collections.deque(maxlen=60)  # (done, latency, track, render)
        self._stages: collections.deque = collections.deque(maxlen=60)  # per-frame stage ms dicts
        self._frames = 0
        self._face = False
        self._last_state: FaceState | None = None
        self.error: BaseException | None = None
        self._recalibrate = False

    # -- control ------------------------------------------------------------------
    def set_settings(self, transfer: TransferSettings | None = None, warp: WarpSettings | None = None) -> None:
        """Change settings while running (any thread; taken from the next frame on: the frame
        being rendered keeps the settings it started with)."""
        with self._lock:
            if transfer is not None:
                self._transfer = transfer
            if warp is not None:
                self._warp = warp

    def recalibrate(self) -> None:
        """Take the next tracked frame as the source's new reference (rest pose/expression)."""
        self._recalibrate = True

    def start(self) -> "LivePipeline":
        """Start the grab/track and the fit/transfer/warp threads; returns the pipeline."""
        self._threads = [threading.Thread(target=self._guard(self._track_loop), name="reenact-track", daemon=True),
                         threading.Thread(target=self._guard(self._render_loop), name="reenact-render", daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop both threads and wait for them (at most 5 s each)."""
        self._stop.set()
        self._slot.close()  # the render thread stops waiting for frames
        for t in self._threads:
            t.join(timeout=5.0)

    def __enter__(self) -> "LivePipeline":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def latest(self) -> np.ndarray:
        """The newest output frame (H, W, 3) RGB uint8 (the target photo before the first)."""
        with self._out_lock:
            return self._out

    def _make_renderer(self, warp: WarpSettings):
        self._warp_renderer = WarpRenderer(self.model, warp)
        if self._renderer_factory is None:
            return self._warp_renderer
        return self._renderer_factory(self._warp_renderer)

    @property
    def renderer_name(self) -> str:
        """The frame renderer's name ("warp" or "neural")."""
        return str(getattr(self._renderer, "name", "warp"))

    def latest_output(self) -> LiveOutput:
        """The newest output with the source frame it was made from (see LiveOutput)."""
        with self._out_lock:
            return self._out_info

    def add_listener(self, fn) -> None:
        """Call ``fn(LiveOutput)`` with every new output, on the render thread (keep it short:
        it holds up the next frame; a slow consumer hands the output to a thread of its own)."""
        with self._out_lock:
            self._listeners = self._listeners + [fn]

    def remove_listener(self, fn) -> None:
        """Stop calling ``fn`` (a no-op when it was not added). Compared by equality, not
        identity: ``obj.method`` is a new bound-method object at every access, so a listener
        added as ``add_listener(rec.on_output)`` is removed by ``remove_listener(rec.on_output)``
        (by identity it never was: a stopped recorder kept receiving, and keeping, every output
        for as long as the pipeline ran)."""
        with self._out_lock:
            self._listeners = [f for f in self._listeners if f != fn]

    def stats(self) -> LiveStats:
        """Frame rate, latency and stage times over the last second or so (medians)."""
        with self._out_lock:
            times = list(self._times)
            stages = list(self._stages)
            frames, face = self._frames, self._face
        st = LiveStats(frames=frames, face=face, dropped=int(getattr(self.source, "dropped", 0)) + self._slot.dropped)
        if len(times) >= 2:
            done = np.array([t[0] for t in times])
            span = done[-1] - done[0]
            st.fps = (len(times) - 1) / span if span > 0 else 0.0
            st.latency_ms = float(np.median([t[1] for t in times]) * 1000)
            st.track_ms = float(np.median([t[2] for t in times]) * 1000)
            st.render_ms = float(np.median([t[3] for t in times]) * 1000)
        if stages:
            keys = dict.fromkeys(k for d in stages for k in d)
            st.stages = {k: float(np.median([d[k] for d in stages if k in d])) for k in keys}
        return st

    # -- stages -------------------------------------------------------------------
    def _guard(self, fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 (reported to the owner, which shows it)
                # detached: its traceback's frames hold the pipeline (a cycle after any failure)
                self.error = detached(e)
                self._stop.set()
        return run

    def _track_loop(self) -> None:
        from core.tracking.tracker import FaceTracker
        from core.video import StreamEnded

        with FaceTracker(smooth=True) as tracker:
            t0 = time.monotonic()
            while not self._stop.is_set():
                if self.pace:
                    self._wait_for_render()
                try:
                    index, frame = self.source.read_latest()
                except StreamEnded:
                    self._stop.set()
                    return
                grabbed = time.monotonic()
                ft = tracker.process(frame, int((grabbed - t0) * 1000))
                self._taken.clear()
                self._slot.post((grabbed, frame, ft, time.monotonic() - grabbed, index))

    def _wait_for_render(self) -> None:
        """Pacing (see the module docstring): wait until the render thread has taken the last
        frame, then until it is about to be free: its median render time less the median
        track time after the take."""
        if self._frames == 0:
            return
        while not self._taken.wait(0.1):
            if self._stop.is_set():
                return
        with self._out_lock:
            times = list(self._times)[-15:]
        if len(times) >= 3:
            render = float(np.median([t[3] for t in times]))
            track = float(np.median([t[2] for t in times]))
            # a little early (a sixth of a render): on a busy machine the tracker's time varies, and a
            # frame that waits costs less than a renderer that does
            ahead = render - track - render / 6
            taken_at = self._taken_at
            delay = taken_at + ahead - time.monotonic()
            if delay > 0:
                self._stop.wait(min(delay, 0.5))

    def _source_state(self, frame: np.ndarray, ft) -> FaceState:
        lm = ft.landmarks
        L = self._basis.num_points
        obs = np.asarray(lm[:L, :2], np.float64)
        fit = self._fitter.fit(obs)
        X = self._basis.points(np.zeros(self.model.num_identity), fit.expression)
        proj = project(X, fit.scale, fit.rotation, fit.translation)[:, :2]
        gaze, ok = gaze_from_landmarks(np.asarray(lm), frames=None)
        if not ok.all():
            g2, ok2 = gaze_from_landmarks(np.asarray(lm)[None], frames=[frame])
            gaze = np.where(ok2[0][:, None], g2[0], self._last_state.gaze if self._last_state is not None else gaze)
        return FaceState(np.asarray(fit.expression, np.float64), np.asarray(fit.rotation, np.float64),
                         np.asarray(fit.translation, np.float64), float(fit.scale), np.asarray(gaze, np.float64),
                         residual=(obs - proj) / fit.scale)

    def _render_loop(self) -> None:
        driven_state = None
        while not self._stop.is_set():
            item = self._slot.take(timeout=0.5)
            if item is None:  # nothing new yet: check the stop flag
                continue
            self._taken_at = time.monotonic()
            self._taken.set()
            grabbed, frame, ft, track_s, index = item
            t = time.monotonic()
            stage: dict[str, float] = {}
            with self._lock:
                transfer, warp = self._transfer, self._warp
            if warp is not self._warp_renderer.settings:
                # only this thread touches the renderer: new settings get a new renderer between
                # frames (its caches and the ICT interior preload follow the settings)
                self._renderer = self._make_renderer(warp)
            if ft is not None:
                if self._recalibrate:
                    self._calib.reset()
                    self._recalibrate = False
                src = self._source_state(frame, ft)
                self._last_state = src
                t_fit = time.monotonic()
                ref = self._calib.update(src, transfer)
                driven_state = transfer_state(src, ref, self._target_state, self._target_ref, transfer,
                                              self.model.expression_names, self.model.expression_bounds)
                stage = dict(fit=(t_fit - t) * 1e3, transfer=(time.monotonic() - t_fit) * 1e3)
            else:
                self._fitter.reset()  # the fit restarts when the face comes back
            if driven_state is None:
                out = self.target_frame
            elif ft is None:
                out = self.latest()  # face lost: hold the last output
            else:
                t_d = time.monotonic()
                d = self.target.driven(self.model, 0, driven_state)
                stage["transfer"] = stage.get("transfer", 0.0) + (time.monotonic() - t_d) * 1e3
                result = self._renderer.render(FrameRequest(self.target_frame, self._target_face, d, 0))
                out = result.image
                stage.update(result.stage_ms)
                if result.mouth_filled and "mouth" in stage:  # the mouth stage's cost when it has work to do
                    stage["mouth_open"] = stage["mouth"]
            done = time.monotonic()
            info = LiveOutput(out, frame, int(index), grabbed, ft is not None)
            with self._out_lock:
                self._out = out
                self._out_info = info
                listeners = self._listeners
                self._frames += 1
                self._face = ft is not None
                self._times.append((done, done - grabbed, track_s, done - t))
                if len(stage) >= 6:
                    self._stages.append(stage)
            _notify(listeners, info)
