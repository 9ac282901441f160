"""Finding faces that are too small for MediaPipe's landmarker in the whole frame.

MediaPipe's FaceLandmarker runs its face detector on the frame letterboxed to 128 x 128,
so a face under ~15 % of the frame's long side is missed (a speaker at a podium in a
1024 x 817 photo, 150 px high; a full-body shot; a 64 px face in a 4K frame), although the
same face is found at once in a crop around it. When the whole frame has no face,
``CropFallback`` looks for one:

1. ``FaceFinder`` runs MediaPipe's own face detector (the ``face_detector.tflite`` inside
   the landmarker bundle, so nothing extra to install) over a pyramid of square tiles:
   the frame's largest squares first, then tiles half as large, down to ``MIN_TILE`` px,
   consecutive tiles overlapping by 40 % of their side. The detector finds faces from
   about 15 % of its input (score 0.96 at 15 %, 0.67 at 10 %), so the 384 px tiles reach
   faces of about 60 px; each scale catches the faces the one above it is too coarse for.
2. The landmarker confirms each detection on a square crop ``CROP_FACTOR`` times the
   detected box around it (best score first, at most ``MAX_CONFIRM`` per scale): the detector
   alone takes busy backgrounds for faces (a dozen per scale on smooth colour noise, scores
   near 1). The search stops at the first
   scale with a confirmed face: the largest face is the one a person sees first. A 4K frame
   with no face takes ~250 detector calls (tiles of 2160, 1080, 540 and 384 px), about a
   second on the 2-core machine; a 1080p frame ~50.
3. The crop that gave a face is kept: the landmarker tracks in it while the face stays there
   (re-centring as the face moves). Landmarks are mapped back to full-frame pixels; z stays
   on the x scale.

A search that finds nothing is repeated after ``SEARCH_EVERY`` frames, then at doubling
intervals up to ``SEARCH_EVERY_MAX``, so footage without any face costs little more than
the plain landmarker.
"""
from __future__ import annotations

import zipfile

import numpy as np

from core.tracking.landmarker import FrameFaces, Landmarker, _native_stderr_silenced
from core.tracking.model_file import tracker_model_path

#: Frames between two crop searches after the first failed one (the interval then doubles).
SEARCH_EVERY = 15
SEARCH_EVERY_MAX = 240
#: Smallest search tile (px): faces down to ~15 % of it (58 px) are found.
MIN_TILE = 384
#: Step between neighbouring tiles, as a fraction of the tile side (0.6: 40 % overlap, so a
#: face up to 0.4 tile sides wide lies whole inside some tile).
TILE_STRIDE = 0.6
#: Detector score for a tile detection to count.
MIN_SCORE = 0.5
#: Landmarker crop side / detected face box side (the landmarker wants context around the face).
CROP_FACTOR = 3.0
#: Smallest landmarker crop (px).
MIN_CROP = 160
#: Detections confirmed with the landmarker per scale at most (best score first): on busy
#: backgrounds the detector reports a dozen false faces per scale, all near score 1.
MAX_CONFIRM = 12


def search_tiles(height: int, width: int, min_tile: int = MIN_TILE) -> list[list[tuple[int, int, int]]]:
    """Square tiles ``(y0, x0, side)`` per scale, largest scale first (see module docstring)."""
    scales = []
    side = min(height, width)
    while True:
        step = max(1, int(round(TILE_STRIDE * side)))
        ys = list(range(0, max(height - side, 0) + 1, step))
        xs = list(range(0, max(width - side, 0) + 1, step))
        if ys[-1] != height - side:
            ys.append(height - side)
        if xs[-1] != width - side:
            xs.append(width - side)
        scales.append([(y, x, side) for y in ys for x in xs])
        if side <= min_tile:
            break
        side = max(min_tile, side // 2)
    return scales


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


class FaceFinder:
    """MediaPipe's face detector over a pyramid of tiles (module docstring, step 1)."""

    def __init__(self, min_tile: int = MIN_TILE, min_score: float = MIN_SCORE):
        from mediapipe.tasks.python import BaseOptions, vision

        with zipfile.ZipFile(tracker_model_path()) as z:
            model = z.read("face_detector.tflite")
        opts = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_buffer=model),
                                          running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_score)
        with _native_stderr_silenced():
            self._det = vision.FaceDetector.create_from_options(opts)
        self.min_tile = min_tile
        #: detector calls made by the last :meth:`find` (for benches and tests)
        self.calls = 0

    def find(self, frame: np.ndarray):
        """Per scale, largest first, the face boxes ``(x0, y0, w, h, score)`` (n, 5) the detector
        finds in an RGB uint8 (H, W, 3) frame, in frame pixels, best score first, then largest
        (overlaps merged); scales without a detection are skipped. A generator: stop it when
        satisfied."""
        import mediapipe as mp

        H, W = frame.shape[:2]
        self.calls = 0
        for tiles in search_tiles(H, W, self.min_tile):
            boxes = []
            for y0, x0, side in tiles:
                tile = np.ascontiguousarray(frame[y0:y0 + side, x0:x0 + side])
                self.calls += 1
                # an inference whose input buffer LiteRT finds misaligned prints a native
                # warning to stderr (not only the first one: it depends on where the tile's
                # memory lands), which would run into a command's one-line message
                with _native_stderr_silenced():
                    res = self._det.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=tile))
                for d in res.detections:
                    bb = d.bounding_box
                    boxes.append((x0 + bb.origin_x, y0 + bb.origin_y, bb.width, bb.height, d.categories[0].score))
            if boxes:
                b = np.array(boxes, np.float64)
                b = b[np.lexsort((-(b[:, 2] * b[:, 3]), -np.round(b[:, 4], 2)))]
                keep: list[np.ndarray] = []
                for box in b:
                    if all(_iou(box, k) < 0.3 for k in keep):
                        keep.append(box)
                yield np.array(keep)

    def close(self) -> None:
        """Release the detector (idempotent)."""
        if self._det is not None:
            with _native_stderr_silenced():   # LiteRT logs its accelerators' teardown
                self._det.close()
            self._det = None


def crop_around(box: np.ndarray, height: int, width: int) -> tuple[int, int, int]:
    """Square landmarker crop ``(y0, x0, side)`` around a face box (x0, y0, w, h, ...)."""
    side = int(round(min(min(height, width), max(MIN_CROP, CROP_FACTOR * max(box[2], box[3])))))
    cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    return y0, x0, side


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
        self._finder: FaceFinder | None = None
        self.crop: tuple[int, int, int] | None = None
        self._next_search = 0
        self._interval = SEARCH_EVERY

    def _run(self, frame: np.ndarray, crop: tuple[int, int, int], ts: int | None) -> FrameFaces:
        if self._lm is None:
            self._lm = Landmarker(video=self.video)
        y0, x0, side = crop
        faces = self._lm.detect(np.ascontiguousarray(frame[y0:y0 + side, x0:x0 + side]), ts)
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
        if self._finder is None:
            self._finder = FaceFinder()
        H, W = frame.shape[:2]
        for boxes in self._finder.find(frame):
            for box in boxes[:MAX_CONFIRM]:
                crop = crop_around(box, H, W)
                faces = self._run(frame, crop, timestamp_ms)
                if faces.count:
                    # a false detection's crop may hold a real face, small in it: crop that face
                    p = faces.landmarks[0, :, :2]
                    size = float((p.max(0) - p.min(0)).max())
                    if size < REFINE_BELOW * crop[2]:
                        tight = crop_around(np.r_[p.min(0), p.max(0) - p.min(0)], H, W)
                        again = self._run(frame, tight, timestamp_ms)
                        if again.count:
                            crop, faces = tight, again
                    self.crop = crop
                    self._interval = SEARCH_EVERY
                    self._recentre(faces, frame.shape)
                    return faces
        self._next_search = frame_index + self._interval
        self._interval = min(SEARCH_EVERY_MAX, 2 * self._interval)
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
        if self._finder is not None:
            self._finder.close()
            self._finder = None


#: A face found in the whole frame narrower than this share of the frame's long side is found
#: again in a crop around it (stills): the whole frame's letterboxed detection gives the
#: landmarker a loose region for a small face (a 216 px face in a 4K frame: 7 px mean error,
#: 0.4 px from the crop).
REFINE_BELOW = 0.2


def refine_small_faces(frame: np.ndarray, faces: FrameFaces, landmarker: Landmarker) -> FrameFaces:
    """Each face of ``faces`` (found in the whole RGB ``frame``) that is small in the frame,
    landmarked again in a crop around it with ``landmarker`` (IMAGE mode); kept when the crop
    finds a face there."""
    H, W = frame.shape[:2]
    if faces.count == 0:
        return faces
    lm, bs, pose = faces.landmarks.copy(), faces.blendshapes.copy(), faces.pose.copy()
    for k in range(faces.count):
        p = faces.landmarks[k, :, :2]
        x0, y0 = p.min(0)
        w, h = p.max(0) - p.min(0)
        if max(w, h) >= REFINE_BELOW * max(H, W):
            continue
        crop = crop_around(np.array([x0, y0, w, h]), H, W)
        cy0, cx0, side = crop
        again = landmarker.detect(np.ascontiguousarray(frame[cy0:cy0 + side, cx0:cx0 + side]))
        if again.count == 0:
            continue
        again = _shift(again, cy0, cx0)
        j = int(np.argmin(np.linalg.norm(again.landmarks[:, :, :2].mean(1) - p.mean(0), axis=1)))
        if np.linalg.norm(again.landmarks[j, :, :2].mean(0) - p.mean(0)) < 0.25 * max(w, h):
            lm[k], bs[k], pose[k] = again.landmarks[j], again.blendshapes[j], again.pose[j]
    return FrameFaces(lm, bs, pose)
