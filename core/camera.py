"""Scaled orthographic cameras (the seeds' camera model) and rotation helpers.

Projection: ``p = s * R[:2] @ X + t`` (pixels, origin top-left, x right, y down).
Camera space is right-handed with x right, y down and z pointing *away* from the
viewer, so the projected depth ``d = s * R[2] @ X`` grows with distance: smaller
depth = closer to the camera. Model space has y up and the face looking down +z,
so a frontal face has ``R = diag(1, -1, -1)`` (see ``FRONTAL``).
Angles are radians here; the UI converts to degrees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rotation of a face looking straight at the camera (model y up -> image y down).
FRONTAL = np.diag([1.0, -1.0, -1.0])


@dataclass
class OrthoCamera:
    """One frame's scaled orthographic camera: ``p = scale * rotation[:2] @ X + translation``.

    scale : float   pixels per model unit (cm)
    rotation : (3, 3) float64   proper rotation, model -> camera
    translation : (2,) float64  pixels
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        self.scale = float(self.scale)
        self.rotation = np.asarray(self.rotation, np.float64)
        self.translation = np.asarray(self.translation, np.float64)

    def project(self, X: np.ndarray) -> np.ndarray:
        """Model-space points X (..., N, 3) -> (..., N, 3) float64: x_px, y_px, depth_px."""
        return project(X, self.scale, self.rotation, self.translation)

    def scaled(self, k: float) -> "OrthoCamera":
        """The same view of an image resized by ``k`` (pixels, depth and scale times k)."""
        return OrthoCamera(self.scale * k, self.rotation, self.translation * k)

    def copy(self) -> "OrthoCamera":
        """A copy that shares no array with this camera."""
        return OrthoCamera(self.scale, self.rotation.copy(), self.translation.copy())


@dataclass
class OrthoCameras:
    """Per-frame scaled orthographic cameras.

    scale : (F,) float   pixels per model unit (cm)
    rotation : (F, 3, 3) float   proper rotations (det +1), model -> camera
    translation : (F, 2) float   pixels
    """

    scale: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    def __len__(self) -> int:
        return int(self.scale.shape[0])

    def project(self, X: np.ndarray, frame: int | None = None) -> np.ndarray:
        """Project model-space points. X (N,3) with ``frame``, or (F,N,3) -> (F,N,3).

        Returns x, y in pixels and depth (pixels, larger = farther) as the last axis.
        """
        if frame is not None:
            return self.camera(frame).project(X)
        return project(X, self.scale, self.rotation, self.translation)

    def camera(self, i: int) -> OrthoCamera:
        """Frame ``i``'s camera (float64 copies)."""
        return OrthoCamera(float(self.scale[i]), np.array(self.rotation[i], np.float64),
                           np.array(self.translation[i], np.float64))


def project(X: np.ndarray, scale, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Scaled orthographic projection with depth.

    X : (N, 3) or (F, N, 3); scale scalar or (F,); rotation (3, 3) or (F, 3, 3);
    translation (2,) or (F, 2). Returns (..., N, 3): x_px, y_px, depth.
    """
    X = np.asarray(X)
    R = np.asarray(rotation)
    s = np.asarray(scale, dtype=np.float64)
    t = np.asarray(translation)
    if R.ndim == 2:
        out = s * (X @ R.T)
        out[..., :2] += t
        return out
    # batched matmul (broadcasts an (N, 3) X over the frames): several times faster than einsum
    out = s[:, None, None] * np.matmul(X, R.transpose(0, 2, 1))
    out[..., :2] += t[:, None, :]
    return out


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation from angles (radians) applied to a frontal face.

    yaw about the model's y axis (turn left/right), pitch about x (nod),
    roll about z (tilt); returns ``FRONTAL @ Rz(roll) @ Rx(pitch) @ Ry(yaw)``.
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return FRONTAL @ Rz @ Rx @ Ry


def matrix_to_euler(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`euler_to_matrix`: (yaw, pitch, roll) in radians."""
    M = FRONTAL.T @ np.asarray(R, dtype=np.float64)  # = Rz Rx Ry
    pitch = float(np.arcsin(np.clip(M[2, 1], -1.0, 1.0)))
    roll = float(np.arctan2(-M[0, 1], M[1, 1]))
    yaw = float(np.arctan2(-M[2, 0], M[2, 2]))
    return yaw, pitch, roll


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """The proper rotation closest to a 3x3 matrix (SVD, det fixed to +1)."""
    U, _, Vt = np.linalg.svd(M)
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt))
    return U @ D @ Vt
