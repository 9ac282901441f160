"""Camera refinement from the images' own frame-to-frame motion.

Landmarks locate the face to about a pixel in every frame, but their frame-to-frame
motion is poor: the raw ones jitter, the tracker's filtered ones lag and damp real
motion (on d6 the filtered face centre's velocity is off by 1.25 px/frame from the
optical flow's 1.3 px/frame). Optical flow measured at the fitted face points is the
opposite: precise from one frame to the next (a tenth of a pixel) but drifting over
many frames. This module fuses the two for the rigid 2D part of the camera.

1. ``measure_motion``: pyramidal Lucas-Kanade from frame f to f+1 at the fitted face
   points of frame f, kept where the backward track returns within 0.3 px; the part of
   that motion the fit does not already explain (LK displacement minus the fit's own
   point motion) is summarised per frame pair as a 2D similarity about the face centre
   ``m_f = (tx, ty, log scale, angle)`` by iteratively reweighted least squares.
2. ``fuse_corrections``: per-frame camera corrections ``g_f`` (same 4 numbers) minimising
   ``sum_f |g_f|^2 / sa^2 + sum_f w_f |g_{f+1} - g_f - m_f|^2 / sm^2`` (scale and angle
   measured as pixels of displacement at the face radius), within track segments: at
   high frequencies the image motion wins, at low frequencies the landmarks do; the
   crossover is ``sqrt(sa^2 / sm^2)`` frames. One tridiagonal solve.
3. ``apply_corrections``: ``p' = c + e^s Rot(a) (p - c) + t`` for every projected point,
   i.e. new scale, a rotation about the camera's optical axis, and a new translation.

Image coordinates: pixels, origin top-left, x right, y down; angles in radians.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis
from core.fitting.priors import prior_weights
from core.fitting.qp import solve_box_qps
from core.fitting.settings import FitSettings
from core.jobs import CancelToken
from core.numeric import clipped_box

#: LK window (px), pyramid levels, forward-backward tolerance (px)
LK_WINDOW = 15
LK_LEVELS = 3
FB_TOLERANCE_PX = 0.3
#: LK iterations per pyramid level (stops earlier at a 0.02 px step)
LK_ITERATIONS = 10
#: at least this many well-tracked points for a frame pair to count
MIN_POINTS = 12
#: frames per batch of :func:`refit_expressions` (its Hessians take chunk x Ke^2 x 8 bytes)
REFIT_CHUNK = 512
#: threads measuring frame pairs in :func:`measure_points`
MEASURE_WORKERS = 2


@dataclass
class FaceMotion:
    """Residual image motion of the fitted face between consecutive frames.

    similarity : (F-1, 4) float64   (tx px, ty px, log scale, angle rad) from f to f+1,
                                    about ``centre[f]``, not yet explained by the fit
    weight : (F-1,) float64          1 where measured (enough tracked points), else 0
    centre : (F, 2) float64          face centre (mean fitted point) per frame, px
    radius : (F,) float64            face radius (RMS distance of the points to the centre), px
    tracked_fraction : (F-1,) float64  points that passed the forward-backward check
    point_residual : (F-1, N, 2) float32  per point, the measured motion less the fit's own and
                                    less the rigid motion ``similarity``: the non-rigid part
                                    the fit misses (0 where not tracked)
    point_tracked : (F-1, N) bool     the point passed the forward-backward check
    """

    similarity: np.ndarray
    weight: np.ndarray
    centre: np.ndarray
    radius: np.ndarray
    tracked_fraction: np.ndarray
    point_residual: np.ndarray | None = None
    point_tracked: np.ndarray | None = None


def _motion_matrix(p: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(2N, 6) displacement of points p (N, 3) per unit of (tx, ty, log scale, wx, wy, wz) about c."""
    q = p - c
    A = np.zeros((2 * len(p), 6))
    A[0::2, 0] = 1.0
    A[1::2, 1] = 1.0
    A[0::2, 2], A[1::2, 2] = q[:, 0], q[:, 1]
    # w x q = (wy qz - wz qy, wz qx - wx qz, ...)
    A[0::2, 4], A[0::2, 5] = q[:, 2], -q[:, 1]
    A[1::2, 3], A[1::2, 5] = -q[:, 2], q[:, 0]
    return A


def _motion_fit(p: np.ndarray, r: np.ndarray, c: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Robust small rigid motion g = (tx, ty, log scale, wx, wy, wz) with
    r ~ t + s q + (w x q)[:2], q = p - c (camera space, pixels, depth centred).

    p : (N, 3) x, y, depth (px); r : (N, 2) displacement; c : (3,) centre. Huber at 0.5 px.
    wz is the rotation in the image plane; wx, wy turn the face out of it (points move
    in proportion to their depth), which a 2D similarity cannot express.
    """
    A = _motion_matrix(p, c)
    b = r.reshape(-1)
    w = np.ones(len(p))
    g = np.zeros(6)
    for _ in range(iterations):
        ww = np.repeat(w, 2)
        Aw = A * ww[:, None]
        # 6x6 normal equations; a tiny ridge keeps rotations about unseen axes at zero
        # (points at one depth say nothing about wx, wy)
        g = np.linalg.solve(Aw.T @ A + 1e-9 * np.eye(6), Aw.T @ b)
        res = np.linalg.norm((A @ g - b).reshape(-1, 2), axis=1)
        w = np.where(res <= 0.5, 1.0, 0.5 / np.maximum(res, 1e-9))
    return g


def _sample(field: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bilinear samples of an (H, W, C) float32 field at points p (N, 2) -> (N, C)."""
    import cv2

    m = p.astype(np.float32).reshape(-1, 1, 2)
    out = cv2.remap(field, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(len(p), -1)


#: one DIS instance per thread (not thread-safe; measure_points may run pairs on workers)
_DIS = threading.local()


def _face_box(grey: np.ndarray, p0: np.ndarray, p_next: np.ndarray, margin: int):
    """(x0, y0, x1, y1) covering both frames' points plus ``margin`` px, inside the image; None if tiny."""
    both = np.concatenate([p0, p_next])
    x0, y0 = np.floor(both.min(0) - margin).astype(int)
    x1, y1 = np.ceil(both.max(0) + margin).astype(int)
    return clipped_box(x0, y0, x1, y1, grey.shape, min_side=16)


def lk_checked(a: np.ndarray, b: np.ndarray, p: np.ndarray, window: int, levels: int, iterations: int,
               eps: float, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal LK from grey image a to b at p (N, 2) px, then back from where it landed:
    (positions in b (N, 2) float64, found both ways and back within ``tolerance`` px (N,) bool).
    window (px), levels, iterations and eps (px) as OpenCV's winSize, maxLevel and criteria."""
    import cv2

    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
    win = (window, window)
    q0 = np.asarray(p, np.float32).reshape(-1, 1, 2)
    q1, st, _ = cv2.calcOpticalFlowPyrLK(a, b, q0, None, winSize=win, maxLevel=levels, criteria=crit)
    qb, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, q1, None, winSize=win, maxLevel=levels, criteria=crit)
    ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((qb - q0)[:, 0], axis=1) < tolerance)
    return q1[:, 0].astype(np.float64), ok


def _lk_points(prev: np.ndarray, grey: np.ndarray, p0: np.ndarray, p_next: np.ndarray):
    """Pyramidal LK from ``prev`` to ``grey`` at p0 (N, 2) on the face's box:
    (displacement (N, 2), forward-backward consistent (N,) bool). Cropping to the face
    saves most of the pyramid building (OpenCV's Python binding cannot reuse pyramids)."""
    # the margin keeps the coarsest level's window inside real image content
    box = _face_box(grey, p0, p_next, margin=LK_WINDOW * 2)
    if box is None:
        return np.zeros_like(p0), np.zeros(len(p0), bool)
    x0, y0, x1, y1 = box
    pa = np.ascontiguousarray(prev[y0:y1, x0:x1])
    pb = np.ascontiguousarray(grey[y0:y1, x0:x1])
    q0 = (p0 - [x0, y0]).astype(np.float32).astype(np.float64)
    q1, ok = lk_checked(pa, pb, q0, LK_WINDOW, LK_LEVELS, LK_ITERATIONS, 0.02, FB_TOLERANCE_PX)
    return q1 - q0, ok


def _dis_points(prev: np.ndarray, grey: np.ndarray, p0: np.ndarray, p_next: np.ndarray):
    """Dense DIS flow on the face's box, read at p0 (N, 2): (displacement (N, 2), consistent (N,) bool).

    The box covers the points of both frames plus a margin; a point counts where the
    backward flow brings it back within FB_TOLERANCE_PX."""
    import cv2

    box = _face_box(grey, p0, p_next, margin=24)
    if box is None:
        return np.zeros_like(p0), np.zeros(len(p0), bool)
    x0, y0, x1, y1 = box
    dis = getattr(_DIS, "dis", None)
    if dis is None:
        dis = _DIS.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    a = np.ascontiguousarray(prev[y0:y1, x0:x1])
    b = np.ascontiguousarray(grey[y0:y1, x0:x1])
    fwd = dis.calc(a, b, None)
    bwd = dis.calc(b, a, None)
    q = p0 - [x0, y0]
    d = _sample(fwd, q)
    back = _sample(bwd, q + d)
    inside = (q >= 0).all(1) & (q < [x1 - x0 - 1, y1 - y0 - 1]).all(1)
    ok = (np.linalg.norm(d + back, axis=1) < FB_TOLERANCE_PX) & inside
    return d.astype(np.float64), ok


@dataclass
class PointMotion:
    """Measured image motion at face points, frame f to f+1 (the expensive, fit-independent part).

    start : (F, N, 2) float64  where each point was measured from in frame f (px)
    displacement : (F-1, N, 2) float64  its measured motion to frame f+1 (px)
    tracked : (F-1, N) bool  the measurement passed the forward-backward check
    duplicate : (F,) bool  frame f repeats frame f-1
    """

    start: np.ndarray
    displacement: np.ndarray
    tracked: np.ndarray
    duplicate: np.ndarray


def measure_points(frames: Iterable[np.ndarray], points: np.ndarray, usable: np.ndarray,
                   method: str = "lk", cancel: CancelToken | None = None,
                   flow_pool=None, flow_points: np.ndarray | None = None,
                   workers: int = MEASURE_WORKERS, window_frames=None) -> PointMotion:
    """Optical flow at ``points`` (F, N, 2) px from every usable frame to the next.

    frames : F images, (H, W) grey uint8 or (H, W, 3) RGB uint8, in order. The points may
    be the tracker's landmarks (so this can run while the fit runs: OpenCV and the decoder
    release the GIL) or the fitted points; :func:`summarise_motion` compares it with a fit.
    flow_pool : a ``core.fitting.face_flow.FlowPool``: every frame pair f -> f+1 is also handed
    to it (skipped where either frame is unusable or the pair repeats a picture), for the
    corrective's dense flow without decoding again; this returns without waiting for it
    (``flow_pool.results(F - 1)``). flow_points (F, N', 2): the points whose box is flowed
    (default ``points``). A cancelled ``cancel`` ends the measurement early (the frames
    not reached keep no motion); the caller decides whether that is an error.
    workers: threads measuring frame pairs while this one decodes (OpenCV releases the GIL);
    0 measures in this thread. Decoding is sequential, the pairs are not: on two cores the
    whole-video fit waited ~4.7 s for a single measuring thread on d6 (decode + LK ~4.8 s of CPU).
    window_frames: a ``core.fitting.texture_identity.WindowFrames``, offered every grey frame
    (the identity's texture tracks, without decoding again).
    """
    F, N = points.shape[:2]
    disp = np.zeros((max(F - 1, 0), N, 2))
    tracked = np.zeros((max(F - 1, 0), N), bool)
    dup = np.zeros(F, bool)
    measure = _dis_points if method == "dis" else _lk_points
    fp = points if flow_points is None else flow_points
    pool = None
    if workers > 0:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-motion")
    pending: deque = deque()  # (pair index, future, usable points), oldest first

    def collect(limit: int) -> None:
        # bounded: each waiting pair holds two frames
        while len(pending) > limit:
            i, fut, ok_pts = pending.popleft()
            d, ok = fut.result()
            disp[i], tracked[i] = d, ok & ok_pts

    prev = None
    try:
        for f, grey in enumerate(_grey_frames(frames, F)):
            if cancel is not None and f % 25 == 0 and cancel.cancelled:
                break
            if window_frames is not None:
                window_frames.offer(f, grey)
            pair = prev is not None and usable[f - 1] and usable[f]
            if pair:
                dup[f] = is_repeat(prev, grey, points[f])
                ok_pts = np.isfinite(points[f - 1]).all(1) & np.isfinite(points[f]).all(1)
                if ok_pts.sum() >= MIN_POINTS:
                    args = (prev, grey, np.nan_to_num(points[f - 1]), np.nan_to_num(points[f]))
                    if pool is None:
                        d, ok = measure(*args)
                        disp[f - 1], tracked[f - 1] = d, ok & ok_pts
                    else:
                        pending.append((f - 1, pool.submit(measure, *args), ok_pts))
                        collect(4 * workers)
            if flow_pool is not None and f > 0:
                flow_pool.offer(prev, grey, fp[f - 1:f + 1], pair and not dup[f])
            prev = grey
        collect(0)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return PointMotion(np.asarray(points, np.float64), disp, tracked, dup)


def summarise_motion(pm: PointMotion, points: np.ndarray, usable: np.ndarray) -> FaceMotion:
    """The image motion a fit does not explain, per frame pair.

    points : (F, N, 3) the fitted points (x, y, depth px), the same N points as ``pm``.
    The measured displacement is read as the motion of the fitted point (the two are a
    pixel or two apart: the motion field hardly changes over that distance); the fit's own
    motion is subtracted, the rest summarised as a robust small rigid motion plus a per-point
    non-rigid remainder.
    """
    F, N = points.shape[:2]
    sim = np.zeros((max(F - 1, 0), 6))
    weight = np.zeros(max(F - 1, 0))
    frac = pm.tracked.mean(1) if F > 1 else np.zeros(0)
    resid = np.zeros((max(F - 1, 0), N, 2), np.float32)
    tracked = np.zeros((max(F - 1, 0), N), bool)
    centre = points.mean(1)
    radius = np.sqrt(((points[..., :2] - centre[:, None, :2]) ** 2).sum(-1).mean(1))
    for f in range(F - 1):
        ok = pm.tracked[f]
        if not (usable[f] and usable[f + 1]) or ok.sum() < MIN_POINTS:
            continue
        own = points[f + 1, :, :2] - points[f, :, :2]
        r = pm.displacement[f] - own
        sim[f] = _motion_fit(points[f][ok], r[ok], centre[f])
        weight[f] = 1.0
        rigid = (_motion_matrix(points[f], centre[f]) @ sim[f]).reshape(N, 2)
        resid[f] = np.where(ok[:, None], r - rigid, 0.0)
        tracked[f] = ok
    return FaceMotion(sim, weight, centre, radius, frac, resid, tracked)


def measure_motion(frames: Iterable[np.ndarray], points: np.ndarray, usable: np.ndarray,
                   method: str = "lk") -> FaceMotion:
    """Optical flow at the fitted points (F, N, 3), less the fit's own motion, per frame pair:
    :func:`measure_points` then :func:`summarise_motion`."""
    return summarise_motion(measure_points(frames, points[..., :2], usable, method), points, usable)


def _fuse(m: np.ndarray, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Minimise sum_f a_f |x_f|^2 + sum_f c_f |x_{f+1} - x_f - m_f|^2, column by column.

    m : (F-1, K) or (F-1, K, D) measured steps (D coordinates sharing their column's weights);
    c : (F-1, K) or (F-1, 1) step weights (0 = no link); a : (F,) anchor weights.
    Returns x (F, K) or (F, K, D). Thomas algorithm on the tridiagonal system.
    """
    return _fuse_solve(_fuse_factor(np.broadcast_to(c, m.shape[:2]), a), m)


@dataclass
class _FuseFactor:
    """The forward sweep's factorisation of :func:`_fuse`'s system (weights only), reusable
    for any measured steps with the same weights. c (F-1, K); cp (F-1, K); den (F, K)."""

    c: np.ndarray
    cp: np.ndarray
    den: np.ndarray


def _fuse_factor(c: np.ndarray, a: np.ndarray, dtype=np.float64) -> _FuseFactor:
    """Factorise :func:`_fuse`'s system for step weights c (F-1, K) and anchors a (F,), in
    ``dtype`` (float32 is enough for the corrective's thousands of columns: the system is
    diagonally dominant, its condition ~4 C^2)."""
    F = a.shape[0]
    K = c.shape[1]
    diag = np.repeat(np.asarray(a, dtype)[:, None], K, 1)
    diag[:-1] += c
    diag[1:] += c
    diag = np.where(diag > 0, diag, 1.0)
    cp = np.zeros((max(F - 1, 0), K), dtype)
    den = np.empty((F, K), dtype)
    den[0] = diag[0]
    for f in range(1, F):
        cp[f - 1] = -c[f - 1] / den[f - 1]
        den[f] = diag[f] + c[f - 1] * cp[f - 1]
    return _FuseFactor(np.asarray(c, dtype), cp, den)


def _fuse_solve(fac: _FuseFactor, m: np.ndarray) -> np.ndarray:
    """Solve the factorised system for measured steps m (F-1, K) or (F-1, K, D) (in the
    factorisation's dtype)."""
    vec = m.ndim == 2
    mm = m[..., None] if vec else m
    F = fac.den.shape[0]
    cm = fac.c[..., None] * mm  # (F-1, K, D)
    x = np.empty((F,) + mm.shape[1:], fac.den.dtype)
    x[0] = -cm[0] / fac.den[0][:, None] if F > 1 else 0.0
    for f in range(1, F):
        rhs = cm[f - 1] - cm[f] if f < F - 1 else cm[f - 1]
        x[f] = (rhs + fac.c[f - 1][:, None] * x[f - 1]) / fac.den[f][:, None]
    for f in range(F - 2, -1, -1):  # back substitution in place
        x[f] -= fac.cp[f][:, None] * x[f + 1]
    return x[..., 0] if vec else x


def fuse_corrections(motion: FaceMotion, segment: np.ndarray, crossover_frames: float) -> np.ndarray:
    """Per-frame corrections g (F, 6) = (tx, ty, log scale, wx, wy, wz) from the residual motion.

    segment : (F,) int track segment per frame, -1 for frames without a fit (never
    corrected, never linking their neighbours). ``crossover_frames`` = sa / sm: how many
    frames the image motion is trusted over before the landmarks take over.
    """
    F = segment.shape[0]
    K = motion.similarity.shape[1]
    if F < 2 or crossover_frames <= 0:
        return np.zeros((F, K))
    # scale and rotations as displacement at the face radius, so all six are in pixels
    rho = np.where(np.isfinite(motion.radius) & (motion.radius > 0), motion.radius, 1.0)
    unit = np.stack([np.ones(F), np.ones(F), rho, rho, rho, rho], 1)
    linked = (segment[:-1] >= 0) & (segment[:-1] == segment[1:]) & (motion.weight > 0)
    c = np.where(linked, crossover_frames ** 2, 0.0)[:, None]
    g = _fuse(motion.similarity * unit[:-1], c, (segment >= 0).astype(float))
    g[segment < 0] = 0.0
    return g / unit


def fuse_point_residuals(motion: FaceMotion, segment: np.ndarray, crossover_frames: float) -> np.ndarray:
    """Per-frame, per-point non-rigid corrections h (F, N, 2) px from ``point_residual``:
    the same fusion as :func:`fuse_corrections`, point by point, linking two frames only
    where the point was tracked between them."""
    F = segment.shape[0]
    N = motion.point_residual.shape[1]
    if F < 2 or crossover_frames <= 0:
        return np.zeros((F, N, 2))
    linked = (segment[:-1] >= 0) & (segment[:-1] == segment[1:]) & (motion.weight > 0)
    c = np.where(linked[:, None] & motion.point_tracked, crossover_frames ** 2, 0.0)
    c = np.repeat(c, 2, axis=1)                                  # x and y of each point
    h = _fuse(motion.point_residual.reshape(F - 1, 2 * N).astype(np.float64), c, (segment >= 0).astype(float))
    h[segment < 0] = 0.0
    return h.reshape(F, N, 2)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    """(F, 3) rotation vectors -> (F, 3, 3) rotation matrices."""
    th = np.linalg.norm(w, axis=1)
    k = w / np.where(th > 0, th, 1.0)[:, None]
    K = np.zeros((len(w), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K = K - K.transpose(0, 2, 1)
    s, c = np.sin(th)[:, None, None], np.cos(th)[:, None, None]
    return np.eye(3)[None] + s * K + (1 - c) * (K @ K)


def apply_corrections(cams: OrthoCameras, g: np.ndarray, centre: np.ndarray) -> OrthoCameras:
    """Cameras moved by g (F, 6) = (tx, ty, log scale, wx, wy, wz) about ``centre`` (F, 3)
    (x, y, depth in px): each point's camera-space position u = s R X (x, y relative to the
    translation) becomes ``c + e^s Rot(w) (u - c) + t``, i.e. scale e^s s, rotation Rot(w) R
    and a new translation.
    """
    e = np.exp(g[:, 2])
    rot = _rodrigues(g[:, 3:6])
    R = np.einsum("fij,fjk->fik", rot, cams.rotation)
    cu = np.concatenate([centre[:, :2] - cams.translation, centre[:, 2:3]], 1)   # centre in u
    t = centre[:, :2] + g[:, :2] - e[:, None] * np.einsum("fij,fj->fi", rot, cu)[:, :2]
    return OrthoCameras(cams.scale * e, R, t)


#: a frame repeats its predecessor (a frame-rate conversion duplicate: d6 repeats every 5th
#: or 6th frame, d12 holds still frames) when, inside the face's box, the grey levels differ
#: by less than this on average and no 8x8 block differs by more than DUPLICATE_BLOCK_DIFF.
#: Measured on d6/d9/d12: repeats 0.00-0.25 (block max <= 4.4, codec noise), real frames of a
#: still face from 0.31 up; the block test keeps a blink or a lip movement on an otherwise
#: still face from counting as a repeat.
DUPLICATE_MEAN_DIFF = 0.2
DUPLICATE_BLOCK_DIFF = 5.0
#: every n-th of the tracker's 468 face points is tracked by LK (156 points: enough for
#: the 6 rigid numbers and to spread over brows, eyes and lips; a third of the cost)
POINT_STRIDE = 3


@dataclass
class MotionRefinement:
    """What the image-motion stage did (for reports and benchmarks).

    correction_px : (F,) float  size of each frame's camera correction at the face radius (px)
    point_correction_px : (F,) float  mean size of the non-rigid point corrections (px)
    duplicate : (F,) bool       frames found to repeat the previous frame
    measured_pairs : int        frame pairs with an image-motion measurement
    repeated : (F,) bool        the duplicates that copied their predecessor's fit (both fitted, one
                                track segment): ``Reconstruction.repeated``
    """

    correction_px: np.ndarray
    point_correction_px: np.ndarray
    duplicate: np.ndarray
    measured_pairs: int
    repeated: np.ndarray


def _grey_frames(frames: Iterable[np.ndarray], count: int):
    """Grey uint8 versions of the first ``count`` ``frames``."""
    import cv2

    for f, img in enumerate(frames):
        if f >= count:
            break
        yield img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def is_repeat(prev: np.ndarray, grey: np.ndarray, points: np.ndarray) -> bool:
    """Whether ``grey`` repeats ``prev`` inside the box of ``points`` (N, 2) px (see DUPLICATE_MEAN_DIFF)."""
    import cv2

    if prev.shape != grey.shape or not np.isfinite(points).all():
        return False
    H, W = grey.shape
    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(0)).astype(int), [W, H])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return False
    d = cv2.absdiff(grey[y0:y1, x0:x1], prev[y0:y1, x0:x1])
    if float(d.mean()) >= DUPLICATE_MEAN_DIFF:
        return False
    blocks = cv2.resize(d.astype(np.float32), ((x1 - x0) // 8, (y1 - y0) // 8), interpolation=cv2.INTER_AREA)
    return float(blocks.max()) < DUPLICATE_BLOCK_DIFF


def refit_expressions(basis: LandmarkBasis, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras,
                      targets: np.ndarray, point_weights: np.ndarray, bounds: np.ndarray, settings: FitSettings,
                      frames: np.ndarray, prior_expression: np.ndarray | None = None,
                      prior_mask: np.ndarray | None = None) -> np.ndarray:
    """Per frame, the bounded expression that best reaches ``targets`` with the camera fixed.

    targets : (F, N, 2) px for the N points of ``basis``; point_weights : (N,);
    frames : indices to refit (the others are returned unchanged). Same data term and
    expression priors as the fitter (landmark sigma, effective points; the tracker-score
    prior centred on ``prior_expression`` (F, Ke) for the ``prior_mask`` shapes when
    ``tracker_prior`` > 0), started from ``expression``. Returns (F, Ke).
    """
    s = settings
    p = np.asarray(point_weights, np.float64)
    p = p * (s.effective_points / max(p.sum(), 1e-12)) / s.landmark_sigma_cm ** 2
    B = basis.expression
    Ke = B.shape[0]
    Bflat = B.reshape(Ke, -1)
    C = np.einsum("l,kla,mlb->abkm", p, B, B, optimize=True).reshape(9, Ke, Ke)
    X0 = basis.points(identity, None)
    lb, ub = bounds[:, 0].astype(np.float64), bounds[:, 1].astype(np.float64)
    out = np.array(expression, np.float64, copy=True)
    use_prior = prior_expression is not None and s.tracker_prior > 0
    mask = np.ones(Ke) if prior_mask is None else np.asarray(prior_mask, np.float64)
    frames = np.asarray(frames, int)
    # the frames' QPs are independent: solved in batches (memory ~ chunk x Ke^2)
    for a in range(0, frames.size, REFIT_CHUNK):
        fr = frames[a:a + REFIT_CHUNK]
        R = np.asarray(cams.rotation[fr], np.float64)
        sc = np.asarray(cams.scale[fr], np.float64)
        t = np.asarray(cams.translation[fr], np.float64)
        P = np.eye(3)[None] - R[:, 2, :, None] * R[:, 2, None, :]
        H = (P.reshape(-1, 9) @ C.reshape(9, Ke * Ke)).reshape(-1, Ke, Ke)
        R2 = R[:, :2]
        b = (targets[fr] - t[:, None]) / sc[:, None, None] - np.matmul(X0, R2.transpose(0, 2, 1))
        g = (p[None, :, None] * np.matmul(b, R2)).reshape(fr.size, -1) @ Bflat.T
        if use_prior:
            wp = prior_weights(np.einsum("fii->fi", H), s.tracker_prior, s.tracker_prior_floor, mask)
            H = H + wp[:, :, None] * np.eye(Ke)[None]
            g = g + wp * np.nan_to_num(prior_expression[fr])
        H = H + s.expression_prior * np.eye(Ke)[None]
        out[fr] = solve_box_qps(H, g, lb, ub, out[fr], max_iter=15, tol=1e-6)
    return out


def motion_points(num_points: int) -> np.ndarray:
    """Indices of the tracker points whose image motion is measured (every POINT_STRIDE-th face point)."""
    return np.arange(0, min(num_points, 468), POINT_STRIDE)


def refine_with_image_motion(basis: LandmarkBasis, identity: np.ndarray, expression: np.ndarray,
                             cams: OrthoCameras, usable: np.ndarray, segment: np.ndarray,
                             measured: PointMotion, bounds: np.ndarray,
                             settings: FitSettings, prior_expression: np.ndarray | None = None,
                             prior_mask: np.ndarray | None = None) -> tuple[OrthoCameras, np.ndarray, MotionRefinement]:
    """Refine a whole-video fit with the image motion at its points (module docstring).

    basis : the fit's tracker-point basis; identity (Ki,), expression (F, Ke), cams (F):
    the fit; usable, segment (F,): frames with a fit and their track segments;
    measured : :func:`measure_points` at the :func:`motion_points` of the clip (at the
    tracker's landmarks or the fitted points); bounds : (Ke, 2) expression bounds;
    prior_expression, prior_mask : the tracker-score prior, as for the fit.
    Returns cameras, expressions and a report. Frames that repeat the previous frame take
    its fit unchanged.
    """
    from core.fitting.weights import tracker_point_weights

    s = settings
    F = expression.shape[0]
    L = basis.num_points
    idx = motion_points(L)
    sub = basis.subset(idx)
    seg = np.where(usable, segment, -1)
    points = cams.project(sub.points(identity, expression))                   # (F, N, 3)
    motion = summarise_motion(measured, points, usable)
    dup = measured.duplicate
    g = fuse_corrections(motion, seg, s.image_motion_frames)
    cams = apply_corrections(cams, g, motion.centre)
    expression = np.array(expression, np.float64, copy=True)
    h = np.zeros((F, idx.size, 2))
    if s.image_motion_expression_frames > 0:
        h = fuse_point_residuals(motion, seg, s.image_motion_expression_frames)
        targets = cams.project(sub.points(identity, expression))[..., :2] + h
        expression = refit_expressions(sub, identity, expression, cams, targets,
                                       tracker_point_weights(L, s)[idx], bounds, s, np.flatnonzero(usable),
                                       prior_expression, prior_mask)
    # a repeated frame shows the face exactly as before: same fit
    copied = np.zeros(F, bool)
    for f in np.flatnonzero(dup):
        if usable[f] and usable[f - 1] and seg[f] == seg[f - 1]:
            expression[f] = expression[f - 1]
            cams.scale[f], cams.rotation[f] = cams.scale[f - 1], cams.rotation[f - 1]
            cams.translation[f] = cams.translation[f - 1]
            copied[f] = True
    size = np.hypot(g[:, 0], g[:, 1]) + motion.radius * np.linalg.norm(g[:, 2:], axis=1)
    return cams, expression, MotionRefinement(size, np.linalg.norm(h, axis=-1).mean(1), dup,
                                              int((motion.weight > 0).sum()), copied)
