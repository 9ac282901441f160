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
    mouth_fill: bool = True
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
    # pixel centres are at integer coordinates: fillPoly samples them directly
    for t, p in zip(order, pts):
        cv2.fillConvexPoly(ids, p, int(t), lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
    return ids


def triangle_affines(dst_xy: np.ndarray, src_xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-triangle affine maps from output (driven) pixels to target pixels.

    dst_xy, src_xy (N, 2); returns (T, 2, 3) with ``src = A[:, :, :2] @ dst + A[:, :, 2]``
    (degenerate triangles get the translation of their centroid).
    """
    D = np.concatenate([dst_xy[triangles], np.ones(triangles.shape + (1,))], axis=2)  # (T,3,3)
    S = src_xy[triangles]  # (T,3,2)
    det = np.linalg.det(D)
    ok = np.abs(det) > 1e-9
    A = np.zeros((len(triangles), 2, 3))
    A[ok] = np.linalg.solve(D[ok], S[ok]).transpose(0, 2, 1)
    cen_d, cen_s = dst_xy[triangles[~ok]].mean(1), src_xy[triangles[~ok]].mean(1)
    A[~ok, 0, 0] = A[~ok, 1, 1] = 1.0
    A[~ok, :, 2] = cen_s - cen_d
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
    """map (H, W, 2) float32 target pixel per output pixel; covered (H, W) bool: on the driven
    mesh; displacement (H, W, 2) float32 = map - pixel grid; box (x0, y0, x1, y1): outside it
    the displacement is zero (the output there is the target frame)."""

    map: np.ndarray
    covered: np.ndarray
    displacement: np.ndarray
    box: tuple[int, int, int, int] = (0, 0, 0, 0)


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


def dense_warp(driven: np.ndarray, target: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
               hull_points: np.ndarray | None = None, settings: WarpSettings | None = None,
               rigid: np.ndarray | None = None) -> DenseWarp:
    """The backward map from the driven mesh to the target's fitted mesh, extended beyond the face.

    driven : (N, 3) screen vertices of the driven mesh (output frame);
    target : (N, 3) screen vertices of the target's fitted mesh in the target frame;
    triangles (T, 3); size (H, W) of the output (= target frame).
    hull_points : (K, 2) points whose convex hull is "the face" for the fade (default: driven xy).
    rigid : (2, 3) backward affine of the head's rigid motion (``rigid_backward_affine``) or None.
    Beyond the face the displacement is the rigid motion faded over ``falloff`` face sizes
    plus the face's non-rigid remainder (push-pull filled) faded over ``detail_falloff``.
    """
    s = settings or WarpSettings()
    H, W = size
    hull_src = driven[:, :2] if hull_points is None else hull_points
    # everything happens inside a box around the face that holds all the motion: beyond
    # the longest fade (see below) the displacement is exactly zero
    lo, hi = hull_src.min(0), hull_src.max(0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]])
    m_rig = 0.0 if rigid is None else float(np.abs(corners @ rigid[:, :2].T + rigid[:, 2] - corners).max())
    m_all = m_rig + float(np.abs(target[:, :2] - driven[:, :2]).max())
    reach = max(s.falloff, s.detail_falloff) * face_size(hull_src) + s.fold_guard * 1.5 * m_all + 4 * s.work_scale + 4
    x0, y0 = (max(int(np.floor(v - reach)), 0) for v in lo)
    x1, y1 = min(int(np.ceil(hi[0] + reach)) + 1, W), min(int(np.ceil(hi[1] + reach)) + 1, H)
    disp = np.zeros((H, W, 2), np.float32)
    covered = np.zeros((H, W), bool)
    if x1 - x0 >= 8 and y1 - y0 >= 8:
        off = np.array([x0, y0], np.float64)
        rig = None
        if rigid is not None:  # the same affine in box coordinates
            rig = rigid.copy()
            rig[:, 2] = rigid[:, :2] @ off + rigid[:, 2] - off
        shift = np.array([x0, y0, 0.0])
        d, c = _dense_displacement(driven - shift, target - shift, triangles, (y1 - y0, x1 - x0),
                                   hull_src - off, s, rig)
        disp[y0:y1, x0:x1] = d
        covered[y0:y1, x0:x1] = c
    # the map is the pixel grid everywhere but in the box
    mp = _grid_xy(H, W).copy()
    mp[y0:y1, x0:x1] += disp[y0:y1, x0:x1]
    return DenseWarp(map=mp, covered=covered, displacement=disp, box=(x0, y0, x1, y1))


def _dense_displacement(driven, target, triangles, size, hull_src, s: WarpSettings, rigid):
    """dense_warp's work inside its box: displacement (h, w, 2) float32 and covered (h, w)."""
    H, W = size
    ids = rasterize_triangle_ids(driven, triangles, size)
    covered = ids >= 0
    A = triangle_affines(driven[:, :2].astype(np.float64), target[:, :2].astype(np.float64), triangles)
    # dense over the mesh's bounding box (contiguous arrays, no gather/scatter of covered
    # pixels): uncovered pixels take an extra identity affine, i.e. zero displacement
    T = len(A)
    A6 = np.empty((T + 1, 6), np.float32)
    A6[:T] = A.reshape(T, 6)
    A6[T] = (1, 0, 0, 0, 1, 0)
    mx0, my0 = (int(v) for v in np.clip(np.floor(driven[:, :2].min(0)).astype(int) - 1, 0, [W, H]))
    mx1, my1 = (int(v) for v in np.clip(np.ceil(driven[:, :2].max(0)).astype(int) + 2, 0, [W, H]))
    disp = np.zeros((H, W, 2), np.float32)
    if mx1 > mx0 and my1 > my0:
        sub = (slice(my0, my1), slice(mx0, mx1))
        coef = A6[np.where(covered[sub], ids[sub], T)]  # (h, w, 6)
        gx, gy = _grid(H, W)
        gx, gy = gx[sub], gy[sub]
        d = disp[sub]
        d[..., 0] = coef[..., 0] * gx + coef[..., 1] * gy + coef[..., 2] - gx
        d[..., 1] = coef[..., 3] * gx + coef[..., 4] * gy + coef[..., 5] - gy

    # extension: at low resolution, then upsampled (the field is smooth there)
    k = max(int(s.work_scale), 1)
    h, w = (H + k - 1) // k, (W + k - 1) // k
    cov_small = cv2.resize(covered.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    disp_small = cv2.resize(disp, (w, h), interpolation=cv2.INTER_AREA) / np.maximum(cov_small, 1e-6)[..., None]
    full = cov_small > 0.999
    if rigid is not None:
        sx, sy = np.meshgrid((np.arange(w) + 0.5) * k - 0.5, (np.arange(h) + 0.5) * k - 0.5)
        rig_small = np.stack([rigid[0, 0] * sx + rigid[0, 1] * sy + rigid[0, 2] - sx,
                              rigid[1, 0] * sx + rigid[1, 1] * sy + rigid[1, 2] - sy], -1).astype(np.float32)
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
    ext = cv2.resize(ext_small, (W, H), interpolation=cv2.INTER_LINEAR)
    if k > 1:
        # the low-resolution field is blurred at the face's edge: carry the exact edge values
        # a few pixels out (normalised convolution, two box passes) so the map is continuous there
        # all of it happens within 4k of covered pixels: work in the mesh's box plus a margin
        # (zero borders: outside that box the blurred values are exactly zero anyway)
        r = 4 * k + 2
        bx0, by0, bx1, by1 = max(mx0 - r, 0), max(my0 - r, 0), min(mx1 + r, W), min(my1 + r, H)
        if bx1 > bx0 and by1 > by0:
            sub = (slice(by0, by1), slice(bx0, bx1))
            cov = covered[sub]
            e = ext[sub]
            # mismatch (2 channels) and coverage (1) blurred together: one filter call per pass
            acc = np.empty(cov.shape + (3,), np.float32)
            acc[..., 2] = cov
            acc[..., :2] = (disp[sub] - e) * acc[..., 2:]
            box = (4 * k + 1, 4 * k + 1)
            acc = cv2.blur(cv2.blur(acc, box, borderType=cv2.BORDER_CONSTANT), box, borderType=cv2.BORDER_CONSTANT)
            edge = cv2.distanceTransform((~cov).astype(np.uint8), cv2.DIST_L2, 3)
            band = (edge < 4.0 * k) & ~cov  # only a thin ring needs it
            acc_band = acc[band]
            wgt = (1.0 - smoothstep(edge[band] / (4.0 * k))) / np.maximum(acc_band[:, 2], 1e-3)
            e[band] += acc_band[:, :2] * wgt[:, None]
    m = (slice(my0, my1), slice(mx0, mx1))
    np.copyto(ext[m], disp[m], where=covered[m][..., None])
    if s.occlusion:
        _fill_uncovered(ext, driven, target, triangles)
    return ext, covered


def _fill_uncovered(ext: np.ndarray, driven: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> None:
    """Where an output pixel off the driven face would sample the target's face (the face
    moved away and uncovered what was behind it), sample just beside the target's face
    instead: the nearest pixel outside its outline, 1.5 px further out. ext (H, W, 2) is
    the displacement, changed in place; driven/target (N, 3) screen vertices; triangles
    (T, 3) the warped ones (their vertices' convex hulls are the faces' outlines).
    Without it the output shows a second, old copy of the face's edge there.
    """
    H, W = ext.shape[:2]
    used = np.unique(triangles)
    out_face = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(out_face, cv2.convexHull(np.round(driven[used, :2] * 16).astype(np.int32)), 1,
                       lineType=cv2.LINE_8, shift=4)
    tgt_face = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(tgt_face, cv2.convexHull(np.round(target[used, :2] * 16).astype(np.int32)), 1,
                       lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(tgt_face.any(1))[0], np.nonzero(tgt_face.any(0))[0]
    if ys.size == 0:
        return
    # only output pixels within the largest displacement of the target's face can sample it,
    # and the nearest outside pixels are within a pixel of its box: work in those boxes
    m = int(np.ceil(np.abs(ext).max())) + 2
    tx0, ty0, tx1, ty1 = max(xs[0] - 2, 0), max(ys[0] - 2, 0), min(xs[-1] + 3, W), min(ys[-1] + 3, H)
    ox0, oy0, ox1, oy1 = max(tx0 - m, 0), max(ty0 - m, 0), min(tx1 + m, W), min(ty1 + m, H)
    gx, gy = _grid(H, W)
    gx, gy = gx[oy0:oy1, ox0:ox1], gy[oy0:oy1, ox0:ox1]
    e = ext[oy0:oy1, ox0:ox1]
    sx, sy = gx + e[..., 0], gy + e[..., 1]
    xi = np.clip(np.round(sx).astype(np.int32), 0, W - 1)
    yi = np.clip(np.round(sy).astype(np.int32), 0, H - 1)
    hit = (out_face[oy0:oy1, ox0:ox1] == 0) & (tgt_face[yi, xi] > 0)
    t = tgt_face[ty0:ty1, tx0:tx1]
    if not hit.any() or t.all():
        return
    # nearest pixel outside the target's face for every pixel inside it
    _, lab = cv2.distanceTransformWithLabels(t, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    ey, ex = np.nonzero(t == 0)  # labels number these zero pixels in raster order, from 1
    l = lab[yi[hit] - ty0, xi[hit] - tx0] - 1
    qx, qy = (ex[l] + tx0).astype(np.float32), (ey[l] + ty0).astype(np.float32)
    vx, vy = qx - sx[hit], qy - sy[hit]
    n = np.maximum(np.hypot(vx, vy), 1e-3)
    e[hit, 0] = qx + 1.5 * vx / n - gx[hit]
    e[hit, 1] = qy + 1.5 * vy / n - gy[hit]


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (H, W) float32, cached per size (read-only)."""
    g = _GRIDS.get((H, W))
    if g is None:
        gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        gx.flags.writeable = gy.flags.writeable = False
        g = _GRIDS.setdefault((H, W), (gx, gy))
    return g


_GRIDS_XY: dict[tuple[int, int], np.ndarray] = {}


def _grid_xy(H: int, W: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y), cached per size (read-only: copy it)."""
    g = _GRIDS_XY.get((H, W))
    if g is None:
        gx, gy = _grid(H, W)
        g = np.stack([gx, gy], -1)
        g.flags.writeable = False
        g = _GRIDS_XY.setdefault((H, W), g)
    return g


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
