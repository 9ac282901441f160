"""The warp renderer: a mesh-driven backward warp of the target frame (runs live on a CPU).

For every output pixel covered by the driven mesh, the source position in the
target frame is the same barycentric point on the target's fitted, projected
mesh. Triangle ids come from a small painter's-algorithm rasteriser (OpenCV
``fillPoly`` per triangle, far to near, back faces culled); barycentric
interpolation inside a triangle is the triangle's affine map, so the dense map is
one 2x3 matrix per triangle applied to the covered pixels.

Beyond the face the displacement (map - pixel) has two parts: the head's rigid
motion (faded to zero over ``falloff`` face sizes, never faster than the fold guard
allows, so hair, ears and neck near the face follow the head without tearing) and
the face's own non-rigid remainder (push-pull interpolation, a multi-scale membrane
fill from the face's boundary values, faded over ``detail_falloff``). With
``occlusion`` the face slides over its surroundings: the remainder fades fast, and
output pixels off the driven face that would sample the target's face (uncovered
background: otherwise a second, old copy of the face's edge) sample just beside the
target's face instead. On the self-reenactment clips hair beside the face mostly
stays put while the face moves, which is what this models. What the target never showed is filled afterwards: the mouth interior
(``core.reenact.fill``) and the iris moved for gaze.

Conventions: pixels, origin top-left, x right, y down; images RGB uint8 (H, W, 3);
screen vertices (N, 3) = x_px, y_px, depth (larger = farther, ``core.camera``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

SUBPIXEL_SHIFT = 4  # fillPoly fixed-point bits


@dataclass
class WarpSettings:
    """falloff: distance beyond the face (in face sizes) over which motion fades to zero.
    work_scale: the extension is computed at 1/work_scale resolution (it is smooth)."""

    falloff: float = 0.15
    #: distance (face sizes) over which the face's non-rigid motion fades into the rigid head motion
    detail_falloff: float = 0.1
    work_scale: int = 4
    #: the fades are never shorter than this many times the motion they fade (a fade over D
    #: of a motion m stretches by up to 1.5 m / D: above 1.5 the map cannot fold)
    fold_guard: float = 2.0
    #: the face slides over hair and background: its own (non-rigid) motion is not faded
    #: into them with a fold guard; what it uncovers is filled from beside the target's face
    occlusion: bool = True
    #: the head's rigid motion beyond the face fades out downwards, from the eyes' level (full)
    #: to the chin's (none): the neck, shoulders and hair hanging beside the jaw belong to the
    #: body, which a nod or turn of the head does not move (the face's own motion still carries
    #: over its edge, so nothing tears)
    neck_release: bool = True
    #: depth (cm behind the rest face's glabella) at which the head's rigid motion beyond the face
    #: is measured: the rest face outline's points are moved back onto this plane before the
    #: similarity between the two images is fitted (``core.reenact.render.head_motion``). None:
    #: on the face itself. What surrounds the face (hair at the sides and top, ears) is nearer the
    #: plane through the head's centre than the face's front: in a nod the face moves down while
    #: the ears and the hair's outline barely move, which a similarity of the face's own outline
    #: cannot tell from the whole head moving down. 9.5: half a head's length (about 19 cm from
    #: the glabella to the back of the skull); the face's outline beside the ears (MediaPipe
    #: 234/454) is 7.8 cm behind the glabella in both the built-in model and ICT
    outline_depth: float | None = 9.5
    #: the rim of a filled mouth (the pixel outside the driven inner-lip polygon that the fill's
    #: mask reaches): "fill" (the fill's own: the target's mean lip colour for a still) or
    #: "target" (the warped target pixels: the target's own inner lip edge, in its own shadow,
    #: stays where the warp put it, instead of a flat lighter ring; see
    #: ``core.reenact.fill.fill_mouth``)
    mouth_rim: str = "target"
    mouth_fill: bool = True
    #: a still target's mouth interior: "ict" (ICT's teeth, gums and tongue, shaded; the
    #: synthetic cavity if ICT cannot be loaded) or "synthetic" (a shaded cavity with teeth bands)
    mouth_interior: str = "ict"
    gaze: bool = True


def rasterize_triangle_ids(screen: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
                           cull_back: bool = True) -> np.ndarray:
    """Triangle-id buffer by painter's algorithm.

    screen : (N, 3) x_px, y_px, depth (larger = farther); triangles (T, 3) counter-clockwise
    seen from outside; size (H, W). Returns (H, W) int32, -1 where no triangle.
    Back faces (clockwise on screen in the y-down image, i.e. facing away) are skipped.
    """
    H, W = size
    ids = np.full((H, W), -1, np.int32)
    xy = screen[:, :2]
    a, b, c = xy[triangles[:, 0]], xy[triangles[:, 1]], xy[triangles[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = np.abs(cross) > 1e-6
    if cull_back:
        # model CCW from outside; the y-down image flips handedness, so visible
        # triangles have negative cross product on screen
        front = cross < 0
        if front.sum() < (keep.sum() / 2):  # mirrored camera: accept the majority orientation
            front = cross > 0
        keep &= front
    order = np.flatnonzero(keep)
    depth = screen[triangles[order], 2].mean(1)
    order = order[np.argsort(-depth, kind="stable")]  # far first, near overwrite
    pts = np.round(xy[triangles[order]] * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    # pixel centres are at integer coordinates: fillPoly samples them directly (plain Python
    # ints and a bound function: the call overhead is most of the cost of a small triangle)
    fill, line = cv2.fillConvexPoly, cv2.LINE_8
    for t, p in zip(order.tolist(), list(pts)):
        fill(ids, p, (t,), line, SUBPIXEL_SHIFT)
    return ids


def triangle_affines(dst_xy: np.ndarray, src_xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-triangle affine maps from output (driven) pixels to target pixels.

    dst_xy, src_xy (N, 2); returns (T, 2, 3) with ``src = A[:, :, :2] @ dst + A[:, :, 2]``
    (degenerate triangles get the translation of their centroid).
    """
    d = np.asarray(dst_xy, np.float64)[triangles]  # (T, 3, 2)
    s = np.asarray(src_xy, np.float64)[triangles]
    # the 2x2 part maps the driven edge vectors onto the target's: S E^-1 in closed form
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-9
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    A = np.empty((len(d), 2, 3))
    # E = [e1 e2] (columns), E^-1 = [[e2y, -e2x], [-e1y, e1x]] / det
    for r in range(2):
        A[:, r, 0] = (f1[:, r] * e2[:, 1] - f2[:, r] * e1[:, 1]) * inv
        A[:, r, 1] = (f2[:, r] * e1[:, 0] - f1[:, r] * e2[:, 0]) * inv
    A[~ok, :, :2] = np.eye(2)
    A[:, :, 2] = s[:, 0] - np.einsum("tij,tj->ti", A[:, :, :2], d[:, 0])
    A[~ok, :, 2] = s[~ok].mean(1) - d[~ok].mean(1)
    return A


def push_pull_fill(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Smoothly fill ``values`` (h, w, C) where ``weight`` (h, w) in [0, 1] is 0.

    Push: a Gaussian pyramid of weighted values and weights; pull: from the coarsest
    level up, each level keeps its own normalised value where it has weight and
    takes the upsampled coarser estimate elsewhere. The result is smooth (a
    multi-scale membrane) and equals ``values`` where weight is 1.
    """
    v = (values * weight[..., None]).astype(np.float32)
    w = weight.astype(np.float32)
    levels = [(v, w)]
    while min(v.shape[:2]) > 4:
        v = cv2.pyrDown(v)
        w = cv2.pyrDown(w)
        if v.ndim == 2:
            v = v[..., None]
        levels.append((v, w))
    v, w = levels[-1]
    total = w.sum()
    est = np.broadcast_to((v.sum((0, 1)) / max(total, 1e-9)) if total > 0 else 0.0, v.shape).astype(np.float32)
    for v, w in reversed(levels):
        h_, w_ = v.shape[:2]
        up = cv2.resize(est, (w_, h_), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        own = v / np.maximum(w, 1e-6)[..., None]
        a = np.clip(w * 2.0, 0.0, 1.0)[..., None]  # trust a level once half its footprint is covered
        est = a * own + (1 - a) * up
    return est


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def face_size(points: np.ndarray) -> float:
    """A length for the face: sqrt of the bounding-box area of the points (N, >=2), pixels."""
    p = points[:, :2]
    ext = p.max(0) - p.min(0)
    return float(np.sqrt(max(ext[0] * ext[1], 1.0)))


@dataclass
class DenseWarp:
    """The warp as computed: only the box (x0, y0, x1, y1) moves, outside it the map is the
    pixel grid. box_displacement (y1-y0, x1-x0, 2) float32 = map - pixel grid and
    box_covered (y1-y0, x1-x0) bool (on the driven mesh) inside the box; size (H, W) of the
    frame. ``map``, ``displacement`` and ``covered`` are the full-frame (H, W, ...) arrays,
    built when asked for (the renderer only needs the box)."""

    size: tuple[int, int]
    box: tuple[int, int, int, int]
    box_displacement: np.ndarray
    box_covered: np.ndarray

    def map_region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """(y1-y0, x1-x0, 2) float32 target pixel of every output pixel of a region of the frame."""
        gx, gy = _grid(*self.size)
        mp = np.stack([gx[y0:y1, x0:x1], gy[y0:y1, x0:x1]], -1)
        bx0, by0, bx1, by1 = self.box
        ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
        if ix1 > ix0 and iy1 > iy0:
            mp[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] += self.box_displacement[iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0]
        return mp

    @property
    def box_map(self) -> np.ndarray:
        return self.map_region(*self.box)

    @property
    def map(self) -> np.ndarray:
        return self.map_region(0, 0, self.size[1], self.size[0])

    @property
    def displacement(self) -> np.ndarray:
        d = np.zeros(tuple(self.size) + (2,), np.float32)
        x0, y0, x1, y1 = self.box
        d[y0:y1, x0:x1] = self.box_displacement
        return d

    @property
    def covered(self) -> np.ndarray:
        c = np.zeros(tuple(self.size), bool)
        x0, y0, x1, y1 = self.box
        c[y0:y1, x0:x1] = self.box_covered
        return c


def rigid_backward_affine(target_camera: tuple, driven_camera: tuple) -> np.ndarray:
    """(2, 3) output -> target pixel map of the plane through the model origin (the head's
    centre) parallel to the image: how hair, ears and the head's outline move.

    Cameras are (scale, rotation (3, 3), translation (2,)). A point p_t on that plane
    in the target maps to p_d = M (p_t - t_t) + t_d with M = s_d / s_t (R_d R_t^T)[:2, :2];
    this returns the inverse. A nod moves the face but barely the head's outline.
    """
    s_t, R_t, t_t = target_camera
    s_d, R_d, t_d = driven_camera
    M = (s_d / s_t) * (np.asarray(R_d) @ np.asarray(R_t).T)[:2, :2]
    Minv = np.linalg.inv(M)
    return np.concatenate([Minv, (np.asarray(t_t) - Minv @ np.asarray(t_d))[:, None]], axis=1)


def rigid_backward_similarity(target_outline: np.ndarray, driven_outline: np.ndarray) -> np.ndarray:
    """(2, 3) output -> target pixel map of the head's rigid motion, from the face's outline.

    target_outline, driven_outline (K, 2): the same K points in pixels (the rest-expression
    upper face outline, ``core.reenact.render.rest_outline``). Least-squares similarity
    (scale, in-plane rotation, translation) taking the driven points onto the target's.
    Unlike ``rigid_backward_affine`` it compares positions in the images, not camera
    parameters, so two fits that split the face's size differently between scale and
    identity (a still and a video of the same person) agree on where the head is.
    """
    src = np.asarray(driven_outline, np.float64)[:, :2]
    dst = np.asarray(target_outline, np.float64)[:, :2]
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    den = max(float((a ** 2).sum()), 1e-9)
    c = float((a * b).sum()) / den
    s_ = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / den
    M = np.array([[c, -s_], [s_, c]])
    return np.concatenate([M, (md - M @ ms)[:, None]], axis=1)


def dense_warp(driven: np.ndarray, target: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
               hull_points: np.ndarray | None = None, settings: WarpSettings | None = None,
               rigid: np.ndarray | None = None, release_rows: tuple[float, float] | None = None) -> DenseWarp:
    """The backward map from the driven mesh to the target's fitted mesh, extended beyond the face.

    driven : (N, 3) screen vertices of the driven mesh (output frame);
    target : (N, 3) screen vertices of the target's fitted mesh in the target frame;
    triangles (T, 3); size (H, W) of the output (= target frame).
    hull_points : (K, 2) points whose convex hull is "the face" for the fade (default: driven xy).
    rigid : (2, 3) backward affine of the head's rigid motion (``rigid_backward_similarity`` or
    ``rigid_backward_affine``) or None.
    release_rows : (y_full, y_none) output rows between which the rigid motion fades out
    downwards (``WarpSettings.neck_release``); None: it does not.
    Beyond the face the displacement is the rigid motion faded over ``falloff`` face sizes
    plus the face's non-rigid remainder (push-pull filled) faded over ``detail_falloff``.
    """
    s = settings or WarpSettings()
    H, W = size
    k = max(int(s.work_scale), 1)
    hull_src = np.asarray(driven[:, :2] if hull_points is None else hull_points, np.float64)[:, :2]
    used = _used_vertices(triangles)
    drv_xy, tgt_xy = driven[used, :2], target[used, :2]
    # everything happens inside a box that holds both faces and the longest fade (see
    # _dense_displacement): beyond it the displacement is exactly zero
    lo = np.minimum(np.minimum(hull_src.min(0), drv_xy.min(0)), tgt_xy.min(0))
    hi = np.maximum(np.maximum(hull_src.max(0), drv_xy.max(0)), tgt_xy.max(0))
    fs = face_size(hull_src)
    m_rig = 0.0
    if rigid is not None:  # an affine motion is largest at a corner of a box (grown by the fade's sampling)
        g = 3 * k
        corners = np.array([[lo[0] - g, lo[1] - g], [hi[0] + g, lo[1] - g], [lo[0] - g, hi[1] + g],
                            [hi[0] + g, hi[1] + g]])
        m_rig = float(np.linalg.norm(corners @ rigid[:, :2].T + rigid[:, 2] - corners, axis=1).max())
    if s.occlusion:  # the face's own motion fades without a fold guard
        reach = max(s.falloff * fs, s.fold_guard * m_rig, s.detail_falloff * fs)
    else:
        m_all = m_rig + float(np.abs(tgt_xy - drv_xy).max())
        reach = max(s.falloff, s.detail_falloff) * fs + s.fold_guard * 1.5 * m_all
    reach += 4 * k + 4
    x0, y0 = (max(int(np.floor(v - reach)), 0) for v in lo)
    x1, y1 = min(int(np.ceil(hi[0] + reach)) + 1, W), min(int(np.ceil(hi[1] + reach)) + 1, H)
    if x1 - x0 < 8 or y1 - y0 < 8:
        x0 = y0 = x1 = y1 = 0
        return DenseWarp((H, W), (0, 0, 0, 0), np.zeros((0, 0, 2), np.float32), np.zeros((0, 0), bool))
    off = np.array([x0, y0], np.float64)
    rig = None
    if rigid is not None:  # the same affine in box coordinates
        rig = np.array(rigid, np.float64)
        rig[:, 2] = rig[:, :2] @ off + rig[:, 2] - off
    shift = np.array([x0, y0, 0.0])
    band = None if release_rows is None or not s.neck_release else (release_rows[0] - y0, release_rows[1] - y0)
    d, c = _dense_displacement(driven - shift, target - shift, triangles, (y1 - y0, x1 - x0),
                               hull_src - off, s, rig, band)
    if s.occlusion:
        _fill_uncovered(d, (x0, y0), driven, target, triangles, (H, W))
    return DenseWarp((H, W), (x0, y0, x1, y1), d, c)


_USED: dict = {}


def _used_vertices(triangles: np.ndarray) -> np.ndarray:
    """The vertices the triangles use (sorted), cached per triangle array."""
    key = (id(triangles), triangles.shape)
    hit = _USED.get(key)
    if hit is None or hit[0] is not triangles:
        if len(_USED) > 16:
            _USED.clear()
        hit = _USED[key] = (triangles, np.unique(triangles))
    return hit[1]


def _dense_displacement(driven, target, triangles, size, hull_src, s: WarpSettings, rigid, band=None):
    """dense_warp's work inside its box: displacement (h, w, 2) float32 and covered (h, w)."""
    H, W = size
    k = max(int(s.work_scale), 1)
    h, w = (H + k - 1) // k, (W + k - 1) // k
    used = _used_vertices(triangles)
    # the face's own map is computed in the driven mesh's box, aligned to the work grid
    mlo = np.floor(driven[used, :2].min(0)).astype(int) - 1
    mhi = np.ceil(driven[used, :2].max(0)).astype(int) + 2
    mx0, my0 = (int(v) for v in np.clip(mlo // k * k, 0, [W, H]))
    mx1, my1 = (int(v) for v in np.clip(-(-mhi // k) * k, 0, [W, H]))
    mw, mh = mx1 - mx0, my1 - my0
    covered = np.zeros((H, W), bool)
    disp_m = np.zeros((max(mh, 0), max(mw, 0), 2), np.float32)
    if mw > 0 and mh > 0:
        ids = rasterize_triangle_ids(driven - [mx0, my0, 0.0], triangles, (mh, mw))
        cov_m = ids >= 0
        covered[my0:my1, mx0:mx1] = cov_m
        A = triangle_affines(driven[:, :2], target[:, :2], triangles)
        # uncovered pixels take an extra identity affine, i.e. zero displacement; the
        # displacement is (A - I) applied to the pixel: one gather of 6 coefficients
        T = len(A)
        B = np.empty((T + 1, 6), np.float32)
        B[:T] = A.reshape(T, 6)
        B[T] = (1, 0, 0, 0, 1, 0)
        B[:, 0] -= 1.0
        B[:, 4] -= 1.0
        ids[~cov_m] = T
        coef = np.take(B, ids, axis=0)  # (mh, mw, 6)
        gx, gy = _grid(H, W)
        gx, gy = gx[my0:my1, mx0:mx1], gy[my0:my1, mx0:mx1]
        disp_m[..., 0] = coef[..., 0] * gx + coef[..., 1] * gy + coef[..., 2]
        disp_m[..., 1] = coef[..., 3] * gx + coef[..., 4] * gy + coef[..., 5]

    # extension: at low resolution, then upsampled (the field is smooth there)
    cov_small = np.zeros((h, w), np.float32)
    disp_small = np.zeros((h, w, 2), np.float32)
    if mw > 0 and mh > 0:
        sw, sh = -(-mw // k), -(-mh // k)
        cm = covered[my0:my1, mx0:mx1].astype(np.float32)
        dm = disp_m
        if sw * k != mw or sh * k != mh:  # clipped at the frame's edge: pad to whole cells
            cm = cv2.copyMakeBorder(cm, 0, sh * k - mh, 0, sw * k - mw, cv2.BORDER_CONSTANT, value=0)
            dm = cv2.copyMakeBorder(dm, 0, sh * k - mh, 0, sw * k - mw, cv2.BORDER_CONSTANT, value=0)
        sx0, sy0 = mx0 // k, my0 // k
        cs = cv2.resize(cm, (sw, sh), interpolation=cv2.INTER_AREA)
        ds = cv2.resize(dm, (sw, sh), interpolation=cv2.INTER_AREA)
        cov_small[sy0:sy0 + sh, sx0:sx0 + sw] = cs[:h - sy0, :w - sx0]
        disp_small[sy0:sy0 + sh, sx0:sx0 + sw] = (ds / np.maximum(cs, 1e-6)[..., None])[:h - sy0, :w - sx0]
    full = cov_small > 0.999
    if rigid is not None:
        sx, sy = np.meshgrid((np.arange(w) + 0.5) * k - 0.5, (np.arange(h) + 0.5) * k - 0.5)
        rig_small = np.stack([rigid[0, 0] * sx + rigid[0, 1] * sy + rigid[0, 2] - sx,
                              rigid[1, 0] * sx + rigid[1, 1] * sy + rigid[1, 2] - sy], -1).astype(np.float32)
        if band is not None and band[1] > band[0]:
            # below the face the body takes over; the face's own (push-pull) motion bridges the edge
            rig_small *= (1.0 - smoothstep((sy - band[0]) / (band[1] - band[0])))[..., None].astype(np.float32)
    else:
        rig_small = np.zeros((h, w, 2), np.float32)
    filled = push_pull_fill(disp_small - rig_small, full.astype(np.float32))
    hull = cv2.convexHull(np.round(hull_src / k * 16).astype(np.int32))
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, hull, 1, lineType=cv2.LINE_8, shift=4)
    dist = cv2.distanceTransform((1 - inside).astype(np.uint8), cv2.DIST_L2, 3) * k
    size_px = max(face_size(hull_src), 1.0)
    # a fade over distance D of a motion of size m stretches by up to 1.5 m / D (smoothstep's
    # steepest slope): keep D >= fold_guard * m so the map never folds (no tearing, no doubled hair)
    near = cv2.dilate(inside, np.ones((3, 3), np.uint8)).astype(bool)
    m_rigid = float(np.linalg.norm(rig_small[near], axis=-1).max()) if near.any() else 0.0
    m_detail = float(np.linalg.norm(filled[near], axis=-1).max()) if near.any() else 0.0
    fade_rigid = 1.0 - smoothstep(dist / max(s.falloff * size_px, s.fold_guard * m_rigid, 1.0))
    guard_detail = 0.0 if s.occlusion else s.fold_guard
    fade_detail = 1.0 - smoothstep(dist / max(s.detail_falloff * size_px, guard_detail * m_detail, 1.0))
    ext_small = rig_small * fade_rigid[..., None] + filled * fade_detail[..., None]
    # upsampled on whole cells (w k, h k) so the small grid's cell centres stay where they are
    ext = cv2.resize(ext_small, (w * k, h * k), interpolation=cv2.INTER_LINEAR)[:H, :W]
    if k > 1 and mw > 0 and mh > 0:
        # the low-resolution field is blurred at the face's edge: carry the exact edge values
        # a few pixels out (normalised convolution, two box passes) so the map is continuous there
        # all of it happens within 4k of covered pixels: work in the mesh's box plus a margin
        # (zero borders: outside that box the blurred values are exactly zero anyway)
        r = 4 * k + 2
        bx0, by0, bx1, by1 = max(mx0 - r, 0), max(my0 - r, 0), min(mx1 + r, W), min(my1 + r, H)
        sub = (slice(by0, by1), slice(bx0, bx1))
        cov = covered[sub]
        e = ext[sub]
        # mismatch (2 channels) and coverage (1) blurred together: one filter call per pass
        acc = np.zeros(cov.shape + (3,), np.float32)
        acc[..., 2] = cov
        ms = (slice(my0 - by0, my1 - by0), slice(mx0 - bx0, mx1 - bx0))
        acc[ms + (slice(0, 2),)] = (disp_m - e[ms]) * acc[ms + (slice(2, 3),)]
        box = (4 * k + 1, 4 * k + 1)
        acc = cv2.blur(cv2.blur(acc, box, borderType=cv2.BORDER_CONSTANT), box, borderType=cv2.BORDER_CONSTANT)
        # only a thin ring outside the face needs it: the weight is zero on the face and
        # beyond 4k (dense arithmetic over the small box beats gathering the ring's pixels)
        edge = cv2.distanceTransform((~cov).astype(np.uint8), cv2.DIST_L2, 3)
        wgt = (1.0 - smoothstep(edge * (1.0 / (4.0 * k)))) / np.maximum(acc[..., 2], 1e-3)
        wgt[cov] = 0.0
        e += acc[..., :2] * wgt[..., None]
    if mw > 0 and mh > 0:
        m = (slice(my0, my1), slice(mx0, mx1))
        np.copyto(ext[m], disp_m, where=covered[m][..., None])
    return ext, covered


#: target-side buffers of ``_fill_uncovered`` (a still target: the same every frame)
_UNCOVER_CACHE: dict = {}


def _target_outside(target: np.ndarray, triangles: np.ndarray, size: tuple[int, int]):
    """The target face's outline mask in a box around it and, for every pixel inside, the
    nearest pixel outside (frame pixels). Cached on the target's vertices."""
    used = _used_vertices(triangles)
    txy = np.ascontiguousarray(target[used, :2], np.float64)
    key = (hash(txy.tobytes()), len(used), tuple(size))
    hit = _UNCOVER_CACHE.get(key)
    if hit is not None:
        return hit
    H, W = size
    hull = cv2.convexHull(np.round(txy * 16).astype(np.int32))
    lo = np.floor(txy.min(0)).astype(int) - 2
    hi = np.ceil(txy.max(0)).astype(int) + 3
    tx0, ty0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    tx1, ty1 = min(int(hi[0]), W), min(int(hi[1]), H)
    if tx1 <= tx0 or ty1 <= ty0:
        res = None
    else:
        t = np.zeros((ty1 - ty0, tx1 - tx0), np.uint8)
        cv2.fillConvexPoly(t, hull - np.array([tx0 * 16, ty0 * 16], np.int32), 1, lineType=cv2.LINE_8, shift=4)
        if t.all() or not t.any():
            res = None
        else:
            _, lab = cv2.distanceTransformWithLabels(t, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
            ey, ex = np.nonzero(t == 0)  # labels number these zero pixels in raster order, from 1
            res = ((tx0, ty0, tx1, ty1), t, lab, (ex + tx0).astype(np.float32), (ey + ty0).astype(np.float32))
    if len(_UNCOVER_CACHE) > 8:
        _UNCOVER_CACHE.clear()
    _UNCOVER_CACHE[key] = res
    return res


def _fill_uncovered(ext: np.ndarray, origin: tuple[int, int], driven: np.ndarray, target: np.ndarray,
                    triangles: np.ndarray, size: tuple[int, int]) -> None:
    """Where an output pixel off the driven face would sample the target's face (the face
    moved away and uncovered what was behind it), sample just beside the target's face
    instead: the nearest pixel outside its outline, 1.5 px further out. ext (h, w, 2) is
    the displacement of a box of the frame whose top-left pixel is ``origin``, changed in
    place; driven/target (N, 3) screen vertices (frame pixels); triangles (T, 3) the warped
    ones (their vertices' convex hulls are the faces' outlines); size (H, W) of the frame.
    Without it the output shows a second, old copy of the face's edge there.
    """
    H, W = size
    bx, by = origin
    hb, wb = ext.shape[:2]
    tgt = _target_outside(target, triangles, size)
    if tgt is None:
        return
    (tx0, ty0, tx1, ty1), t, lab, ex, ey = tgt
    # only output pixels within the largest displacement of the target's face can sample it
    m = int(np.ceil(np.abs(ext).max())) + 2
    ox0, oy0 = max(tx0 - m, bx), max(ty0 - m, by)
    ox1, oy1 = min(tx1 + m, bx + wb), min(ty1 + m, by + hb)
    if ox1 <= ox0 or oy1 <= oy0:
        return
    used = _used_vertices(triangles)
    out_face = np.zeros((oy1 - oy0, ox1 - ox0), np.uint8)
    cv2.fillConvexPoly(out_face, cv2.convexHull(np.round((driven[used, :2] - [ox0, oy0]) * 16).astype(np.int32)), 1,
                       lineType=cv2.LINE_8, shift=4)
    gx, gy = _grid(H, W)
    gx, gy = gx[oy0:oy1, ox0:ox1], gy[oy0:oy1, ox0:ox1]
    e = ext[oy0 - by:oy1 - by, ox0 - bx:ox1 - bx]
    sx, sy = gx + e[..., 0], gy + e[..., 1]
    xi = np.round(sx).astype(np.int32) - tx0
    yi = np.round(sy).astype(np.int32) - ty0
    inb = (xi >= 0) & (yi >= 0) & (xi < tx1 - tx0) & (yi < ty1 - ty0) & (out_face == 0)
    hit = np.zeros_like(inb)
    hit[inb] = t[yi[inb], xi[inb]] > 0
    if not hit.any():
        return
    l = lab[yi[hit], xi[hit]] - 1
    qx, qy = ex[l], ey[l]
    vx, vy = qx - sx[hit], qy - sy[hit]
    n = np.maximum(np.hypot(vx, vy), 1e-3)
    e[hit, 0] = qx + 1.5 * vx / n - gx[hit]
    e[hit, 1] = qy + 1.5 * vy / n - gy[hit]


#: (gx, gy): the pixel grids of the largest size asked for so far (see ``_grid``)
_GRID: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
_GRID_LOCK = threading.Lock()


def _grid(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (H, W) float32, gx[i, j] = j and gy[i, j] = i (read-only views).

    One pair of grids is kept, grown to the largest size asked for: every smaller grid is its
    top-left corner. (A grid per size, as before, grew without bound in the live pipeline, whose
    warp box changes size from frame to frame: ~0.4 MB per new size, +560 MB in 10 minutes.)
    """
    global _GRID
    gx, gy = _GRID
    if gx.shape[0] < H or gx.shape[1] < W:
        with _GRID_LOCK:
            gx, gy = _GRID
            if gx.shape[0] < H or gx.shape[1] < W:
                h, w = max(H, gx.shape[0]), max(W, gx.shape[1])
                gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
                gx.flags.writeable = gy.flags.writeable = False
                _GRID = (gx, gy)
    return gx[:H, :W], gy[:H, :W]


def remap(image: np.ndarray, mp: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``mp`` (H, W, 2) with bilinear interpolation, edges replicated."""
    return cv2.remap(image, mp[..., 0], mp[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def feathered_polygon_mask(polygon: np.ndarray, size: tuple[int, int], feather: float = 1.5,
                           erode: float = 0.0) -> np.ndarray:
    """Soft mask (H, W) float32 in [0, 1] of a polygon (K, 2), blurred by ``feather`` px."""
    H, W = size
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, [np.round(polygon * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    m = m.astype(np.float32) / 255.0
    if erode > 0:
        r = int(np.ceil(erode))
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return m
