"""The dense backward warp: a mesh-driven map from the output frame to the target frame.

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
stays put while the face moves, which is what this models. What the target never showed
is filled afterwards: the mouth interior (``core.warp.mouth``) and the iris moved for gaze
(``core.warp.eyes``).

Conventions: pixels, origin top-left, x right, y down; images RGB uint8 (H, W, 3);
screen vertices (N, 3) = x_px, y_px, depth (larger = farther, ``core.camera``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.numeric import smoothstep
from core.warp.fields import face_size, push_pull_fill
from core.warp.raster import pixel_grid, rasterize_triangle_ids, triangle_affines
from core.warp.settings import WarpSettings


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
        gx, gy = pixel_grid(*self.size)
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
        gx, gy = pixel_grid(H, W)
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
    gx, gy = pixel_grid(H, W)
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
    nearest = lab[yi[hit], xi[hit]] - 1
    qx, qy = ex[nearest], ey[nearest]
    vx, vy = qx - sx[hit], qy - sy[hit]
    n = np.maximum(np.hypot(vx, vy), 1e-3)
    e[hit, 0] = qx + 1.5 * vx / n - gx[hit]
    e[hit, 1] = qy + 1.5 * vy / n - gy[hit]
