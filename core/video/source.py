"""Frame sources: video files, single images, image folders, webcams, simulated cameras.

Every source delivers frames as (H, W, 3) uint8 RGB arrays (origin top-left, upright:
container rotation metadata and EXIF orientation already applied) and has one interface:

  kind ("video" | "image" | "folder" | "webcam" | "simcam"), path, fps, frame_count
  (-1 when live), size -> (H, W), rotation, pixel_aspect, is_live, has_audio, truncated;
  read(i) for random access, frames(start, stop, step) / iteration for streaming,
  read_latest() for live sources (core/video/live.py), close() / context manager.

    with open_source("clip.mp4") as src:
        frame = src.read(120)                 # exact random access
        for i, frame in src.frames(0, None, 2):
            ...

``open_source(spec)`` (core/video/open.py) picks the class. Nothing here decodes a whole
video into memory: files are decoded on demand, with a small LRU cache of recent frames.
"""
from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from core.errors import InputError
from core.video.ffmpeg_tools import probe, scan_video_packets
from core.video.images import (IMAGE_EXTS, check_frame_size, list_images, load_image,
                               to_rgb_uint8)

# OpenCV's FFmpeg backend prints the decoder's complaints ("partial file", "error while decoding
# MB ...") straight to stderr, over the command's own one-line message; the damage they describe
# is reported by this module (``truncated``, InputError). Set before the first capture opens;
# a value the user set (to see them) is kept.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

VIDEO_EXTS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".gif")
#: Frame rate given to still images and image folders unless told otherwise.
NOMINAL_FPS = 30.0


class VideoSource:
    """Common interface of all frame sources (see the module docstring)."""

    kind: str = ""
    path: str = ""
    fps: float = NOMINAL_FPS
    frame_count: int = -1
    #: Clockwise degrees (0/90/180/270) applied to the stored frames to make them upright.
    rotation: int = 0
    #: Width of one delivered pixel over its height as the picture is meant to be seen (the
    #: container's sample aspect ratio, turned with the rotation): 15/16 for d9's 512x480
    #: stored for a square picture. Frames are delivered as stored; a viewer or an export
    #: that shows them as they were meant scales the width by it.
    pixel_aspect: float = 1.0
    is_live: bool = False
    has_audio: bool = False
    #: True when the file holds fewer decodable frames than its header announced.
    truncated: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the delivered frames (subclasses set ``_size`` when they open)."""
        return self._size

    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` as (H, W, 3) uint8 RGB. IndexError when out of range."""
        raise NotImplementedError

    @property
    def timestamps(self) -> np.ndarray:
        """(frame_count,) float64 presentation time of each frame in seconds from the first:
        a video file's own (variable frame rates included), ``i / fps`` for the others."""
        return np.arange(max(self.frame_count, 0)) / float(self.fps or NOMINAL_FPS)

    def read_latest(self) -> tuple[int, np.ndarray]:
        """Live sources only: (index, frame) of the newest frame."""
        raise TypeError(f"{self.kind} source {self.path} is not live; use read(i) or frames()")

    def frames(self, start: int = 0, stop: Optional[int] = None, step: int = 1
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, frame) for start <= index < stop (default: to the end).

        On a truncated file the iteration stops cleanly after the last decodable frame
        (``truncated`` is then True and ``frame_count`` the real count).
        """
        if step < 1:
            raise ValueError("step must be >= 1")
        i = start
        while True:
            end = self.frame_count if stop is None else min(stop, self.frame_count)
            if i >= end:
                return
            try:
                frame = self.read(i)
            except InputError:
                if self.truncated and i >= self.frame_count:
                    return  # the real end of a truncated file: not an error when streaming
                raise
            yield i, frame
            i += step

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames()

    def __len__(self) -> int:
        if self.is_live:
            raise TypeError(f"live source {self.path} has no length")
        return self.frame_count

    def close(self) -> None:
        """Release the source (files, decoders); the context manager calls it."""
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_index(self, i: int) -> int:
        i = int(i)
        if i < 0 or i >= self.frame_count:
            raise IndexError(f"{self.path}: frame {i} out of range (the source has "
                             f"{self.frame_count} frames)")
        return i


class _FrameCache:
    """LRU cache of decoded frames, bounded in bytes."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, i: int) -> Optional[np.ndarray]:
        frame = self._frames.get(i)
        if frame is not None:
            self._frames.move_to_end(i)
        return frame

    def put(self, i: int, frame: np.ndarray) -> None:
        if i in self._frames:
            return
        self._frames[i] = frame
        self._bytes += frame.nbytes
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            _, old = self._frames.popitem(last=False)
            self._bytes -= old.nbytes

    def clear(self) -> None:
        self._frames.clear()
        self._bytes = 0


class ImageSource(VideoSource):
    """A single image as a one-frame video at a nominal 30 fps."""

    kind = "image"

    def __init__(self, path: str | Path, fps: Optional[float] = None):
        self.path = str(path)
        self.fps = float(fps) if fps else NOMINAL_FPS
        self._frame = load_image(Path(path))
        self.frame_count = 1

    @property
    def size(self) -> tuple[int, int]:
        return self._frame.shape[:2]

    def read(self, i: int) -> np.ndarray:
        """The image (frame 0 is the only frame): (H, W, 3) uint8 RGB."""
        self._check_index(i)
        return self._frame.copy()


class ImageFolderSource(VideoSource):
    """The images of a folder, in natural name order (f2 before f10), as frames.

    All images must have the size of the first one; another size raises InputError.
    """

    kind = "folder"

    def __init__(self, path: str | Path, fps: Optional[float] = None):
        folder = Path(path)
        self.path = str(folder)
        self.fps = float(fps) if fps else NOMINAL_FPS
        self.files = list_images(folder)
        if not self.files:
            raise InputError(f"{folder}: the folder contains no images "
                             f"({', '.join(e.lstrip('.') for e in IMAGE_EXTS)})")
        self.frame_count = len(self.files)
        self._cache = _FrameCache(max_bytes=32 << 20)
        first = load_image(self.files[0])
        self._size = first.shape[:2]
        self._cache.put(0, first)

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` of the folder (sorted by name): (H, W, 3) uint8 RGB."""
        i = self._check_index(i)
        frame = self._cache.get(i)
        if frame is None:
            frame = load_image(self.files[i])
            if frame.shape[:2] != self._size:
                h, w = frame.shape[:2]
                raise InputError(f"{self.files[i]}: the image is {w}x{h} but the sequence in "
                                 f"{self.path} is {self._size[1]}x{self._size[0]}; "
                                 f"all images of a sequence must have one size")
            self._cache.put(i, frame)
        return frame.copy()


class VideoFileSource(VideoSource):
    """A video file decoded on demand with OpenCV's FFmpeg backend.

    Frame ``i`` is the i-th frame in presentation order, whatever the container.
    Exact random access: OpenCV numbers frames by timestamp * fps, which is wrong for
    files with gaps or a variable frame rate (an AVI with one dropped frame is off by one
    after the gap), and its header count includes pre-roll frames that mp4 edit lists
    cut (obama.mp4 announces 158 frames and shows 55). So the source lists the packets'
    timestamps once (ffmpeg stream copy, no decoding, ~0.1 s), seeks a little before the
    target, identifies the frame it landed on by its timestamp, and decodes forward.
    """

    kind = "video"
    #: Forward distances up to this are decoded through instead of seeking.
    FORWARD_DECODE = 32

    def __init__(self, path: str | Path):
        p = Path(path)
        self.path = str(p)
        if not p.is_file():
            raise InputError(f"{p}: file not found")
        if p.stat().st_size == 0:
            raise InputError(f"{p}: the file is empty")
        info = probe(p, count_frames=False)
        if not info["has_video"]:
            raise InputError(f"{p}: the file has no video stream")
        self.has_audio = bool(info["has_audio"])
        scan = scan_video_packets(p)
        self._pts = scan.pts
        if not self._pts:
            raise InputError(f"{p}: the video stream holds no frames (corrupt or truncated file)")
        self.frame_count = len(self._pts)
        # Indices of keyframes: a forward jump that crosses none is decoded through, since a
        # seek would restart from the same keyframe or an earlier one.
        self._keyframes = sorted({bisect.bisect_left(self._pts, t) for t in scan.keyframe_pts})
        # A decoded timestamp within half the smallest frame spacing of an entry is that frame.
        gaps = np.diff(self._pts) if len(self._pts) > 1 else np.array([1.0])
        gaps = gaps[gaps > 0]
        self._tolerance = 0.5 * float(gaps.min()) if gaps.size else 0.5

        self._lock = threading.RLock()
        self._cap: Optional[cv2.VideoCapture] = None
        self._open_capture()
        cap = self._cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) else (info["fps"] or NOMINAL_FPS)
        self.header_frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
        sar = float(info["sample_aspect"])
        self.pixel_aspect = 1.0 / sar if self.rotation in (90, 270) else sar
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        check_frame_size(h, w, self.path)
        self._cache = _FrameCache()
        self._next = 0                     # index of the frame the next cap.read() returns
        self._t0: Optional[float] = None   # decoder timestamp (s) of frame 0
        first = self._decode_next()
        if first is None:
            raise InputError(f"{p}: no frame can be decoded (corrupt file or unsupported codec)")
        self._size = first.shape[:2]
        if scan.partial or scan.corrupt_packets:
            self.truncated = True
            self._find_decodable_end()

    # -- public interface -------------------------------------------------------------
    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` decoded exactly (seek to its keyframe, decode forward): (H, W, 3) uint8 RGB."""
        if self.truncated and self.frame_count <= int(i) < self.announced_frame_count:
            self._raise_truncated(int(i))
        i = self._check_index(i)
        with self._lock:
            frame = self._cache.get(i)
            if frame is None:
                frame = self._decode_at(i)
            return frame.copy()

    def close(self) -> None:
        """Release the decoder."""
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self._cache.clear()

    # -- decoding ---------------------------------------------------------------------
    def _open_capture(self) -> None:
        if self._cap is not None:
            self._cap.release()
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise InputError(f"{self.path}: cannot open the video (corrupt, truncated, or an "
                             f"unsupported codec)")
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # deliver upright frames
        self._cap = cap

    def _decode_next(self) -> Optional[np.ndarray]:
        """Decode the frame at ``self._next``, cache it and advance; None at the end of data."""
        if self._cap is None:
            raise InputError(f"{self.path}: the source is closed")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        if self._t0 is None:
            self._t0 = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        frame = to_rgb_uint8(bgr, "BGR")
        self._cache.put(self._next, frame)
        self._next += 1
        return frame

    def _skip_next(self) -> bool:
        """Decode the frame at ``self._next`` without converting it; False at the end of data."""
        if not self._cap.grab():
            return False
        self._next += 1
        return True

    def _index_of_current(self) -> Optional[int]:
        """Index of the frame just decoded, found by its timestamp (None if no entry matches)."""
        t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 - (self._t0 or 0.0) + self._pts[0]
        k = bisect.bisect_left(self._pts, t)
        for j in (k - 1, k):
            if 0 <= j < len(self._pts) and abs(self._pts[j] - t) <= self._tolerance:
                return j
        return None

    def _decode_at(self, i: int) -> np.ndarray:
        if self._cap is None:
            raise InputError(f"{self.path}: the source is closed")
        if not self._decode_through(i):
            self._seek_before(i)
            landed = self._cache.get(i)
            if landed is not None:
                return landed
        while self._next < i:
            if not self._skip_next():
                self._hit_end(i)
        frame = self._decode_next()
        if frame is None:
            self._hit_end(i)
        return frame

    def _decode_through(self, i: int) -> bool:
        """True when reaching ``i`` by decoding forward from ``self._next`` beats a seek."""
        if i < self._next:
            return False
        if i - self._next <= self.FORWARD_DECODE:
            return True
        # No keyframe in (next, i]: any seek lands on a keyframe at or before ``next``.
        k = bisect.bisect_right(self._keyframes, self._next)
        return k >= len(self._keyframes) or self._keyframes[k] > i

    def _seek_before(self, i: int) -> None:
        """Position the decoder so that ``self._next <= i`` and ``self._next`` is exact.

        When the seek lands exactly on ``i`` that frame is decoded and cached.
        """
        back = 0
        while True:
            start = i - back
            if start <= self.FORWARD_DECODE:  # near the start, decoding from 0 is as cheap
                self._rewind()
                return
            # OpenCV seeks to a keyframe before time*fps and decodes up to it.
            self._cap.set(cv2.CAP_PROP_POS_MSEC, (self._pts[start] - self._pts[0]) * 1000.0)
            if self._cap.grab():
                j = self._index_of_current()
                if j is not None and j <= i:
                    self._next = j + 1
                    if j == i:
                        ok, bgr = self._cap.retrieve()
                        if ok:
                            self._cache.put(i, to_rgb_uint8(bgr, "BGR"))
                        else:
                            self._rewind()
                    return
            back = max(2 * back, 8)

    def _rewind(self) -> None:
        # Reopening is the one start position that is exact for every container.
        self._open_capture()
        self._next = 0

    @property
    def timestamps(self) -> np.ndarray:
        """(frame_count,) float64 seconds from the first frame, from the packets' timestamps."""
        pts = np.asarray(self._pts[:self.frame_count], np.float64)
        return pts - pts[0] if pts.size else pts

    @property
    def announced_frame_count(self) -> int:
        """Frames the container claims to hold (more than ``frame_count`` when truncated)."""
        return max(self.header_frame_count, len(self._pts)) if self.truncated else self.frame_count

    def _hit_end(self, i: int) -> None:
        """The decoder ran out of data at ``self._next`` before reaching frame ``i``."""
        if self._next < self.frame_count:
            self.truncated = True
            self.frame_count = self._next
        self._raise_truncated(i)

    def _raise_truncated(self, i: int) -> None:
        raise InputError(f"{self.path}: frame {i} cannot be decoded: the file ends after "
                         f"{self.frame_count} frames although its header announces "
                         f"{self.announced_frame_count}; it is probably truncated (an "
                         f"interrupted download or copy)")

    def _find_decodable_end(self) -> None:
        """For a file known to be cut short: count the frames a sequential decode delivers.

        Sequential decoding is the reference (iteration must yield exactly these frames);
        near a damaged packet a decode started after a seek may deliver a different number.
        Only damaged files pay for this full pass (grab only, no colour conversion).
        """
        self._rewind()
        while self._skip_next():
            pass
        self.frame_count = min(self.frame_count, self._next)
        self._rewind()
