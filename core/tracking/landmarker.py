"""A thin wrapper around MediaPipe's FaceLandmarker (Tasks API, mediapipe 1.2.2).

It turns MediaPipe's per-face Python objects into numpy arrays in image pixels:

- landmarks ``(n, 478, 3) float32``: x, y in pixels (origin top-left, x right,
  y down); z is MediaPipe's relative depth multiplied by the image width, since
  MediaPipe documents z on the same scale as x (smaller = closer to the camera);
- blendshapes ``(n, 52) float32``: ARKit scores in [0, 1], names in ``names``;
- pose ``(n, 4, 4) float32``: the facial transformation matrix (canonical face ->
  camera space, centimetres).

Faces are in the detector's own order; choosing which one to follow is the job of
``core.tracking.selection``.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from core.tracking.model_file import tracker_model_path
from core.tracking.result import N_BLENDSHAPES, N_LANDMARKS

# mediapipe's vision package imports matplotlib.pyplot; it must not pick a Qt backend.
os.environ.setdefault("MPLBACKEND", "Agg")

#: Set this environment variable to see MediaPipe's native start-up log lines.
LOGS_ENV_VAR = "FACESTUDIO_TRACKER_LOGS"

#: Faces asked from the detector per frame, so a followed face can be told from the others.
DEFAULT_NUM_FACES = 4


@dataclass
class FrameFaces:
    """Every face the detector found in one frame (n may be 0).

    landmarks : (n, 478, 3) float32, pixels (z scaled like x)
    blendshapes : (n, 52) float32
    pose : (n, 4, 4) float32
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray

    @property
    def count(self) -> int:
        return int(self.landmarks.shape[0])

    @classmethod
    def empty(cls) -> "FrameFaces":
        """No face in the frame."""
        return cls(np.zeros((0, N_LANDMARKS, 3), np.float32),
                   np.zeros((0, N_BLENDSHAPES), np.float32),
                   np.zeros((0, 4, 4), np.float32))


@contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment: MediaPipe's C++ side prints
    a dozen glog lines while it builds its graph, which would bury the command
    line's one-line summary or error. Python exceptions are unaffected."""
    if os.environ.get(LOGS_ENV_VAR):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Landmarker:
    """MediaPipe FaceLandmarker in VIDEO mode (clips, monotonic timestamps) or IMAGE mode (stills).

    Use as a context manager or call ``close()``: mediapipe 1.2.2 prints a
    TypeError at interpreter exit when a landmarker is left to ``__del__``.
    """

    def __init__(self, video: bool = True, num_faces: int = DEFAULT_NUM_FACES):
        from mediapipe.tasks.python import BaseOptions, vision

        self.video = video
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(tracker_model_path())),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=num_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _native_stderr_silenced():
            self._impl = vision.FaceLandmarker.create_from_options(options)
        self._last_ts = -1
        #: (52,) str: ARKit names of the blendshape columns, known after the first face.
        self.names: np.ndarray | None = None

    @property
    def blendshape_names(self) -> np.ndarray:
        """(52,) str: the blendshape columns' names (the ARKit order before the first face)."""
        return self.names if self.names is not None else BLENDSHAPE_NAMES

    def detect(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> FrameFaces:
        """Faces in one RGB uint8 (H, W, 3) frame. VIDEO mode needs ``timestamp_ms``;
        a timestamp not above the previous one is nudged forward (MediaPipe rejects it)."""
        import mediapipe as mp

        if self._impl is None:
            raise RuntimeError("Landmarker used after close()")
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame_rgb.dtype} {frame_rgb.shape}")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb))
        if self.video:
            if timestamp_ms is None:
                raise ValueError("VIDEO mode needs a timestamp in ms")
            ts = max(int(timestamp_ms), self._last_ts + 1)
            self._last_ts = ts
            result = self._impl.detect_for_video(image, ts)
        else:
            # stills and crops: LiteRT may print a native warning about the input buffer's
            # alignment (not in VIDEO mode, where fd 2 stays open for crash reports)
            with _native_stderr_silenced():
                result = self._impl.detect(image)
        return self._to_arrays(result, frame_rgb.shape[1], frame_rgb.shape[0])

    def _to_arrays(self, result, width: int, height: int) -> FrameFaces:
        n = len(result.face_landmarks)
        if n == 0:
            return FrameFaces.empty()
        lms = np.empty((n, N_LANDMARKS, 3), np.float32)
        for k, face in enumerate(result.face_landmarks):
            lms[k] = [(p.x, p.y, p.z) for p in face]
        # Normalised [0,1] -> pixels; z uses the width, as x does.
        lms *= np.array([width, height, width], np.float32)
        bs = np.full((n, N_BLENDSHAPES), np.nan, np.float32)
        for k, cats in enumerate(result.face_blendshapes or []):
            bs[k] = [c.score for c in cats]
            if self.names is None:
                self.names = np.array([c.category_name for c in cats], dtype=str)
        pose = np.full((n, 4, 4), np.nan, np.float32)
        for k, m in enumerate(result.facial_transformation_matrixes or []):
            pose[k] = np.asarray(m, np.float32).reshape(4, 4)
        return FrameFaces(lms, bs, pose)

    def close(self) -> None:
        """Release MediaPipe's landmarker."""
        if self._impl is not None:
            self._impl.close()
            self._impl = None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: MediaPipe's blendshape order (index 0 is ``_neutral``); used before any face was seen.
BLENDSHAPE_NAMES = np.array([
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
], dtype=str)
assert BLENDSHAPE_NAMES.shape == (N_BLENDSHAPES,)
