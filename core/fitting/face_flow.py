"""Dense optical flow of the face region, per frame pair, kept compactly for later sampling.

The corrective deformation (core/fitting/corrective.py) needs the image motion at points
that are only known once the whole-video fit is done (the fitted surface points, then the
corrected ones), while the expensive part, the flow field itself, does not depend on the fit.
So the fields are computed while the fit runs (in the image-motion thread, which decodes the
clip anyway) and kept at reduced resolution as 16-bit fixed point; afterwards any point can be sampled.

Method: OpenCV's DIS optical flow (medium preset, fewer iterations: see DIS_*) from frame f to f+1 on the box around the
tracker's face points of both frames plus ``FLOW_MARGIN`` px. Measured on d6 (corrective with
ICT, mesh flow photometric error over DIS's, 100 pairs): DIS fast preset 1.44x against medium
1.31x (one sampling pass); storing the field at half resolution 1.276x against full 1.276x,
quarter 1.281x. Faces larger than ``FLOW_MAX_SIDE`` px are flowed on a reduced copy so that
the cost per pair stays bounded (~6.5 ms on d6's ~270 x 340 px box, one thread) whatever the
video's size. DIS (medium) under-reads small smooth motions, more so on a reduced face: on the
synthetic brow bump of tests/test_corrective.py (a 400 px face) it measures 73 % of each step
with the face reduced to 320 px, 87 % at 480 px, 88 % unreduced; d6 at 240 px: 1.32x against
1.28x unreduced.

Coordinates: image pixels of the full frame, origin top-left, x right, y down.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: margin (px, full frame) around the face points of both frames: the fitted and corrected
#: points lie within a few pixels of the tracker's
FLOW_MARGIN = 16
#: the flowed box's longer side is at most this many px (larger faces are reduced first)
FLOW_MAX_SIDE = 480
#: the stored field's resolution relative to the flowed box (memory per pair: ~50 KB on d6,
#: at most ~230 KB, a 480 px box); clips longer than LONG_CLIP_FRAMES keep a quarter instead
#: (at most ~1 GB either way up to ~17,000 frames)
STORE_SCALE = 0.5
LONG_CLIP_FRAMES = 4_000
STORE_SCALE_LONG = 0.25
#: DIS's medium preset with fewer iterations (the preset's 25 gradient-descent and 5 variational
#: refinement iterations cost 10.1 ms a pair on d6's face box, these 6.5 ms): measured with
#: bench/bench_flow_evidence.py (docs/bench/issue15/flow_evidence_dis_params_s7.json), the mesh's
#: photometric error on d6 / d9 with both models is the same or lower (d6 ICT 1.413 -> 1.404,
#: built-in 1.595 -> 1.576; d9 1.591 -> 1.587, 1.560 -> 1.559); a patch stride of 4 was worse
DIS_GRADIENT_DESCENT_ITERATIONS = 12
DIS_VARIATIONAL_ITERATIONS = 1
#: fields are kept as int16 in 1/FIXED_POINT px: 1/64 px steps (the bilinear sample rounds to
#: one), up to +-511 px a frame
FIXED_POINT = 64


@dataclass
class FlowPiece:
    """The flow of one frame pair on the face's box.

    x0, y0 : int   the box's top-left corner in the full frame (px)
    scale : (sx, sy)  stored-field pixels per full-frame pixel (box reduction x storage scale)
    field : (h, w, 2) int16   displacement f -> f+1 in 1/FIXED_POINT full-frame px, at stored
        resolution (cv2.remap interpolates int16 directly: no conversion per sample)
    size : (width, height) of the box in full-frame px (samples outside it are not measured)
    """

    x0: int
    y0: int
    scale: tuple[float, float]
    field: np.ndarray
    size: tuple[int, int]

    def sample(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear flow at ``points`` (N, 2) full-frame px: (displacement (N, 2) float32 px,
        inside (N,) bool: the point lies in the flowed box)."""
        q = np.asarray(points, np.float32) - np.array([self.x0, self.y0], np.float32)
        inside = ((q >= 0) & (q < np.array([self.size[0] - 1, self.size[1] - 1], np.float32))).all(1)
        # pixel centres: stored pixel i covers full-frame pixels [i / scale, (i + 1) / scale)
        m = (q + 0.5) * np.asarray(self.scale, np.float32) - 0.5
        d = cv2.remap(self.field, m[:, 0:1], m[:, 1:2], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return d.reshape(-1, 2) * np.float32(1.0 / FIXED_POINT), inside


def store_scale(num_frames: int) -> float:
    """The field storage scale for a clip of ``num_frames`` frames."""
    return STORE_SCALE if num_frames <= LONG_CLIP_FRAMES else STORE_SCALE_LONG


def flow_box(shape: tuple[int, int], points: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the box of the finite ``points`` (..., 2) px plus FLOW_MARGIN inside an
    image of ``shape`` (H, W); None if there are none or the box is tiny."""
    from core.fitting.image_motion import _face_box

    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) == 0:
        return None
    box = _face_box(np.empty(shape[:2], np.uint8), pts, pts[:0], FLOW_MARGIN)
    return None if box is None else tuple(int(v) for v in box)


class FaceFlow:
    """Computes :class:`FlowPiece` s frame pair by frame pair (one DIS instance, reused; not
    thread-safe: one per thread)."""

    def __init__(self, store: float = STORE_SCALE):
        self.store = float(store)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._dis.setGradientDescentIterations(DIS_GRADIENT_DESCENT_ITERATIONS)
        self._dis.setVariationalRefinementIterations(DIS_VARIATIONAL_ITERATIONS)

    def boxed(self, a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> FlowPiece:
        """The flow from crop ``a`` to crop ``b`` (h, w) uint8, both cut at ``box`` of the frame."""
        x0, y0, x1, y1 = box
        k = min(1.0, FLOW_MAX_SIDE / max(x1 - x0, y1 - y0))
        if k < 1.0:
            size = (max(int(round((x1 - x0) * k)), 16), max(int(round((y1 - y0) * k)), 16))
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        flow = self._dis.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)
        if k < 1.0:
            flow /= k  # reduced px -> full-frame px
        stored = cv2.resize(flow, None, fx=self.store, fy=self.store, interpolation=cv2.INTER_AREA)
        # the stored grid's scale per full-frame px, from its real size (sizes are rounded)
        scale = (stored.shape[1] / (x1 - x0), stored.shape[0] / (y1 - y0))
        fixed = np.clip(np.rint(stored * FIXED_POINT), -32767, 32767).astype(np.int16)
        return FlowPiece(x0, y0, scale, fixed, (x1 - x0, y1 - y0))


#: scheduling niceness of the flow's worker threads: the whole-video fit and the decoding
#: thread are the critical path; the flow fills the cores they leave idle (Linux: per thread)
WORKER_NICENESS = 10


def _lower_priority() -> None:
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass


class FlowPool:
    """:class:`FaceFlow` on ``workers`` low-priority threads (DIS releases the GIL). The flow is
    the longest part of the image pass (~6.5 ms a pair on d6 against ~3 ms for decoding and LK)
    but nothing waits for it until the fit and its camera refinement are done, so it runs on
    what they leave of the two cores. Pieces come back in submission order. Waiting pairs hold
    only their face crops, at most ``pending_mb`` of them (d6: ~170 KB a pair), so the decoding
    thread runs ahead of the flow without holding whole frames.
    """

    def __init__(self, store: float = STORE_SCALE, workers: int = 2, pending_mb: float = 256.0):
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.store = float(store)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face-flow",
                                        initializer=_lower_priority)
        self._budget = int(pending_mb * 1e6)
        self._pending = 0
        self._room = threading.Condition()
        self._futures: list = []

    def _run(self, a, b, box):
        try:
            flow = getattr(self._local, "flow", None)
            if flow is None:
                flow = self._local.flow = FaceFlow(self.store)
            return flow.boxed(a, b, box)
        finally:
            with self._room:
                self._pending -= a.nbytes + b.nbytes
                self._room.notify_all()

    def submit(self, prev: np.ndarray, grey: np.ndarray, points: np.ndarray) -> None:
        """Queue the pair prev -> grey ((H, W) uint8) on the box of ``points`` (..., 2) px (the
        face points of both frames) plus FLOW_MARGIN (:func:`flow_box`)."""
        box = flow_box(grey.shape, points)
        if box is None:
            self.skip()
            return
        x0, y0, x1, y1 = box
        a, b = prev[y0:y1, x0:x1].copy(), grey[y0:y1, x0:x1].copy()  # the frames can go
        with self._room:
            # always room for one pair, however large
            self._room.wait_for(lambda: self._pending == 0 or self._pending + a.nbytes + b.nbytes <= self._budget)
            self._pending += a.nbytes + b.nbytes
        self._futures.append(self._pool.submit(self._run, a, b, box))

    def skip(self) -> None:
        """A pair with no flow (unusable frames, a repeated picture)."""
        self._futures.append(None)

    def offer(self, prev: np.ndarray, grey: np.ndarray, points: np.ndarray, wanted: bool) -> None:
        """The next frame pair: :meth:`submit` it when ``wanted``, else :meth:`skip` it."""
        if wanted:
            self.submit(prev, grey, points)
        else:
            self.skip()

    def results(self, count: int | None = None) -> list:
        """The pieces (FlowPiece or None) in submission order, padded with None to ``count``;
        waits for the workers, then shuts them down."""
        return list(self.iter_results(count))

    def iter_results(self, count: int | None = None):
        """:meth:`results` one piece at a time, each as soon as it is done (so a consumer can
        work on the first pieces while the workers finish the last); shuts the workers down at
        the end, or when the consumer stops early."""
        try:
            for f in self._futures:
                yield None if f is None else f.result()
            for _ in range(max((count or 0) - len(self._futures), 0)):
                yield None
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers (queued pairs are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
