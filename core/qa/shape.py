"""How close is a reconstructed 3D face to a known one? Scan-to-mesh distance, NoW-style.

The ground truth is a set of surface points (a scan: e.g. the vertices of a face of another
model, rendered and reconstructed); the prediction is a triangle mesh. The prediction is
brought into the scan's frame by a similarity fitted on corresponding landmarks (the inner
51 iBUG points: jaw-line conventions differ between models), then refined by ICP (a
similarity again, each scan point paired with its closest point on the predicted surface,
pairs beyond 3x the median distance dropped). The error of each scan point is its distance
to the aligned predicted surface.

Units are the scan's (the prediction is scaled into them by the similarity). Arrays:
scan (P, 3); vertices (N, 3); triangles (T, 3) int; landmarks (K, 3) pairs in each frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model.geometry import closest_points_on_mesh, similarity_3d


@dataclass
class ShapeError:
    """distances (P,) per scan point; median/mean; the similarity (s, R (3, 3), t) that maps the
    predicted mesh into the scan's frame."""

    distances: np.ndarray
    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    @property
    def median(self) -> float:
        return float(np.median(self.distances))

    @property
    def mean(self) -> float:
        return float(np.mean(self.distances))


def scan_to_mesh(scan: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                 scan_landmarks: np.ndarray, mesh_landmarks: np.ndarray, icp_iterations: int = 10) -> ShapeError:
    """Align the mesh to the scan (landmark similarity, then ICP) and measure each scan point's
    distance to the aligned mesh surface (see module docstring)."""
    P = np.asarray(scan, np.float64)
    V = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64)
    s, R, t = similarity_3d(np.asarray(mesh_landmarks, np.float64), np.asarray(scan_landmarks, np.float64))
    d = None
    for it in range(icp_iterations + 1):
        Va = s * V @ R.T + t
        ti, bary, d = closest_points_on_mesh(P, Va, tri)
        if it == icp_iterations:
            break
        keep = d <= 3.0 * np.median(d) + 1e-12
        q = np.einsum("pc,pcd->pd", bary[keep], V[tri[ti[keep]]])          # on the unaligned mesh
        s, R, t = similarity_3d(q, P[keep])
    return ShapeError(distances=d, scale=s, rotation=R, translation=t)


def view_spread(shapes: np.ndarray) -> float:
    """Spread of several estimates of one face's shape (V, N, 3) (same topology, e.g. the
    neutral identity fitted from V different views): each is similarity-aligned to their
    mean (twice, the mean re-estimated), then the RMS over vertices and views of the
    distance to the mean shape. In the shapes' units."""
    S = np.asarray(shapes, np.float64)
    mean = S.mean(0)
    for _ in range(2):
        aligned = []
        for X in S:
            s, R, t = similarity_3d(X, mean)
            aligned.append(s * X @ R.T + t)
        A = np.array(aligned)
        mean = A.mean(0)
    return float(np.sqrt(((A - mean[None]) ** 2).sum(-1).mean()))
