"""GL-style view and projection matrices for the perspective path of the renderer.

Matrices are (4, 4) float64 acting on column vectors. The view matrix maps world
points to eye space where the camera looks down -z with y up (OpenGL convention);
the renderer reports depth as the eye-space distance ``-z_eye`` in world units.
Angles are radians.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ViewCamera:
    """view : (4, 4) world -> eye; projection : (4, 4) eye -> clip (GL conventions)."""

    view: np.ndarray
    projection: np.ndarray

    def eye_position(self) -> np.ndarray:
        """Camera centre in world space (3,)."""
        return np.linalg.inv(self.view)[:3, 3]

    def is_perspective(self) -> bool:
        """Whether the projection is perspective (else orthographic)."""
        return bool(abs(self.projection[3, 2]) > 1e-12)

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """World points (N, 3) -> (N, 3): x_px, y_px (pixel centres at integers, y down) and
        eye-space depth, i.e. what the renderer rasterises."""
        p = np.asarray(points, np.float64)
        eye = p @ self.view[:3, :3].T + self.view[:3, 3]
        clip = np.c_[eye, np.ones(len(p))] @ self.projection.T
        ndc = clip[:, :3] / clip[:, 3:4]
        x = (ndc[:, 0] + 1) * 0.5 * width - 0.5
        y = (1 - ndc[:, 1]) * 0.5 * height - 0.5
        return np.c_[x, y, -eye[:, 2]]


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World -> eye matrix of a camera at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    r = np.cross(f, up)
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = r, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fov_y: float, aspect: float, near: float, far: float) -> np.ndarray:
    """Standard GL perspective projection. fov_y in radians, aspect = width / height."""
    f = 1.0 / np.tan(fov_y / 2.0)
    m = np.zeros((4, 4))
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def orthographic(half_width: float, half_height: float, near: float, far: float) -> np.ndarray:
    """GL orthographic projection of the eye-space box [-hw, hw] x [-hh, hh] x [-far, -near]."""
    m = np.eye(4)
    m[0, 0] = 1.0 / half_width
    m[1, 1] = 1.0 / half_height
    m[2, 2] = -2.0 / (far - near)
    m[2, 3] = -(far + near) / (far - near)
    return m
