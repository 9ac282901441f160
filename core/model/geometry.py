"""Small geometry helpers of the model package, with no model imports of their own (so any
module of core.model can use them without an import cycle).

Arrays: points (N, 3) in any one unit.
"""
from __future__ import annotations

import numpy as np


def similarity_3d(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: s, R (3, 3), t minimising sum_i w_i ||dst_i - (s R src_i + t)||² (src, dst (N, 3);
    ``weights`` (N,) >= 0, default all equal)."""
    w = np.full(len(src), 1.0 / len(src)) if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    ms, md = w @ src, w @ dst
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd((b * w[:, None]).T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    R = u @ np.diag(d) @ vt
    s = (sig * d).sum() / (w @ (a ** 2).sum(1))
    return float(s), R, md - s * R @ ms


def closest_point_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentrics (M, 3) of the closest points to p (M, 3) on triangles (a, b, c) (M, 3) each.

    Ericson's region tests (Real-Time Collision Detection, 5.1.5), vectorised.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    out = np.zeros((len(p), 3))
    done = np.zeros(len(p), bool)

    def put(mask, bary):
        m = mask & ~done
        out[m] = bary[m]
        done[m] = True

    one = np.ones(len(p))
    zero = np.zeros(len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        put((d1 <= 0) & (d2 <= 0), np.stack([one, zero, zero], 1))
        put((d3 >= 0) & (d4 <= d3), np.stack([zero, one, zero], 1))
        put((d6 >= 0) & (d5 <= d6), np.stack([zero, zero, one], 1))
        v = d1 / (d1 - d3)
        put((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - v, v, zero], 1))
        w = d2 / (d2 - d6)
        put((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - w, zero, w], 1))
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        put((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([zero, 1 - w, w], 1))
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        put(np.ones(len(p), bool), np.stack([1 - v - w, v, w], 1))
    return np.nan_to_num(out, nan=1.0 / 3.0)


def closest_points_on_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                           candidates: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface point of each of ``points`` (P, 3) on a triangle mesh.

    Returns triangle index (P,) into ``triangles``, barycentrics (P, 3) and distance (P,).
    Only the ``candidates`` triangles with the nearest centroids are tested, which is exact
    for meshes whose triangles are small compared with the point-surface distances.
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    p = np.asarray(points, np.float64)
    k = min(candidates, len(triangles))
    _, near = cKDTree(v[triangles].mean(1)).query(p, k=k)
    near = near.reshape(len(p), k)
    flat = near.ravel()
    pp = np.repeat(p, k, axis=0)
    tri = triangles[flat]
    bary = closest_point_on_triangles(pp, v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]])
    q = np.einsum("mc,mcd->md", bary, v[tri])
    dist = np.linalg.norm(q - pp, axis=1).reshape(len(p), k)
    best = dist.argmin(1)
    rows = np.arange(len(p))
    return (near[rows, best].astype(np.int32), bary.reshape(len(p), k, 3)[rows, best].astype(np.float32),
            dist[rows, best])
