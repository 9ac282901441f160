"""Face tracking of clips, stills and live streams: the functions the GUI and the CLI share.

- ``track_frames(frames, fps)``: any iterable of RGB uint8 (H, W, 3) frames;
- ``track_video(source)``: a path or an opened ``core.video`` source;
- ``track_image(frame_rgb)``: one still (IMAGE mode, F = 1, no filtering);
- ``FaceTracker``: frame by frame for live use (causal filter, no look-ahead).

Clips go through: detection (MediaPipe, VIDEO mode) -> face selection
(``selection``) -> bridging of short losses (``gaps``) -> optional lag-free
smoothing per segment (``filtering``). Decoding runs in a background thread with
a bounded queue so it overlaps with detection.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from core.errors import InputError, NoFaceError
from core.jobs import CancelToken, ProgressFn, check, report
from core.tracking.filtering import LIVE_PARAMS, OneEuroFilter, OneEuroParams, face_width, smooth_track
from core.tracking.gaps import bridge_gaps
from core.tracking.landmarker import FrameFaces, Landmarker
from core.tracking.result import N_BLENDSHAPES, N_LANDMARKS, TrackResult
from core.tracking.selection import MAX_BRIDGE_FRAMES, FaceSelector
from core.tracking.small_faces import CropFallback, refine_small_faces

#: Frames decoded ahead of detection (bounds memory: 8 x 1080p RGB is ~50 MB).
PREFETCH_FRAMES = 8


@dataclass
class FrameTrack:
    """The followed face in one live frame.

    landmarks : (478, 3) float32 pixels, causally filtered when smoothing is on
    landmarks_raw : (478, 3) float32 the detector's values
    blendshapes : (52,) float32; pose : (4, 4) float32
    n_faces : faces seen in the frame; segment : track segment id
    """

    landmarks: np.ndarray
    landmarks_raw: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    n_faces: int
    segment: int
    timestamp_ms: int


class FaceTracker:
    """Frame-by-frame tracking for live sources (webcam, playback).

    ``process(frame_rgb, timestamp_ms)`` returns the followed face or None. Losses
    are not bridged (that needs the future); a long loss or a jump starts a new
    segment and restarts the filter. Call ``close()`` (or use ``with``).
    """

    def __init__(self, smooth: bool = True, params: OneEuroParams | None = None,
                 max_bridge: int = MAX_BRIDGE_FRAMES):
        self.smooth = smooth
        self.params = params or LIVE_PARAMS  # causal: tuned for lag, not the offline two-pass filter
        self.selector = FaceSelector(max_bridge=max_bridge)
        self.landmarker = Landmarker(video=True)
        self.fallback = CropFallback(video=True)
        self._frames = 0
        self._filter: OneEuroFilter | None = None
        #: Faces seen in the last processed frame (also when None was returned).
        self.last_n_faces = 0

    @property
    def blendshape_names(self) -> np.ndarray:
        return self.landmarker.blendshape_names

    def process(self, frame_rgb: np.ndarray, timestamp_ms: int) -> Optional[FrameTrack]:
        """Track one live frame (RGB uint8, its timestamp in ms): the followed face, filtered, or None when
        there is none."""
        faces = self.landmarker.detect(frame_rgb, timestamp_ms)
        if faces.count == 0:
            faces = self.fallback.detect(frame_rgb, self._frames, timestamp_ms)
        self._frames += 1
        choice = self.selector.choose(faces.landmarks)
        self.last_n_faces = faces.count
        if choice.index < 0:
            return None
        raw = faces.landmarks[choice.index]
        out = raw
        if self.smooth:
            if self._filter is None or choice.new_segment:
                self._filter = OneEuroFilter(self.params, scale=face_width(raw[None]))
            out = self._filter(raw, timestamp_ms / 1000.0).astype(np.float32)
        return FrameTrack(out, raw, faces.blendshapes[choice.index], faces.pose[choice.index],
                          faces.count, choice.segment, int(timestamp_ms))

    def close(self) -> None:
        """Release the tracker's landmarkers."""
        self.landmarker.close()
        self.fallback.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Prefetcher:
    """Iterates ``frames`` in a daemon thread into a bounded queue.

    The iterator is created, advanced and closed in that thread only (a generator
    cannot be closed from another thread while it runs). Errors are re-raised in
    the consumer.
    """

    _END = object()

    def __init__(self, frames: Iterable[np.ndarray], size: int = PREFETCH_FRAMES):
        self._q: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(frames,), daemon=True,
                                        name="track-decode")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, frames) -> None:
        it = iter(frames)
        try:
            for frame in it:
                if not self._put(frame):
                    break
            self._put(self._END)
        except BaseException as e:  # noqa: BLE001 (handed to the consumer)
            self._put(e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def track_frames(frames: Iterable[np.ndarray], fps: float, *, total: int = 0,
                 max_frames: int | None = None, smooth: bool = True,
                 params: OneEuroParams | None = None,
                 progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                 source: str = "") -> TrackResult:
    """Track the followed face over RGB uint8 (H, W, 3) ``frames`` taken at ``fps``.

    ``total`` (frame count, 0 if unknown) only feeds progress. Raises InputError
    when there is no frame, ``core.jobs.Cancelled`` when cancelled. A clip with no
    face at all is returned with ``valid`` all False (see ``require_face``).
    """
    if not fps or fps <= 0 or not np.isfinite(fps):
        fps = 30.0
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    raw_list: list[np.ndarray] = []
    bs_list: list[np.ndarray] = []
    pose_list: list[np.ndarray] = []
    seg_list: list[int] = []
    nf_list: list[int] = []
    size = None
    selector = FaceSelector()
    t0 = time.perf_counter()
    prefetch = _Prefetcher(frames)
    fallback = CropFallback(video=True)
    try:
        with Landmarker(video=True) as lm:
            for i, frame in enumerate(prefetch):
                if max_frames is not None and i >= max_frames:
                    break
                check(cancel)
                if size is None:
                    size = (int(frame.shape[0]), int(frame.shape[1]))
                ts = round(i * 1000.0 / fps)
                faces: FrameFaces = lm.detect(frame, ts)
                if faces.count == 0:
                    faces = fallback.detect(frame, i, ts)
                choice = selector.choose(faces.landmarks)
                nf_list.append(faces.count)
                if choice.index >= 0:
                    raw_list.append(faces.landmarks[choice.index])
                    bs_list.append(faces.blendshapes[choice.index])
                    pose_list.append(faces.pose[choice.index])
                    seg_list.append(choice.segment)
                else:
                    raw_list.append(None)
                    bs_list.append(None)
                    pose_list.append(None)
                    seg_list.append(-1)
                if i % 10 == 0:
                    report(progress, i + 1, total, "tracking")
            names = lm.blendshape_names
    finally:
        fallback.close()
        prefetch.stop()
    F = len(nf_list)
    if F == 0:
        raise InputError(f"{source or 'input'}: no frames could be read")
    report(progress, F, total or F, "tracking")
    elapsed = time.perf_counter() - t0
    result = _assemble(raw_list, bs_list, pose_list, seg_list, nf_list, names, fps, size,
                       smooth, params, source)
    result.meta.update(processing_seconds=elapsed, processing_fps=F / max(elapsed, 1e-9))
    return result


def _stack(items: list, shape: tuple[int, ...]) -> np.ndarray:
    out = np.full((len(items), *shape), np.nan, np.float32)
    for i, a in enumerate(items):
        if a is not None:
            out[i] = a
    return out


def _assemble(raw_list, bs_list, pose_list, seg_list, nf_list, names, fps, size,
              smooth, params, source) -> TrackResult:
    detected = np.array([a is not None for a in raw_list], bool)
    raw = _stack(raw_list, (N_LANDMARKS, 3))
    bs = _stack(bs_list, (N_BLENDSHAPES,))
    pose = _stack(pose_list, (4, 4))
    segment = np.asarray(seg_list, np.int32)
    bridged = bridge_gaps(raw, bs, pose, detected, segment)
    valid = detected | bridged
    landmarks = raw.copy()
    if smooth:
        for s in np.unique(segment[valid]):
            idx = np.flatnonzero(segment == s)   # contiguous once gaps are bridged
            landmarks[idx] = smooth_track(raw[idx], fps, face_width(raw[idx]), params)
    return TrackResult(
        landmarks=landmarks, valid=valid, blendshapes=bs, blendshape_names=np.asarray(names, str),
        pose=pose, fps=float(fps), size=size, landmarks_raw=raw, bridged=bridged,
        segment=segment, n_faces=np.asarray(nf_list, np.int16), source=source,
        meta=dict(smoothed=bool(smooth)),
    )


def track_image(frame_rgb: np.ndarray, source: str = "", augment: bool = True) -> TrackResult:
    """Track one still RGB uint8 (H, W, 3) image (IMAGE mode, no filtering): F = 1.
    With several faces the largest is taken; a face too small for the whole image
    is looked for in crops (core/tracking/small_faces.py), and a small face found in the
    whole image is landmarked again in a crop around it; a turned head the detector misses
    is looked for in the picture mirrored and with borders (core/tracking/mirror.py).
    With ``augment`` the chosen face's landmarks and blendshapes are the mean over
    re-detections in shifted, scaled and mirrored crops (core/tracking/augment.py, 18 more
    landmarker calls). No face -> ``valid[0]`` False."""
    with Landmarker(video=False) as lm:
        faces = refine_small_faces(frame_rgb, lm.detect(frame_rgb), lm)
        names = lm.blendshape_names
        if faces.count == 0:
            fallback = CropFallback(video=False)
            try:
                faces = fallback.detect(frame_rgb, 0)
            finally:
                fallback.close()
        if faces.count == 0:
            from core.tracking.mirror import find_turned_face

            faces = find_turned_face(frame_rgb, lm)
        choice = FaceSelector().choose(faces.landmarks)
        k = choice.index
        if augment and k >= 0:
            from core.tracking.augment import averaged_face

            lm_k, bs_k = averaged_face(frame_rgb, faces.landmarks[k], faces.blendshapes[k], lm)
            faces = FrameFaces(faces.landmarks.copy(), faces.blendshapes.copy(), faces.pose)
            faces.landmarks[k], faces.blendshapes[k] = lm_k, bs_k

    def pick(a):
        return [a[k]] if k >= 0 else [None]
    return _assemble(pick(faces.landmarks), pick(faces.blendshapes), pick(faces.pose),
                     [choice.segment if k >= 0 else -1], [faces.count], names, 0.0,
                     (int(frame_rgb.shape[0]), int(frame_rgb.shape[1])), False, None, source)


def _source_frames(src, stop: int | None) -> Iterator[np.ndarray]:
    """The frames of a ``core.video`` source without their indices (closes the
    source's iterator when abandoned, in the thread that runs it)."""
    it = src.frames(0, stop)
    try:
        for _, frame in it:
            yield frame
    finally:
        it.close()


def track_video(source, *, max_frames: int | None = None, smooth: bool = True,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None
                ) -> TrackResult:
    """Track a video file, image or image folder (a path, opened with
    ``core.video.open_source``) or an already opened ``core.video`` source.

    Stills (``kind == "image"``) are tracked in IMAGE mode without filtering.
    Clips are filtered when ``smooth`` (raw values stay in ``landmarks_raw``).
    Live sources are refused: use ``FaceTracker`` frame by frame.
    """
    from core.video import open_source

    owned = isinstance(source, (str, os.PathLike))
    src = open_source(source) if owned else source
    name = str(getattr(src, "path", "") or source)
    try:
        if src.is_live:
            raise InputError(f"{name}: a live source has no end to track to; "
                             "use the live preview (FaceTracker) instead")
        if src.kind == "image":
            result = track_image(src.read(0), source=name)
            result.fps = float(src.fps)
            return result
        total = int(src.frame_count or 0)
        return track_frames(_source_frames(src, max_frames), float(src.fps), total=total,
                            max_frames=max_frames, smooth=smooth, progress=progress,
                            cancel=cancel, source=name)
    finally:
        if owned:
            src.close()


def require_face(result: TrackResult, what: str) -> None:
    """Raise NoFaceError naming ``what`` (the input) when no frame has a face."""
    if not result.valid.any():
        n = result.num_frames
        raise NoFaceError(f"{what}: no face found in {'the image' if n == 1 else f'any of its {n} frames'}"
                          " (needs a roughly frontal, visible human face)")


def lost_ranges(valid: np.ndarray) -> list[tuple[int, int]]:
    """Runs of frames without a usable face, as inclusive ``(first, last)`` pairs."""
    v = np.concatenate([[True], np.asarray(valid, bool), [True]])
    d = np.diff(v.astype(np.int8))
    starts = np.flatnonzero(d == -1)
    ends = np.flatnonzero(d == 1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]
