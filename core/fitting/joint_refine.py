"""Joint Gauss-Newton refinement of all cameras, the identity and every expression.

Replaces the alternation "shape with cameras fixed / cameras with shape fixed +
spline" of the whole-video fit, which converges slowly (camera and shape errors
trade off through many rounds) and whose camera spline has end effects.

Unknowns per frame f: a camera update c_f = (w_f, log-scale step, t step) --
rotation as a left perturbation R_f <- exp([w_f]x) R_f (3), log s_f (1), t_f
(pixels, 2) -- and the expression e_f (Ke); shared: the identity i (Ki).
Objective (cm units: pixel residuals over each frame's scale s0_f at the start of
the iteration, an IRLS-style fixed normaliser):

    sum_fl w_fl || (s_f R_f[:2] X_l(i, e_f) + t_f - x_fl) / s0_f ||^2
  + a_id ||i||^2 + a_exp sum ||e_f||^2 + a_t sum ||D2 e||^2
  + a_c sum_f || D2 [rho * rotvec, rho * log s, t / s_bar] ||^2       (within segments)

D2 is the second difference over three frames of one track segment (no end
effect: the first and last frames simply have fewer terms). The rotation's second
difference is log(R_{f+1} R_f^T) - log(R_f R_{f-1}^T), linearised with unit
Jacobians (exact to first order: consecutive frames differ by < 1 degree). rho is
the RMS radius of the fitted points about their centroid and s_bar the median
scale, so every camera component is a displacement of the face in cm, the same
unit as the data term: a_c = h_c^4 x (per-frame data curvature of a translation),
the smoothing-spline meaning of "h_c frames".

Each Gauss-Newton step is one box-constrained QP with the structure of
:class:`core.fitting.qp.ArrowSystem`: per-frame blocks of 6 + Ke unknowns, banded
in time by the second differences, plus the identity block (Schur complement);
solved by the same ADMM (camera variables unbounded, hence unpenalised), then a
backtracking line search on the true objective.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis
from core.fitting.qp import ArrowSystem, solve_arrow_qp
from core.fitting.settings import FitSettings

NC = 6  # camera unknowns per frame: rotation (3), log scale (1), translation (2)


def _triples(seg: np.ndarray) -> np.ndarray:
    """Centre frames c with c-1, c, c+1 in one segment (>= 0)."""
    F = seg.shape[0]
    if F < 3:
        return np.zeros(0, int)
    c = np.arange(1, F - 1)
    ok = (seg[c - 1] == seg[c]) & (seg[c] == seg[c + 1]) & (seg[c] >= 0)
    return c[ok]


def _band(seg: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Upper banded (3, F) form of D^T diag(weight) D, D = second differences in
    segments; weight (F,) per centre frame (None: 1)."""
    F = seg.shape[0]
    T = np.zeros((3, F))
    for c in _triples(seg):
        a = 1.0 if weight is None else float(weight[c])
        idx = (c - 1, c, c + 1)
        coef = (1.0, -2.0, 1.0)
        for i in range(3):
            for j in range(i, 3):
                T[2 - (j - i), idx[j]] += a * coef[i] * coef[j]
    return T


def _second_diff(v: np.ndarray, c: np.ndarray) -> np.ndarray:
    return v[c - 1] - 2 * v[c] + v[c + 1]


def _camera_d2(cams: OrthoCameras, c: np.ndarray) -> np.ndarray:
    """(len(c), 6) second differences of (rotation, log scale, translation) at centres c."""
    R = cams.rotation
    fwd = Rotation.from_matrix(R[c + 1] @ R[c].transpose(0, 2, 1)).as_rotvec()
    bwd = Rotation.from_matrix(R[c] @ R[c - 1].transpose(0, 2, 1)).as_rotvec()
    ls = np.log(cams.scale)
    return np.concatenate([fwd - bwd, _second_diff(ls, c)[:, None], _second_diff(cams.translation, c)], axis=1)


class JointProblem:
    """The joint objective for fixed observations, weights, segments and weights of the priors.

    obs (F, L, 2) pixels (finite); w (F, L) >= 0 (already over sigma^2);
    seg (F,) segment per frame (all >= 0 here: only fitted frames are passed).
    expression_weight: a_t; camera_frames (F,): the camera smoothing half-width in
    frames at each centre frame (None: ``joint_camera_smoothing_frames`` everywhere).
    """

    def __init__(self, basis: LandmarkBasis, obs: np.ndarray, w: np.ndarray, seg: np.ndarray,
                 lbe: np.ndarray, ube: np.ndarray, s: FitSettings, expression_weight: float,
                 camera_frames: np.ndarray | None = None):
        # Work about the face's centre, not the model origin (ICT's is ~10 cm behind the
        # face): then rotation turns the face in place and the translation is the face's
        # own image motion, so the priors on them measure what is seen.
        self.centre = basis.mean.mean(0)
        basis = LandmarkBasis(basis.mean - self.centre, basis.identity, basis.expression)
        self.obs, self.w, self.seg, self.s = obs, w, seg, s
        self.lbe, self.ube = lbe, ube
        self.Ki, self.Ke = basis.num_identity, basis.num_expressions
        self.Bflat = basis.expression.reshape(self.Ke, -1)  # (Ke, 3L)
        self.Aflat = basis.identity.reshape(self.Ki, -1)  # (Ki, 3L)
        self.centres = _triples(seg)
        self.band = _band(seg)
        self.a_t = expression_weight
        self.rho = float(np.sqrt((basis.mean ** 2).sum(1).mean()))  # cm, about the centre
        self.basis = basis
        ok = w.sum(1) > 0
        # a translation of 1 cm changes the data term by this much per frame (per axis)
        curv_t = float(np.median(w.sum(1)[ok])) if ok.any() else 1.0
        h = np.full(seg.shape[0], s.joint_camera_smoothing_frames) if camera_frames is None else camera_frames
        self.a_c = np.asarray(h, np.float64) ** 4 * curv_t  # (F,) per centre frame
        self.cam_band = _band(seg, self.a_c)

    def to_centred(self, cams: OrthoCameras) -> OrthoCameras:
        """Cameras of the model-origin frame -> of the face-centre frame (same projection)."""
        t = cams.translation + cams.scale[:, None] * (cams.rotation[:, :2] @ self.centre)
        return OrthoCameras(cams.scale.copy(), cams.rotation.copy(), t)

    def from_centred(self, cams: OrthoCameras) -> OrthoCameras:
        t = cams.translation - cams.scale[:, None] * (cams.rotation[:, :2] @ self.centre)
        return OrthoCameras(cams.scale, cams.rotation, t)

    def camera_scales(self, cams: OrthoCameras) -> np.ndarray:
        """(6,) cm per unit of each camera component (rotation rad, log scale, pixel)."""
        s_bar = float(np.median(cams.scale))
        return np.array([self.rho] * 4 + [1.0 / s_bar] * 2)

    def objective(self, cams: OrthoCameras, xi: np.ndarray, xe: np.ndarray, s0: np.ndarray,
                  cscale: np.ndarray) -> float:
        X = self.basis.points(xi, xe)
        p = cams.project(X)[..., :2]
        r = (p - self.obs) / s0[:, None, None]
        f = float(np.sum(self.w * (r ** 2).sum(-1)))
        f += self.s.identity_prior * float(xi @ xi) + self.s.expression_prior * float(np.sum(xe ** 2))
        c = self.centres
        if c.size:
            f += self.a_t * float(np.sum(_second_diff(xe, c) ** 2))
            f += float(np.sum(self.a_c[c, None] * (_camera_d2(cams, c) * cscale) ** 2))
        return 0.5 * f

    def step(self, cams: OrthoCameras, xi: np.ndarray, xe: np.ndarray, duals=None):
        """One Gauss-Newton step: returns new (cams, xi, xe), info. Cameras in the
        face-centre frame (:meth:`to_centred`)."""
        s = self.s
        F, L = self.obs.shape[:2]
        Ki, Ke = self.Ki, self.Ke
        n = NC + Ke
        w = self.w
        s0 = cams.scale.copy()
        cscale = self.camera_scales(cams)
        R = cams.rotation
        R2 = R[:, :2]
        X = self.basis.points(xi, xe)  # (F, L, 3)
        Y = np.einsum("fab,flb->fla", R, X)
        r0 = Y[..., :2] + (cams.translation[:, None] - self.obs) / s0[:, None, None]  # (F, L, 2) cm
        # camera Jacobian of r (cm) per point: columns w0 w1 w2 logs tx ty
        Jc = np.zeros((F, L, 2, NC))
        Jc[..., 0, 1] = Y[..., 2]
        Jc[..., 0, 2] = -Y[..., 1]
        Jc[..., 1, 0] = -Y[..., 2]
        Jc[..., 1, 2] = Y[..., 0]
        Jc[..., 0, 3] = Y[..., 0]
        Jc[..., 1, 3] = Y[..., 1]
        Jc[..., 0, 4] = 1.0 / s0[:, None]
        Jc[..., 1, 5] = 1.0 / s0[:, None]
        wJc = w[..., None, None] * Jc
        Hcc = np.einsum("flac,flad->fcd", wJc, Jc, optimize=True)
        # shape Jacobian is R[:2] @ basis: map weighted camera columns back to 3D
        M = np.einsum("fab,flac->fcbl", R2, wJc, optimize=True)  # (F, 6, 3, L)
        M = M.transpose(0, 1, 3, 2).reshape(F * NC, L * 3)  # rows (f, c), cols (l, xyz)
        Hce = (M @ self.Bflat.T).reshape(F, NC, Ke)
        Hci = (M @ self.Aflat.T).reshape(F, NC, Ki)
        # expression / identity blocks (R[:2]^T R[:2] = I - r3 r3^T)
        # imported here: video_fit imports this module
        from core.fitting.video_fit import NormalEquations, _general_blocks, _split_weights
        split = _split_weights(w)
        if split is not None:
            neq = NormalEquations(self.basis, split[1])
            Hee = neq.expression_blocks(R, split[0])
            Hie = neq.coupling_blocks(R, split[0])
            Hii = neq.identity_block(R, split[0])
        else:
            Hee, Hie, Hii = _general_blocks(self.basis, R, w)
        Hff = np.zeros((F, n, n))
        Hff[:, :NC, :NC] = Hcc
        Hff[:, :NC, NC:] = Hce
        Hff[:, NC:, :NC] = Hce.transpose(0, 2, 1)
        Hff[:, NC:, NC:] = Hee
        Hif = np.concatenate([Hci.transpose(0, 2, 1), Hie], axis=2)  # (F, Ki, n)
        # gradient of the data term at the current point: J^T W r0
        u = np.einsum("fab,fla->flb", R2, w[..., None] * r0).reshape(F, L * 3)
        gc = np.einsum("flac,fla->fc", wJc, r0, optimize=True)
        ge = u @ self.Bflat.T
        gi = self.Aflat @ u.sum(0)
        # QP in x = [i, (delta_c, e)]: g = H_data x0 - J^T W r0
        x0f = np.concatenate([np.zeros((F, NC)), xe], axis=1)
        data = ArrowSystem(Hii, Hif, Hff, np.zeros((3, F)), np.zeros(Ki), np.zeros((F, n)))
        yi, yf = data.matvec(xi, x0f)
        g_i = yi - gi
        g_f = yf - np.concatenate([gc, ge], axis=1)
        # priors
        Hii = Hii + s.identity_prior * np.eye(Ki)
        Hff[:, np.arange(NC, n), np.arange(NC, n)] += s.expression_prior
        # a little Levenberg-Marquardt damping on the camera steps (frames without
        # points, whose camera only the temporal prior holds, stay well posed)
        dc = np.einsum("fii->fi", Hcc)
        Hff[:, np.arange(NC), np.arange(NC)] += 1e-3 * dc + 1e-9
        T = np.concatenate([self.cam_band[..., None] * cscale[None, None] ** 2,
                            self.band[..., None] * np.full(Ke, self.a_t)], axis=2)
        c = self.centres
        if c.size:
            d2 = self.a_c[c, None] * cscale ** 2 * _camera_d2(cams, c)  # (C, 6)
            gcam = np.zeros((F, NC))
            np.add.at(gcam, c - 1, d2)
            np.add.at(gcam, c, -2 * d2)
            np.add.at(gcam, c + 1, d2)
            g_f[:, :NC] -= gcam
        system = ArrowSystem(Hii, Hif, Hff, T, g_i, g_f)
        lbf = np.concatenate([np.full(NC, -np.inf), self.lbe])
        ubf = np.concatenate([np.full(NC, np.inf), self.ube])
        bi = np.full(Ki, s.identity_bound)
        zi, zf, info = solve_arrow_qp(system, -bi, bi, lbf, ubf, xi0=xi, xe0=x0f, duals=duals,
                                      max_iter=s.joint_admm_iterations)
        f0 = self.objective(cams, xi, xe, s0, cscale)
        alpha = 1.0
        for _ in range(6):
            d = alpha * zf[:, :NC]
            nc = OrthoCameras(cams.scale * np.exp(d[:, 3]),
                              Rotation.from_rotvec(d[:, :3]).as_matrix() @ R,
                              cams.translation + d[:, 4:])
            ni = xi + alpha * (zi - xi)
            ne = xe + alpha * (zf[:, NC:] - xe)
            f1 = self.objective(nc, ni, ne, s0, cscale)
            if f1 <= f0:
                break
            alpha *= 0.5
        else:
            nc, ni, ne, f1 = cams, xi, xe, f0
        info.update(objective_before=f0, objective_after=f1, step=alpha)
        return nc, ni, ne, info
