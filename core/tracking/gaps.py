"""Track-loss handling after the fact: bridging short gaps inside a segment.

A gap is a run of frames where the followed face was not detected. A gap of at
most K frames between two detections of the same segment is filled by
interpolation (landmarks and blendshapes linearly, pose by rotation slerp plus
linear translation) and flagged as bridged. Longer gaps have already split the
track into segments (``core.tracking.selection``) and stay invalid: NaN values,
``valid`` False, segment -1.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from core.tracking.selection import MAX_BRIDGE_FRAMES


def find_gaps(detected: np.ndarray, segment: np.ndarray, max_len: int = MAX_BRIDGE_FRAMES
              ) -> list[tuple[int, int]]:
    """Bridgeable gaps as ``(last_detected, next_detected)`` frame pairs: both ends
    detected, same segment, and at most ``max_len`` frames missing between them.

    detected : (F,) bool; segment : (F,) int (segment of each detected frame)
    """
    idx = np.flatnonzero(detected)
    gaps = []
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_len + 1 and segment[a] == segment[b]:
            gaps.append((int(a), int(b)))
    return gaps


def _interp_pose(pa: np.ndarray, pb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Interpolate 4x4 similarity transforms ``pa`` -> ``pb`` at weights ``w`` (m,) in (0, 1)."""
    sa = np.cbrt(np.linalg.det(pa[:3, :3]))
    sb = np.cbrt(np.linalg.det(pb[:3, :3]))
    rots = Rotation.from_matrix(np.stack([pa[:3, :3] / sa, pb[:3, :3] / sb]))
    r = Slerp([0.0, 1.0], rots)(w).as_matrix()
    s = (1 - w) * sa + w * sb
    out = np.zeros((len(w), 4, 4), np.float64)
    out[:, :3, :3] = r * s[:, None, None]
    out[:, :3, 3] = (1 - w)[:, None] * pa[:3, 3] + w[:, None] * pb[:3, 3]
    out[:, 3, 3] = 1.0
    return out


def bridge_gaps(landmarks: np.ndarray, blendshapes: np.ndarray, pose: np.ndarray,
                detected: np.ndarray, segment: np.ndarray, max_len: int = MAX_BRIDGE_FRAMES
                ) -> np.ndarray:
    """Fill bridgeable gaps in place. Returns ``bridged`` (F,) bool; the caller sets
    ``valid = detected | bridged`` and copies the segment id into bridged frames.

    landmarks : (F, 478, 3); blendshapes : (F, 52); pose : (F, 4, 4); NaN where not detected.
    """
    bridged = np.zeros(len(detected), bool)
    for a, b in find_gaps(detected, segment, max_len):
        w = (np.arange(a + 1, b) - a) / float(b - a)
        landmarks[a + 1:b] = (1 - w)[:, None, None] * landmarks[a] + w[:, None, None] * landmarks[b]
        blendshapes[a + 1:b] = (1 - w)[:, None] * blendshapes[a] + w[:, None] * blendshapes[b]
        if np.isfinite(pose[a]).all() and np.isfinite(pose[b]).all():
            pose[a + 1:b] = _interp_pose(pose[a].astype(np.float64), pose[b].astype(np.float64), w)
        segment[a + 1:b] = segment[a]
        bridged[a + 1:b] = True
    return bridged
