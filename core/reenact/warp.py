"""The warp renderer: a mesh-driven backward warp of the target frame (runs live on a CPU).

For every output pixel covered by the driven mesh, the source position in the
target frame is the same barycentric point on the target's fitted, projected
mesh. Triangle ids come from a small painter's-algorithm rasteriser (OpenCV
``fillPoly`` per triangle, far to near, back faces culled); barycentric
interpolation inside a triangle is the triangle's affine map, so the dense map is
one 2x3 matrix per triangle applied to the covered pixels.

Beyond the face the displacement (map - pixel) is extended by push-pull
interpolation (a multi-scale membrane fill from the face's boundary values) and
faded to zero with a smoothstep over ``falloff`` face sizes, so hair, ears and neck
follow the head near the face and the far background stays still, with no
tearing. What the target never showed is filled afterwards: the mouth interior
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

    falloff: float = 0.3
    #: distance (face sizes) over which the face's non-rigid motion fades into the rigid head motion
    detail_falloff: float = 0.1
    work_scale: int = 4
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
    reach = max(s.falloff, s.detail_falloff) * face_size(hull_src) + 2.5 * 1.5 * m_all + 4 * s.work_scale + 4
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
    gx, gy = _grid(H, W)
    mp = np.stack([gx + disp[..., 0], gy + disp[..., 1]], axis=-1)
    return DenseWarp(map=mp, covered=covered, displacement=disp, box=(x0, y0, x1, y1))


def _dense_displacement(driven, target, triangles, size, hull_src, s: WarpSettings, rigid):
    """dense_warp's work inside its box: displacement (h, w, 2) float32 and covered (h, w)."""
    H, W = size
    ids = rasterize_triangle_ids(driven, triangles, size)
    covered = ids >= 0
    A = triangle_affines(driven[:, :2].astype(np.float64), target[:, :2].astype(np.float64), triangles)
    flat = np.flatnonzero(covered)  # covered pixels, row-major
    ys, xs = np.divmod(flat, W)
    Ai = A.astype(np.float32)[ids.ravel()[flat]]
    xf, yf = xs.astype(np.float32), ys.astype(np.float32)
    inner = np.empty((flat.size, 2), np.float32)
    inner[:, 0] = Ai[:, 0, 0] * xf + Ai[:, 0, 1] * yf + Ai[:, 0, 2] - xf
    inner[:, 1] = Ai[:, 1, 0] * xf + Ai[:, 1, 1] * yf + Ai[:, 1, 2] - yf
    disp = np.zeros((H, W, 2), np.float32)
    disp.reshape(-1, 2)[flat] = inner

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
    # steepest slope): keep D >= 2.5 m so the map never folds (no tearing, no doubled hair)
    near = cv2.dilate(inside, np.ones((3, 3), np.uint8)).astype(bool)
    m_rigid = float(np.linalg.norm(rig_small[near], axis=-1).max()) if near.any() else 0.0
    m_detail = float(np.linalg.norm(filled[near], axis=-1).max()) if near.any() else 0.0
    fade_rigid = 1.0 - smoothstep(dist / max(s.falloff * size_px, 2.5 * m_rigid, 1.0))
    fade_detail = 1.0 - smoothstep(dist / max(s.detail_falloff * size_px, 2.5 * m_detail, 1.0))
    ext_small = rig_small * fade_rigid[..., None] + filled * fade_detail[..., None]
    ext = cv2.resize(ext_small, (W, H), interpolation=cv2.INTER_LINEAR)
    if k > 1:
        # the low-resolution field is blurred at the face's edge: carry the exact edge values
        # a few pixels out (normalised convolution, two box passes) so the map is continuous there
        ext_flat = ext.reshape(-1, 2)
        mism = np.zeros((H, W, 2), np.float32)
        mism.reshape(-1, 2)[flat] = inner - ext_flat[flat]
        cov = covered.astype(np.float32)
        box = (4 * k + 1, 4 * k + 1)
        num = cv2.blur(cv2.blur(mism, box), box)
        den = cv2.blur(cv2.blur(cov, box), box)
        edge = cv2.distanceTransform((~covered).astype(np.uint8), cv2.DIST_L2, 3)
        band = np.flatnonzero((edge < 4.0 * k) & ~covered)  # only a thin ring needs it
        wgt = (1.0 - smoothstep(edge.ravel()[band] / (4.0 * k))) / np.maximum(den.ravel()[band], 1e-3)
        ext_flat[band] += num.reshape(-1, 2)[band] * wgt[:, None]
    ext.reshape(-1, 2)[flat] = inner
    return ext, covered


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (H, W) float32, cached per size (read-only)."""
    g = _GRIDS.get((H, W))
    if g is None:
        gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        gx.flags.writeable = gy.flags.writeable = False
        g = _GRIDS.setdefault((H, W), (gx, gy))
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
