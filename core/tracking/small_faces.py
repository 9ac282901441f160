"""Finding faces that are too small for MediaPipe's detector in the whole frame.

MediaPipe's face detector sees the frame letterboxed to 128 x 128, so a face
that is small in a large or tall frame (a full-body shot) is missed, although
the same face is found at once in a square crop around it. When the whole frame
has no face, ``CropFallback`` looks in square crops (the largest squares along
the long side, then half-size squares on a 3 x 3 grid), keeps the crop that
worked and tracks in it while the face stays there (re-centring it as the face
moves). Landmarks are mapped back to full-frame pixels; z stays on the x scale.

A search that finds nothing is repeated only every ``SEARCH_EVERY`` frames, so
footage without any face costs little more than the plain detector.
"""
from __future__ import annotations

import numpy as np

from core.tracking.landmarker import FrameFaces, Landmarker

#: Frames between two crop searches when no face is found anywhere.
SEARCH_EVERY = 15


def candidate_crops(height: int, width: int) -> list[tuple[int, int, int]]:
    """Square crops ``(y0, x0, side)`` to search, largest first."""
    crops = []
    side = min(height, width)
    if max(height, width) > 1.15 * side:            # not square: slide along the long side
        for pos in np.linspace(0, max(height, width) - side, 3):
            p = int(round(pos))
            crops.append((p, 0, side) if height > width else (0, p, side))
    half = side // 2
    if half >= 96:
        for y in np.linspace(0, height - half, 3):
            for x in np.linspace(0, width - half, 3):
                crops.append((int(round(y)), int(round(x)), half))
    return crops


def _shift(faces: FrameFaces, y0: int, x0: int) -> FrameFaces:
    lm = faces.landmarks.copy()
    lm[..., 0] += x0
    lm[..., 1] += y0
    return FrameFaces(lm, faces.blendshapes, faces.pose)


class CropFallback:
    """Small-face search and tracking in crops, for frames where the whole frame had no face.

    ``video`` selects MediaPipe's running mode, as for ``Landmarker``.
    """

    def __init__(self, video: bool = True):
        self.video = video
        self._lm: Landmarker | None = None
        self.crop: tuple[int, int, int] | None = None
        self._next_search = 0

    def _run(self, frame: np.ndarray, crop: tuple[int, int, int], ts: int | None) -> FrameFaces:
        if self._lm is None:
            self._lm = Landmarker(video=self.video)
        y0, x0, side = crop
        faces = self._lm.detect(frame[y0:y0 + side, x0:x0 + side], ts)
        return _shift(faces, y0, x0) if faces.count else faces

    def detect(self, frame: np.ndarray, frame_index: int, timestamp_ms: int | None = None) -> FrameFaces:
        """Faces found in crops of ``frame`` (RGB uint8 (H, W, 3)), in full-frame pixels."""
        if self.crop is not None:
            faces = self._run(frame, self.crop, timestamp_ms)
            if faces.count:
                self._recentre(faces, frame.shape)
                return faces
            self.crop = None
        if frame_index < self._next_search:
            return FrameFaces.empty()
        for crop in candidate_crops(frame.shape[0], frame.shape[1]):
            faces = self._run(frame, crop, timestamp_ms)
            if faces.count:
                self.crop = crop
                self._recentre(faces, frame.shape)
                return faces
        self._next_search = frame_index + SEARCH_EVERY
        return FrameFaces.empty()

    def _recentre(self, faces: FrameFaces, shape: tuple[int, ...]) -> None:
        """Keep the crop centred on the (first) face; move it only when the face has
        drifted by more than an eighth of the crop, so MediaPipe's own frame-to-frame
        tracking inside the crop is rarely disturbed."""
        y0, x0, side = self.crop
        cx, cy = faces.landmarks[0, :, :2].mean(axis=0)
        if abs(cx - (x0 + side / 2)) <= side / 8 and abs(cy - (y0 + side / 2)) <= side / 8:
            return
        y0 = int(np.clip(round(cy - side / 2), 0, shape[0] - side))
        x0 = int(np.clip(round(cx - side / 2), 0, shape[1] - side))
        self.crop = (y0, x0, side)

    @property
    def used(self) -> bool:
        return self._lm is not None

    def close(self) -> None:
        """Release the crop search's landmarker."""
        if self._lm is not None:
            self._lm.close()
            self._lm = None
