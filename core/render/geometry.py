"""Mesh helpers for rendering: triangulation, normals, NMFC reference coordinates.

Triangles are ``(T, 3) int32`` vertex indices; vertices ``(N, 3)`` float in any
right-handed space (model space in cm, or screen space x_px, y_px, depth from
``core.camera.project``, which is also right-handed: x right, y down, z away).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def triangulate(faces: np.ndarray) -> np.ndarray:
    """Faces to triangles.

    faces : (F, 3) triangles, or (F, 4) quads where a 4th index of -1 marks a
    triangle (the ICT-FaceKit ``faces_quad`` layout). Quads ``a b c d`` are split
    into ``a b c`` and ``a c d``, which keeps their winding.
    Returns (T, 3) int32.
    """
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] not in (3, 4):
        raise ValueError(f"faces must be (F, 3) or (F, 4), got {faces.shape}")
    if faces.shape[1] == 3:
        return faces.astype(np.int32, copy=True)
    first = faces[:, [0, 1, 2]]
    quad = faces[:, 3] >= 0
    second = faces[quad][:, [0, 2, 3]]
    return np.concatenate([first, second]).astype(np.int32)


def face_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted triangle normals (not normalised). (N,3), (T,3) -> (T,3) float32.

    Points out of the side from which the triangle's corners run counter-clockwise
    in a right-handed frame.
    """
    v = np.asarray(vertices, np.float32)
    a, b, c = v[triangles[:, 0]], v[triangles[:, 1]], v[triangles[:, 2]]
    return np.cross(b - a, c - a)


class VertexNormals:
    """Smooth vertex normals of a fixed topology, recomputed cheaply per frame.

    The vertex-triangle incidence is a sparse (N, T) matrix built once, so a frame
    costs one cross product per triangle and one sparse product.
    """

    def __init__(self, triangles: np.ndarray, num_vertices: int):
        t = np.asarray(triangles, np.int64)
        rows = t.reshape(-1)
        cols = np.repeat(np.arange(t.shape[0]), 3)
        self.triangles = t
        self.incidence = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)),
                                       shape=(num_vertices, t.shape[0]))

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        """Unit normals (N, 3) float32 of ``vertices`` (N, 3) (zero for unused vertices)."""
        n = self.incidence @ face_normals(vertices, self.triangles)
        length = np.linalg.norm(n, axis=1, keepdims=True)
        return (n / np.maximum(length, 1e-12)).astype(np.float32)


def nmfc_reference(mean_vertices: np.ndarray, triangles: np.ndarray | None = None) -> np.ndarray:
    """Normalised mean-face coordinates, the constant NMFC texture (Head2Head++ Eq. 7.2).

    mean_vertices : (N, 3) the model's mean face (model space). Each axis is mapped
    to [0, 1] by the bounding box of the vertices that ``triangles`` use (all
    vertices when None), so a surface point keeps its colour across identities,
    expressions and poses. Returns (N, 3) float32.
    """
    m = np.asarray(mean_vertices, np.float64)
    used = m if triangles is None else m[np.unique(np.asarray(triangles))]
    lo, hi = used.min(axis=0), used.max(axis=0)
    return ((m - lo) / np.maximum(hi - lo, 1e-12)).astype(np.float32)


def nmfc_triangle_colours(reference: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """NMFC colour of each triangle: the centroid of its normalised corners. -> (T, 3) float32."""
    return np.asarray(reference, np.float32)[np.asarray(triangles)].mean(axis=1)


def front_facing(screen_vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Which triangles face the viewer in screen space (x right, y down, depth away).

    A triangle wound counter-clockwise seen from outside (the FaceModel convention)
    faces the viewer when its normal has a negative depth component.
    Returns (T,) bool.
    """
    return face_normals(screen_vertices, triangles)[:, 2] < 0
