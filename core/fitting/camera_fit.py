"""Per-frame scaled orthographic camera estimation and camera-sequence smoothing.

Camera: ``p = s * R[:2] @ X + t`` (core/camera.py). Fitting a camera to known 3D
points is the "extended POS" step of the seeds' initialisation (thesis 3.3.2):
a weighted affine fit, projected to the nearest scaled rotation, then a few
Gauss-Newton steps on (rotation, scale, translation) so the result is the
least-squares SOP camera and not just the nearest one to the affine solution
(which is biased when the points are nearly planar, e.g. at large yaw).
All functions are batched over frames.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import make_smoothing_spline
from scipy.spatial.transform import Rotation

from core.camera import FRONTAL, OrthoCameras
from core.fitting.frames import nearest_index


def fit_cameras(X: np.ndarray, x: np.ndarray, w: np.ndarray, iterations: int = 3,
                init: OrthoCameras | None = None) -> tuple[OrthoCameras, np.ndarray]:
    """Least-squares SOP camera per frame.

    X : (L, 3) or (F, L, 3) model points (cm); x : (F, L, 2) pixels; w : (F, L) >= 0.
    init : cameras to start Gauss-Newton from (skips the affine step), or None.
    Returns cameras (F frames) and ok (F,) bool: False where fewer than 4 points
    carry weight (those frames get a frontal placeholder camera, to be filled by
    :func:`smooth_cameras`).
    """
    x = np.asarray(x, np.float64)
    F, L = x.shape[:2]
    X = np.broadcast_to(np.asarray(X, np.float64), (F, L, 3))
    w = np.where(np.isfinite(x).all(-1), np.asarray(w, np.float64), 0.0)
    x = np.where(np.isfinite(x), x, 0.0)
    ok = (w > 0).sum(1) >= 4
    wsum = np.maximum(w.sum(1), 1e-12)
    if init is None:
        mX = np.einsum("fl,fla->fa", w, X) / wsum[:, None]
        mx = np.einsum("fl,fla->fa", w, x) / wsum[:, None]
        Xc = X - mX[:, None]
        xc = x - mx[:, None]
        wXc = w[..., None] * Xc
        C = wXc.transpose(0, 2, 1) @ Xc + 1e-9 * np.eye(3)
        B = xc.transpose(0, 2, 1) @ wXc  # (F, 2, 3)
        M = np.linalg.solve(C, B.transpose(0, 2, 1)).transpose(0, 2, 1)  # affine (F, 2, 3)
        U, S, Vt = np.linalg.svd(M, full_matrices=False)  # U (F,2,2), Vt (F,2,3)
        R12 = U @ Vt
        r3 = np.cross(R12[:, 0], R12[:, 1])
        R = np.concatenate([R12, r3[:, None]], axis=1)
        Y = Xc @ R12.transpose(0, 2, 1)
        s = np.einsum("fl,fla,fla->f", w, xc, Y) / np.maximum(np.einsum("fl,fla,fla->f", w, Y, Y), 1e-12)
        # a negative scale means the affine fit picked the mirrored solution: flip it
        flip = s < 0
        R[flip, :2] *= -1
        s = np.abs(s)
        t = mx - s[:, None] * np.einsum("fab,fb->fa", R[:, :2], mX)
    else:
        s = init.scale.astype(np.float64).copy()
        R = init.rotation.astype(np.float64).copy()
        t = init.translation.astype(np.float64).copy()
    for _ in range(iterations):
        d = gauss_newton_step(X, x, w, s, R, t)
        d[~ok] = 0.0
        R = Rotation.from_rotvec(d[:, :3]).as_matrix() @ R
        s = s + d[:, 3]
        t = t + d[:, 4:]
    R[~ok] = FRONTAL
    s = np.where(ok, s, np.nan)
    t = np.where(ok[:, None], t, np.nan)
    return OrthoCameras(s, R, t), ok


def gauss_newton_step(X: np.ndarray, x: np.ndarray, w: np.ndarray, s: np.ndarray, R: np.ndarray,
                      t: np.ndarray) -> np.ndarray:
    """One weighted Gauss-Newton step of SOP cameras ``p = s R[:2] X + t`` per frame.

    X : (F, L, 3) model points (cm); x : (F, L, 2) pixels; w : (F, L) >= 0; s (F,), R (F, 3, 3),
    t (F, 2) the current cameras. Returns d (F, 6): a rotation vector (left perturbation
    R <- exp([d[:3]]x) R, so dY = d[:3] x Y), the scale's and the translation's increments.
    Each point's Jacobian rows are linear in yh = (Y, 1), Y = R X: d res_x = Ax @ yh,
    d res_y = Ay @ yh (6 x 4 each), so J^T W J and J^T W r come from the per-frame moments
    sum_l w yh yh^T (4 x 4) and sum_l w r yh (4,) instead of an (F, 2L, 6) Jacobian.
    """
    F, L = x.shape[:2]
    Yh = np.ones((F, L, 4))
    Yh[..., :3] = X @ R.transpose(0, 2, 1)  # camera-frame points, homogeneous
    res = s[:, None, None] * Yh[..., :2] + t[:, None] - x  # (F, L, 2)
    Ax = np.zeros((F, 6, 4))
    Ay = np.zeros((F, 6, 4))
    Ax[:, 1, 2], Ax[:, 2, 1], Ax[:, 3, 0], Ax[:, 4, 3] = s, -s, 1.0, 1.0
    Ay[:, 0, 2], Ay[:, 2, 0], Ay[:, 3, 1], Ay[:, 5, 3] = -s, s, 1.0, 1.0
    wYh = w[..., None] * Yh
    M = wYh.transpose(0, 2, 1) @ Yh  # (F, 4, 4)
    mx = np.matmul(res[..., 0][:, None, :], wYh)[:, 0]  # (F, 4)
    my = np.matmul(res[..., 1][:, None, :], wYh)[:, 0]
    JtJ = Ax @ M @ Ax.transpose(0, 2, 1) + Ay @ M @ Ay.transpose(0, 2, 1) + 1e-9 * np.eye(6)
    Jtr = (Ax @ mx[..., None] + Ay @ my[..., None])[..., 0]
    return -np.linalg.solve(JtJ, Jtr[..., None])[..., 0]


def smooth_cameras(cams: OrthoCameras, weight: np.ndarray, segment: np.ndarray,
                   smoothing_frames: float, translation_frames: float | None = None) -> OrthoCameras:
    """Smooth the camera sequence within each track segment with cubic smoothing splines.

    weight : (F,) >= 0 per-frame confidence (0 = ignore the frame's camera);
    segment : (F,) int, -1 where no track. Never smooths across segments.
    smoothing_frames : the spline's kernel half-width in frames for scale and rotation
    (lambda = h**4 for ``make_smoothing_spline`` with unit weights); 0 disables
    smoothing; negative: chosen per segment by generalised cross-validation (GCV).
    translation_frames : the same for translation (None: same as smoothing_frames).
    Scale is smoothed as log(s), rotation as the rotation vector relative to the
    segment's mean rotation (a log map, fine for a head that turns < 180 deg),
    translation as is. Frames of a segment with zero weight get the spline's value
    (interpolated); frames outside every segment copy the nearest smoothed camera.
    """
    F = len(cams)
    s = np.array(cams.scale, np.float64)
    R = np.array(cams.rotation, np.float64)
    t = np.array(cams.translation, np.float64)
    w = np.where(np.isfinite(s) & (s > 0), np.asarray(weight, np.float64), 0.0)
    seg = np.asarray(segment)
    out_s, out_R, out_t = s.copy(), R.copy(), t.copy()
    have = np.zeros(F, bool)
    def lam_of(h: float):
        return None if h < 0 else float(h) ** 4

    lams = [lam_of(smoothing_frames)] * 4 + [lam_of(smoothing_frames if translation_frames is None
                                                     else translation_frames)] * 2
    for sid in np.unique(seg[seg >= 0]):
        frames = np.flatnonzero(seg == sid)
        use = frames[w[frames] > 0]
        if use.size == 0:
            continue
        Rm = Rotation.from_matrix(R[use]).mean().as_matrix()
        rv = Rotation.from_matrix(np.einsum("ba,fbc->fac", Rm, R[use])).as_rotvec()
        Y = np.concatenate([np.log(s[use])[:, None], rv, t[use]], axis=1)  # (n, 6)
        if use.size >= 5:
            ww = w[use] / w[use].mean()
            Ys = np.empty((frames.size, 6))
            groups: dict = {}
            for c in range(6):
                if lams[c] is not None and lams[c] == 0:
                    Ys[:, c] = np.interp(frames, use, Y[:, c])
                elif lams[c] is None:  # GCV chooses each column's own smoothing
                    groups[("gcv", c)] = [c]
                else:
                    groups.setdefault(lams[c], []).append(c)
            for key, cols in groups.items():
                # one spline for the columns sharing a lambda (scipy's setup is per call, in Python)
                lam = None if isinstance(key, tuple) else key
                spl = make_smoothing_spline(use.astype(np.float64), Y[:, cols], w=ww, lam=lam)
                Ys[:, cols] = spl(frames.astype(np.float64))
        else:
            # too few frames for a spline: linear interpolation (constant at the ends)
            Ys = np.stack([np.interp(frames, use, Y[:, c]) for c in range(6)], axis=1)
        out_s[frames] = np.exp(Ys[:, 0])
        out_R[frames] = Rm[None] @ Rotation.from_rotvec(Ys[:, 1:4]).as_matrix()
        out_t[frames] = Ys[:, 4:]
        have[frames] = True
    if not have.any():
        return OrthoCameras(out_s, out_R, out_t)
    pick = nearest_index(have)
    fill = ~have
    out_s[fill], out_R[fill], out_t[fill] = out_s[pick[fill]], out_R[pick[fill]], out_t[pick[fill]]
    return OrthoCameras(out_s, out_R, out_t)
