"""Whole-video 3DMM fit (thesis ch. 3, Eq. 3.2-3.3; seed 002 sec. 1.1).

One identity ``i`` for the clip, one expression ``e_f`` and one scaled orthographic
camera per frame, minimising

    sum_f sum_l w_fl || R_f[:2] X_l(i, e_f) - (x_fl - t_f) / s_f ||^2 / sigma^2     (landmarks, cm)
  + a_id ||i||^2 + a_exp sum_f ||e_f||^2                                            (priors)
  + a_t sum_f ||e_{f-1} - 2 e_f + e_{f+1}||^2     (only for three frames of one track segment)

with box constraints on i and every e_f. Cameras are initialised as in the seeds
(a rigid shape over the clip, alternating per-frame POS cameras with a bounded
shape fit, ~5 rounds, then a smoothing spline per segment); then the bounded
least-squares problem in (i, e_1..e_F) is solved with the cameras fixed and the
cameras are refitted to the new shapes and re-smoothed, ``refine_rounds`` times.

The normal equations are built without ever forming the (2FL x (Ki + F Ke))
Jacobian: since R[:2]^T R[:2] = I - r3 r3^T, every block is a combination of nine
fixed matrices sum_l p_l B_l[a]^T B_l[b] (a, b = x, y, z) weighted by r3 r3^T, so
assembling is O(F Ke^2) and independent of the number of points.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.camera import OrthoCameras
from core.fitting._blas import single_threaded_blas
from core.fitting.basis import LandmarkBasis
from core.fitting.camera_fit import fit_cameras, smooth_cameras
from core.fitting.priors import identity_prior_weight, prior_weights
from core.fitting.frames import nearest_index
from core.fitting.qp import ArrowSystem, solve_arrow_qp, solve_box_qp
from core.fitting.settings import FitSettings
from core.jobs import CancelToken, ProgressFn, check, report


@dataclass
class VideoFit:
    """Result of :func:`fit_video` (F frames).

    identity : (Ki,)   expression : (F, Ke)   cameras : OrthoCameras (F)
    fit_error_px : (F,) mean reprojection error over the points with weight > 0 (NaN where none)
    fitted : (F,) bool   frames that took part in the fit (the others copy a neighbour)
    info : solver statistics
    point_offsets : (L, 3) cm   the neutral calibration's per-point offsets (core/fitting/neutral.py),
                    already in the fit: the points are ``basis.mean + point_offsets + ...``
    """

    identity: np.ndarray
    expression: np.ndarray
    cameras: OrthoCameras
    fit_error_px: np.ndarray
    fitted: np.ndarray
    info: dict = field(default_factory=dict)
    point_offsets: np.ndarray | None = None


def _split_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """If w (F, L) == c[:, None] * p[None], return (c, p), else None."""
    f0 = int(np.argmax(w.sum(1)))
    p = w[f0]
    pp = float(p @ p)
    if pp <= 0:
        return None
    c = (w @ p) / pp
    if np.allclose(w, c[:, None] * p[None], rtol=1e-6, atol=1e-9 * p.max()):
        return c, p
    return None


class NormalEquations:
    """Builds the landmark term's normal-equation blocks for a basis and point weights."""

    def __init__(self, basis: LandmarkBasis, point_weights: np.ndarray):
        p = np.asarray(point_weights, np.float64)
        A, B = basis.identity, basis.expression
        self.basis = basis
        self.p = p
        # nine fixed matrices per block pair: sum_l p_l U_l[a] V_l[b]^T
        self.Cee = np.einsum("l,kla,mlb->abkm", p, B, B, optimize=True)
        self.Cie = np.einsum("l,kla,mlb->abkm", p, A, B, optimize=True)
        self.Cii = np.einsum("l,kla,mlb->abkm", p, A, A, optimize=True)

    def expression_blocks(self, R: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(F, Ke, Ke): sum_l c_f p_l B_l^T R_f[:2]^T R_f[:2] B_l."""
        P = np.eye(3)[None] - np.einsum("fa,fb->fab", R[:, 2], R[:, 2])
        return np.einsum("fab,abkm->fkm", c[:, None, None] * P, self.Cee, optimize=True)

    def coupling_blocks(self, R: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(F, Ki, Ke): sum_l c_f p_l A_l^T R_f[:2]^T R_f[:2] B_l."""
        P = np.eye(3)[None] - np.einsum("fa,fb->fab", R[:, 2], R[:, 2])
        return np.einsum("fab,abkm->fkm", c[:, None, None] * P, self.Cie, optimize=True)

    def identity_block(self, R: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(Ki, Ki): sum_f sum_l c_f p_l A_l^T R_f[:2]^T R_f[:2] A_l."""
        P = np.eye(3)[None] - np.einsum("fa,fb->fab", R[:, 2], R[:, 2])
        return np.einsum("ab,abkm->km", np.einsum("f,fab->ab", c, P), self.Cii, optimize=True)


def _general_blocks(basis: LandmarkBasis, R: np.ndarray, w: np.ndarray, chunk: int = 64):
    """Hee (F,Ke,Ke), Hie (F,Ki,Ke), Hii for non-separable weights (slower path)."""
    F = R.shape[0]
    Ki, Ke = basis.num_identity, basis.num_expressions
    Hee = np.empty((F, Ke, Ke))
    Hie = np.empty((F, Ki, Ke))
    Hii = np.zeros((Ki, Ki))
    for a in range(0, F, chunk):
        b = min(F, a + chunk)
        R2 = R[a:b, :2]
        GB = np.einsum("fab,klb->flak", R2, basis.expression).reshape(b - a, -1, Ke)
        GA = np.einsum("fab,klb->flak", R2, basis.identity).reshape(b - a, -1, Ki)
        ww = np.repeat(w[a:b], 2, axis=1)[..., None]
        Hee[a:b] = GB.transpose(0, 2, 1) @ (ww * GB)
        Hie[a:b] = GA.transpose(0, 2, 1) @ (ww * GB)
        # one BLAS product over all the chunk's rows (einsum's loop here took most of the time)
        Hii += GA.reshape(-1, Ki).T @ (ww * GA).reshape(-1, Ki)
    return Hee, Hie, Hii


def temporal_band(segment: np.ndarray, weight: float) -> np.ndarray:
    """Upper banded (3, F) form of weight * D^T D, D = second differences inside segments."""
    seg = np.asarray(segment)
    F = seg.shape[0]
    T = np.zeros((3, F))
    if F < 3 or weight <= 0:
        return T
    f = np.arange(1, F - 1)
    ok = (seg[f - 1] == seg[f]) & (seg[f] == seg[f + 1]) & (seg[f] >= 0)
    for c in f[ok]:
        idx = (c - 1, c, c + 1)
        coef = (1.0, -2.0, 1.0)
        for i in range(3):
            for j in range(i, 3):
                d = j - i
                T[2 - d, idx[j]] += weight * coef[i] * coef[j]
    return T


def _targets(obs: np.ndarray, cams: OrthoCameras) -> np.ndarray:
    """Observations in cm-units of each frame's camera: (x - t) / s, (F, L, 2)."""
    return (obs - cams.translation[:, None]) / cams.scale[:, None, None]


def _rhs(basis: LandmarkBasis, cams: OrthoCameras, y: np.ndarray, w: np.ndarray):
    """Gradient terms gi (Ki,), ge (F, Ke) of the landmark term at zero coefficients."""
    R2 = cams.rotation[:, :2]
    # batched matmuls rather than einsum: the same sums, several times faster
    b = y - np.matmul(basis.mean, R2.transpose(0, 2, 1))
    u = w[..., None] * np.matmul(b, R2)  # (F, L, 3)
    L = basis.num_points
    ge = u.reshape(u.shape[0], L * 3) @ basis.expression.reshape(basis.num_expressions, L * 3).T
    gi = basis.identity.reshape(basis.num_identity, L * 3) @ u.sum(0).reshape(L * 3)
    return gi, ge


#: rms distance (cm) of the model's tracker points from their mirror partners' mirror images
#: above which the symmetry prior is not used
MIRROR_TOLERANCE_CM = 0.5
#: a fixed identity's prior, relative to the largest identity curvature: the solve moves it by
#: ~1e-6 of its evidence's pull
IDENTITY_PIN = 1e6


def identity_symmetry_prior(basis: LandmarkBasis, s: FitSettings) -> np.ndarray | None:
    """(Ki, Ki) ``FitSettings.identity_symmetry`` prior in the fit's units (the landmark term's:
    cm^2 over sigma^2, ``effective_points`` per frame), or None when off or the basis is not
    at the tracker's 478 points."""
    from core.fitting.priors import identity_symmetry_matrix
    from core.tracking.mirror import mirror_partner

    partner = mirror_partner()
    if s.identity_symmetry <= 0 or basis.num_identity == 0 or basis.num_points != len(partner):
        return None
    # only where the model's tracker points sit mirror-wise on its mean face (ICT 1.9 mm rms off,
    # built-in 0.5 mm): a model whose midline is not x = 0, or an arbitrary embedding, is left be
    off = basis.mean - basis.mean[partner] * np.array([-1.0, 1.0, 1.0])
    if np.sqrt((off ** 2).sum(-1).mean()) > MIRROR_TOLERANCE_CM:
        return None
    scale = s.identity_symmetry * s.effective_points / s.landmark_sigma_cm ** 2
    return scale * identity_symmetry_matrix(basis.identity, partner)


def fit_rigid_shape(basis: LandmarkBasis, cams: OrthoCameras, obs: np.ndarray, w: np.ndarray,
                    settings: FitSettings, lbe: np.ndarray, ube: np.ndarray,
                    x0: np.ndarray | None = None, identity_prior: float | None = None,
                    identity_matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One (i, e) for all frames with cameras fixed (Eq. 3.3's shape step). Returns (i, e).
    ``identity_prior``: the weight on ||i||^2 (default ``settings.identity_prior``);
    ``identity_matrix`` (Ki, Ki): a further prior ``i^T M i`` (the symmetry prior)."""
    Ki, Ke = basis.num_identity, basis.num_expressions
    y = _targets(obs, cams)
    G = np.concatenate([basis.identity, basis.expression], axis=0)  # (K, L, 3)
    P = np.eye(3)[None] - np.einsum("fa,fb->fab", cams.rotation[:, 2], cams.rotation[:, 2])
    M = (w.T @ P.reshape(-1, 9)).reshape(-1, 3, 3)  # (L, 3, 3)
    GM = np.matmul(G[:, :, None, :], M[None])[:, :, 0, :]  # (K, L, 3)
    H = GM.reshape(Ki + Ke, -1) @ G.reshape(Ki + Ke, -1).T
    R2 = cams.rotation[:, :2]
    b = y - np.matmul(basis.mean, R2.transpose(0, 2, 1))
    u = (w[..., None] * np.matmul(b, R2)).sum(0)
    g = G.reshape(Ki + Ke, -1) @ u.reshape(-1)
    H[np.arange(Ki), np.arange(Ki)] += settings.identity_prior if identity_prior is None else identity_prior
    if identity_matrix is not None:
        H[:Ki, :Ki] += identity_matrix
    # the rigid shape stands for all F frames, so its expression prior counts F times
    H[np.arange(Ki, Ki + Ke), np.arange(Ki, Ki + Ke)] += settings.expression_prior * max(1, obs.shape[0])
    lb = np.concatenate([np.full(Ki, -settings.identity_bound), lbe])
    ub = np.concatenate([np.full(Ki, settings.identity_bound), ube])
    x = solve_box_qp(H, g, lb, ub, x0=x0)
    return x[:Ki], x[Ki:]


def reprojection_error(basis: LandmarkBasis, identity, expression, cams: OrthoCameras,
                       obs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean pixel distance per frame over points with weight > 0. (F,), NaN where none."""
    X = basis.points(identity, expression)
    p = cams.project(X)[..., :2]
    d = np.linalg.norm(p - obs, axis=-1)
    m = (w > 0) & np.isfinite(d)
    n = m.sum(1)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.where(m, d, 0).sum(1) / np.maximum(n, 1), np.nan)


def adaptive_smooth(cams: OrthoCameras, weight: np.ndarray, segment: np.ndarray, X: np.ndarray,
                    s: FitSettings, chosen_frames: dict | None = None) -> OrthoCameras:
    """Per segment, the strongest camera smoothing (<= ``camera_smoothing_frames``)
    whose mean displacement of the shape points X ((L, 3) or (F, L, 3)) stays within
    ``camera_smoothing_budget_cm``. Frames with zero weight always take the smoothed
    (interpolated) camera of the weakest candidate. ``chosen_frames``: if given, filled
    with segment id -> the smoothing (frames) chosen for it (0: none)."""
    h_max = float(s.camera_smoothing_frames)
    cands = [h for h in (3.0, 2.0, 1.0, 0.5) if h <= h_max] or [h_max]
    X = np.broadcast_to(X, (len(cams),) + X.shape[-2:])
    base = cams.project(X)[..., :2]
    seg = np.asarray(segment)
    chosen = smooth_cameras(cams, weight, segment, 0.0)  # no smoothing, gaps interpolated
    done = np.zeros(len(cams), bool)
    w = np.asarray(weight) > 0
    for h in cands:
        sm = smooth_cameras(cams, weight, segment, h)
        d = np.linalg.norm(sm.project(X)[..., :2] - base, axis=-1).mean(1) / sm.scale
        for sid in np.unique(seg[seg >= 0]):
            fr = (seg == sid) & ~done
            if not fr.any():
                continue
            use = fr & w & np.isfinite(d)
            if not use.any() or d[use].mean() <= s.camera_smoothing_budget_cm:
                chosen.scale[fr], chosen.rotation[fr] = sm.scale[fr], sm.rotation[fr]
                chosen.translation[fr] = sm.translation[fr]
                done[fr] = True
                if chosen_frames is not None:
                    chosen_frames[int(sid)] = h
    return chosen


def fit_video(*args, **kwargs) -> "VideoFit":
    """See :func:`_fit_video`; runs with single-threaded BLAS (core/fitting/_blas.py)."""
    with single_threaded_blas():
        return _fit_video(*args, **kwargs)


def _fit_video(basis: LandmarkBasis, obs: np.ndarray, weights: np.ndarray, segment: np.ndarray,
              expression_bounds: np.ndarray, settings: FitSettings | None = None,
              seed_expression: np.ndarray | None = None, progress: ProgressFn | None = None,
              cancel: CancelToken | None = None, prior_expression: np.ndarray | None = None,
              prior_mask: np.ndarray | None = None, calm: np.ndarray | None = None,
              visibility=None, identity: np.ndarray | None = None,
              cameras: OrthoCameras | None = None, symmetry: np.ndarray | None = None) -> VideoFit:
    """Fit one identity, per-frame expressions and cameras to a clip.

    basis : L-point model basis; obs : (F, L, 2) pixels (NaN allowed where weight 0);
    weights : (F, L) >= 0 relative confidence (0 = ignore); segment : (F,) int track
    segment, -1 outside any track (those frames are not fitted); expression_bounds :
    (Ke, 2); seed_expression : (F, Ke) starting values (e.g. mapped tracker
    blendshape scores) or None; prior_expression : (F, Ke) centres of the tracker-score prior
    (core/fitting/priors.py; weight ``tracker_prior`` x each shape's data curvature) or None;
    prior_mask : (Ke,) bool shapes the prior applies to (default all); calm : (F,) bool frames
    at rest for the neutral calibration (core/fitting/neutral.py; needs ``prior_expression``
    and ``neutral_calibration``): the first solve pins their expressions to the prior, then
    per-point offsets from their residuals move the basis's mean (``VideoFit.point_offsets``);
    visibility : a ``core.fitting.contour.VisibilityModel``: before every solve, observations
    of points on the side turned away from the camera are pulled towards the fit (``hidden_points``).
    identity : (Ki,) a fixed identity (e.g. from the texture's motion,
    core/fitting/texture_identity.py): the fit solves expressions and cameras only;
    cameras : (F) cameras to start from instead of the rigid-shape initialisation (e.g. an
    earlier fit of the same clip); symmetry : (Ki, Ki) the identity's symmetry prior
    (:func:`identity_symmetry_prior`) when ``basis`` is a subset of the tracker's points, whose
    mirror partners it cannot find itself.
    """
    s = settings or FitSettings()
    obs = np.asarray(obs, np.float64)
    F, L = obs.shape[:2]
    Ki, Ke = basis.num_identity, basis.num_expressions
    w = np.asarray(weights, np.float64) * np.isfinite(obs).all(-1)
    seg = np.asarray(segment)
    # frames outside every segment take no part; frames inside one with no usable
    # points are carried by the temporal term and the camera spline
    fitted = seg >= 0
    if not fitted.any():
        raise ValueError("no frame has usable landmarks")
    idx = np.flatnonzero(fitted)
    o = np.where(np.isfinite(obs[idx]), obs[idx], 0.0)
    ww = w[idx]
    sg = seg[idx]
    # normalise weights: the best frame's points sum to `effective_points`, over sigma^2
    ww = ww * (s.effective_points / max(ww.sum(1).max(), 1e-12)) / s.landmark_sigma_cm ** 2
    lbe, ube = expression_bounds[:, 0].astype(np.float64), expression_bounds[:, 1].astype(np.float64)
    frame_ok = ww.sum(1) > 0
    id_prior = identity_prior_weight(s.identity_prior, s.identity_evidence_frames, ww.sum(1))
    id_matrix = identity_symmetry_prior(basis, s) if symmetry is None else symmetry
    total = s.init_rounds + s.refine_rounds + 1
    step = 0

    # --- camera initialisation: rigid shape over the clip (thesis 3.3.2) ---------
    ident = np.zeros(Ki)
    e_rigid = np.clip(np.zeros(Ke), lbe, ube)
    x0 = None
    cams = None
    if identity is not None:
        ident = np.asarray(identity, np.float64).copy()
    for k in range(s.init_rounds if cameras is None else 0):
        check(cancel)
        X = basis.points(ident, e_rigid)
        # closed form the first time, then one Gauss-Newton step from the last cameras:
        # the shape changes little between rounds
        cams, ok = fit_cameras(X, o, ww) if cams is None else fit_cameras(X, o, ww, iterations=1, init=cams)
        use = ok & frame_ok
        sub = OrthoCameras(cams.scale[use], cams.rotation[use], cams.translation[use])
        fitted_ident, e_rigid = fit_rigid_shape(basis, sub, o[use], ww[use], s, lbe, ube, x0=x0,
                                                identity_prior=id_prior, identity_matrix=id_matrix)
        ident = fitted_ident if identity is None else ident
        x0 = np.concatenate([ident, e_rigid])
        step += 1
        # the stage's own count (the app shows "camera initialisation 2 / 5 rounds"), the job's
        # share in done/total
        report(progress, step, total, f"camera initialisation {k + 1}/{s.init_rounds} rounds")
    seg_h: dict = {}
    if cameras is None:
        cams = adaptive_smooth(cams, np.where(ok & frame_ok, 1.0, 0.0), sg, basis.points(ident, e_rigid), s, seg_h)
    else:
        cams = OrthoCameras(np.asarray(cameras.scale, np.float64)[idx], np.asarray(cameras.rotation, np.float64)[idx],
                            np.asarray(cameras.translation, np.float64)[idx])

    # --- whole-video bounded least squares, alternating with camera refits -------
    split = _split_weights(ww)
    neq = NormalEquations(basis, split[1]) if split is not None else None
    xe = np.tile(e_rigid, (idx.size, 1)) if seed_expression is None else \
        np.clip(np.nan_to_num(np.asarray(seed_expression, np.float64)[idx]), lbe, ube)
    xi = ident
    infos = []
    duals = None
    offsets = np.zeros((L, 3))
    calm_idx = np.zeros(0, int)
    if calm is not None and prior_expression is not None and s.tracker_prior > 0 and s.neutral_calibration:
        calm_idx = np.flatnonzero(np.asarray(calm, bool)[idx] & frame_ok)
    fit_basis = basis
    # with a calibration, at least one solve follows the one that measures it
    solves = s.refine_rounds + 1 + (1 if calm_idx.size and s.refine_rounds == 0 else 0)
    o_seen = o.copy() if visibility is not None and s.hidden_points else None
    for r in range(solves):
        check(cancel)
        if o_seen is not None:
            o = visibility.pulled(fit_basis, xi, xe, cams, o_seen)
        y = _targets(o, cams)
        if split is not None:
            c = split[0]
            Hee = neq.expression_blocks(cams.rotation, c)
            Hie = neq.coupling_blocks(cams.rotation, c)
            Hii = neq.identity_block(cams.rotation, c)
        else:
            Hee, Hie, Hii = _general_blocks(basis, cams.rotation, ww)
        curv = float(np.mean(np.einsum("fii->fi", Hee[frame_ok]))) if frame_ok.any() else 1.0
        gi, ge = _rhs(fit_basis, cams, y, ww)
        if prior_expression is not None and s.tracker_prior > 0:
            wp = prior_weights(np.einsum("fii->fi", Hee), s.tracker_prior, s.tracker_prior_floor, prior_mask)
            if calm_idx.size and r == 0:
                wp[calm_idx] *= s.neutral_pin
            Hee = Hee + wp[:, :, None] * np.eye(Ke)[None]
            ge = ge + wp * np.nan_to_num(np.asarray(prior_expression, np.float64)[idx])
        Hee = Hee + s.expression_prior * np.eye(Ke)[None]
        Hii = Hii + id_prior * np.eye(Ki)
        if id_matrix is not None:
            Hii = Hii + id_matrix
        if identity is not None:
            # held by a prior far stronger than any evidence (the ADMM keeps its box form)
            pin = IDENTITY_PIN * max(float(np.abs(np.diag(Hii)).max()), 1.0)
            Hii = Hii + pin * np.eye(Ki)
            gi = gi + pin * ident
        T = temporal_band(sg, s.expression_smoothing_frames ** 4 * curv)
        system = ArrowSystem(Hii, Hie, Hee, T, gi, ge)
        xi, xe, info = solve_arrow_qp(system, np.full(Ki, -s.identity_bound), np.full(Ki, s.identity_bound),
                                      lbe, ube, xi0=xi, xe0=xe, duals=duals)
        duals = info.pop("duals")
        infos.append(info)
        step += 1
        report(progress, step, total, f"whole-video fit {r + 1}/{solves} rounds")
        if calm_idx.size and r == 0:
            from core.fitting.neutral import point_offsets

            measured_on = calm_idx if s.neutral_offset_source == "calm" else np.flatnonzero(frame_ok)
            offsets = offsets + point_offsets(fit_basis, xi, xe, cams, y, ww, measured_on, s.neutral_offset_frames)
            fit_basis = basis.shifted(offsets)
        if r == solves - 1:
            break
        if r >= s.refine_rounds:
            continue
        X = fit_basis.points(xi, xe)
        cams, ok = fit_cameras(X, o, ww, iterations=2, init=cams)
        seg_h = {}
        cams = adaptive_smooth(cams, np.where(ok & frame_ok, 1.0, 0.0), sg, fit_basis.points(xi, xe), s, seg_h)

    if identity is not None:
        xi = ident
    # --- scatter back to all F frames; unfitted frames copy the nearest fitted one
    pos = np.searchsorted(idx, nearest_index(fitted))
    expr = xe[pos]
    all_cams = OrthoCameras(cams.scale[pos], cams.rotation[pos], cams.translation[pos])
    err = np.full(F, np.nan)
    err[idx] = reprojection_error(fit_basis, xi, xe, cams, o if o_seen is None else o_seen, ww)
    return VideoFit(identity=xi, expression=expr, cameras=all_cams, fit_error_px=err, fitted=fitted,
                    info=dict(rounds=infos, calm_frames=int(calm_idx.size)), point_offsets=offsets)
