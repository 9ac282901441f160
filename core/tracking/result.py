"""TrackResult: what the face tracker produces for a clip.

Coordinates: pixels of the (rotation-corrected) frame, origin top-left, x right,
y down. ``landmarks[..., 2]`` is MediaPipe's relative depth scaled to pixels
(same scale as x; smaller = closer to the camera).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.npz_io import load_npz_checked, save_npz_atomic

N_LANDMARKS = 478
N_BLENDSHAPES = 52


@dataclass
class TrackResult:
    """Per-frame tracking of one face over a clip of F frames.

    Attributes
    ----------
    landmarks : (F, 478, 3) float32
        Landmarks used downstream: filtered when a temporal filter ran, else raw.
        Frames that are not ``valid`` hold NaN.
    landmarks_raw : (F, 478, 3) float32
        The detector's own output, never filtered (bridged frames: interpolated).
    valid : (F,) bool
        True where the landmarks can be used (detected or bridged).
    bridged : (F,) bool
        True where the face was not detected and the values were interpolated
        across a short loss.
    segment : (F,) int32
        Track segment id (0, 1, ...); a long loss splits the track. -1 where invalid.
    blendshapes : (F, 52) float32
        MediaPipe's ARKit blendshape scores in [0, 1]; NaN where invalid.
    blendshape_names : (52,) str
    pose : (F, 4, 4) float32
        MediaPipe's facial transformation matrix (canonical face -> camera space, cm).
    fps : float
    size : (2,) int  (H, W)
    n_faces : (F,) int16
        Faces the detector saw in each frame (for QA of multi-face footage).
    """

    landmarks: np.ndarray
    valid: np.ndarray
    blendshapes: np.ndarray
    blendshape_names: np.ndarray
    pose: np.ndarray
    fps: float
    size: tuple[int, int]
    landmarks_raw: np.ndarray | None = None
    bridged: np.ndarray | None = None
    segment: np.ndarray | None = None
    n_faces: np.ndarray | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        F = int(self.landmarks.shape[0])
        if self.landmarks_raw is None:
            self.landmarks_raw = self.landmarks.copy()
        if self.bridged is None:
            self.bridged = np.zeros(F, bool)
        if self.segment is None:
            self.segment = np.where(self.valid, 0, -1).astype(np.int32)
        if self.n_faces is None:
            self.n_faces = self.valid.astype(np.int16)

    @property
    def num_frames(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def tracked_fraction(self) -> float:
        return float(self.valid.mean()) if self.num_frames else 0.0

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The result as named arrays (what ``save`` writes and project files hold)."""
        return dict(
            landmarks=self.landmarks.astype(np.float32),
            landmarks_raw=self.landmarks_raw.astype(np.float32),
            valid=self.valid.astype(bool),
            bridged=self.bridged.astype(bool),
            segment=self.segment.astype(np.int32),
            blendshapes=self.blendshapes.astype(np.float32),
            blendshape_names=np.asarray(self.blendshape_names, dtype=str),
            pose=self.pose.astype(np.float32),
            fps=np.float64(self.fps),
            size=np.asarray(self.size, dtype=np.int64),
            n_faces=self.n_faces.astype(np.int16),
            source=np.asarray(str(self.source)),
        )

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], where: str) -> "TrackResult":
        """Inverse of :meth:`to_arrays`; InputError naming ``where`` when arrays are missing or
        their shapes do not fit together."""
        missing = [k for k in ("landmarks", "valid", "blendshapes", "blendshape_names", "pose", "fps", "size")
                   if k not in data]
        if missing:
            raise InputError(f"{where}: missing track arrays {', '.join(missing)}")
        F = data["landmarks"].shape[0] if data["landmarks"].ndim else -1
        if data["landmarks"].shape[1:] != (N_LANDMARKS, 3) or data["valid"].shape != (F,):
            raise InputError(f"{where}: not a track result (landmarks {data['landmarks'].shape}, "
                             f"valid {data['valid'].shape})")
        return cls(
            landmarks=data["landmarks"], valid=data["valid"].astype(bool),
            blendshapes=data["blendshapes"], blendshape_names=data["blendshape_names"].astype(str),
            pose=data["pose"], fps=float(data["fps"]), size=tuple(int(v) for v in data["size"]),
            landmarks_raw=data.get("landmarks_raw"), bridged=data.get("bridged"),
            segment=data.get("segment"), n_faces=data.get("n_faces"),
            source=str(data["source"]) if "source" in data else "",
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (no pickle) atomically: temp file in the same folder, then rename."""
        save_npz_atomic(Path(path), self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrackResult":
        """Read a ``.npz`` written by :meth:`save`; InputError naming the file when it is not a track result."""
        path = Path(path)
        return cls.from_arrays(load_npz_checked(path), str(path))
