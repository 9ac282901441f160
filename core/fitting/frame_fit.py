"""Per-frame fit for live use: identity fixed, expression and camera per frame.

Everything that does not depend on the frame is precomputed once: the identity
shape at the points and the nine matrices sum_l p_l B_l[a]^T B_l[b], so a frame's
expression normal equations cost O(Ke^2) to build for any number of points
(R[:2]^T R[:2] = I - r3 r3^T). Per frame: camera from the previous expression
(Gauss-Newton from the previous camera), then a bounded expression solve
(projected Newton, :func:`core.fitting.qp.solve_box_qp`), ``frame_iterations`` times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis
from core.fitting.camera_fit import fit_cameras, gauss_newton_step
from core.fitting.priors import prior_weights
from core.fitting.qp import solve_box_qp
from core.fitting.settings import FitSettings


@dataclass
class FrameFit:
    """One frame's result: expression (Ke,), scale, rotation (3, 3), translation (2,), error_px."""

    expression: np.ndarray
    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    error_px: float


class FrameFitter:
    """Fits one frame at a time with a fixed identity; keeps the previous frame as seed.

    basis : L-point basis; identity : (Ki,); point_weights : (L,) >= 0;
    expression_bounds : (Ke, 2).
    """

    def __init__(self, basis: LandmarkBasis, identity: np.ndarray, point_weights: np.ndarray,
                 expression_bounds: np.ndarray, settings: FitSettings | None = None,
                 prior_mask: np.ndarray | None = None):
        s = settings or FitSettings()
        #: (Ke,) 1 for the shapes the tracker-score prior applies to (those with a tracker score)
        self.prior_mask = np.ones(expression_bounds.shape[0]) if prior_mask is None else np.asarray(prior_mask, float)
        self.settings = s
        self.basis = basis
        p = np.asarray(point_weights, np.float64)
        self.p = p * (s.effective_points / max(p.sum(), 1e-12)) / s.landmark_sigma_cm ** 2
        self.X0 = basis.points(identity, None)  # (L, 3)
        B = basis.expression
        self.Bflat = B.reshape(B.shape[0], -1)  # (Ke, 3L)
        self.C = np.einsum("l,kla,mlb->abkm", self.p, B, B, optimize=True).reshape(9, B.shape[0], B.shape[0])
        self.lb = expression_bounds[:, 0].astype(np.float64)
        self.ub = expression_bounds[:, 1].astype(np.float64)
        self.prev_expression: np.ndarray | None = None
        self.prev_camera: OrthoCameras | None = None

    def reset(self) -> None:
        """Forget the previous frame (call after a track loss)."""
        self.prev_expression = None
        self.prev_camera = None

    def fit(self, obs: np.ndarray, weight: np.ndarray | None = None,
            seed_expression: np.ndarray | None = None, prior_expression: np.ndarray | None = None) -> FrameFit:
        """Fit one frame: obs (L, 2) pixels; weight (L,) extra per-point factor (e.g. 0 for
        missing); seed_expression (Ke,) e.g. mapped tracker blendshapes, used when there is
        no previous frame; prior_expression (Ke,) centre of the tracker-score prior
        (core/fitting/priors.py; used when ``tracker_prior`` > 0)."""
        s = self.settings
        Ke = self.lb.shape[0]
        obs = np.asarray(obs, np.float64)
        if weight is None:
            w = self.p
            C = self.C
        else:
            w = self.p * weight
            B = self.basis.expression
            C = np.einsum("l,kla,mlb->abkm", w, B, B, optimize=True).reshape(9, Ke, Ke)
        if self.prev_expression is not None:
            e = self.prev_expression.copy()
            prior_center, prior_w = self.prev_expression, s.frame_temporal_prior
        else:
            e = np.clip(np.zeros(Ke) if seed_expression is None else np.nan_to_num(seed_expression), self.lb, self.ub)
            prior_center, prior_w = None, 0.0
        if (w > 0).sum() < 4:
            raise ValueError("fewer than 4 usable points in this frame")
        if self.prev_camera is None:
            X = self.X0 + (e @ self.Bflat).reshape(self.X0.shape)
            cam, _ = fit_cameras(X, obs[None], w[None], iterations=3)
            sc, R, t = float(cam.scale[0]), cam.rotation[0], cam.translation[0]
        else:
            sc, R, t = self.prev_camera
        for _ in range(max(1, s.frame_iterations)):
            X = self.X0 + (e @ self.Bflat).reshape(self.X0.shape)
            sc, R, t = _camera_step(X, obs, w, sc, R, t)
            P = np.eye(3) - np.outer(R[2], R[2])
            H = np.tensordot(P.ravel(), C, axes=1)
            y = (obs - t) / sc
            b = y - self.X0 @ R[:2].T
            u = (w[:, None] * (b @ R[:2])).ravel()
            g = self.Bflat @ u
            if prior_expression is not None and s.tracker_prior > 0:
                wp = prior_weights(np.diag(H), s.tracker_prior, s.tracker_prior_floor, self.prior_mask)
                H = H + np.diag(wp)
                g = g + wp * np.nan_to_num(prior_expression)
            H = H + s.expression_prior * np.eye(Ke)
            if prior_center is not None:
                H = H + prior_w * np.eye(Ke)
                g = g + prior_w * prior_center
            e = solve_box_qp(H, g, self.lb, self.ub, x0=e, max_iter=15, tol=1e-6)
        X = self.X0 + (e @ self.Bflat).reshape(self.X0.shape)
        # one more camera step for the final expression, so the reported error is consistent
        sc, R, t = _camera_step(X, obs, w, sc, R, t)
        proj = sc * X @ R[:2].T + t
        m = w > 0
        err = float(np.linalg.norm(proj[m] - obs[m], axis=1).mean())
        self.prev_expression = e
        self.prev_camera = (sc, R, t)
        return FrameFit(e, sc, R.copy(), t.copy(), err)


#: the largest rotation (rad) one camera step may make (a tracked head turns far less between frames)
MAX_ROTATION_STEP = 0.35


def _rodrigues(v: np.ndarray) -> np.ndarray:
    th = float(np.sqrt(v @ v))
    if th < 1e-12:
        return np.eye(3)
    k = v / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)


def _camera_step(X: np.ndarray, obs: np.ndarray, w: np.ndarray, s: float, R: np.ndarray, t: np.ndarray):
    """One weighted Gauss-Newton step of the SOP camera (camera_fit.gauss_newton_step, one frame).

    The step is bounded: the scale changes by at most a factor of 2 and the rotation by at most
    MAX_ROTATION_STEP (rad). Far from the points (a fit correction's pin dragged 300 px off a
    150 px face) the linearised step overshoots, and an unbounded one flipped the scale's sign:
    a mirrored head, saved into the project, which no reader then accepts."""
    d = gauss_newton_step(X[None], obs[None], np.asarray(w, np.float64)[None], np.array([s], np.float64),
                          R[None], np.asarray(t, np.float64)[None])[0]
    rot = d[:3]
    angle = float(np.sqrt(rot @ rot))
    if angle > MAX_ROTATION_STEP:
        rot = rot * (MAX_ROTATION_STEP / angle)
    return float(np.clip(s + d[3], 0.5 * s, 2.0 * s)), _rodrigues(rot) @ R, t + d[4:]
