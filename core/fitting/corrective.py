"""Per-clip corrective deformation: the face motion the model's blendshapes cannot express.

After the whole-video fit (and its image-motion refinement) the image still moves in ways
no expression of the model reproduces. Measured on d6 (bench_flow_evidence pairs, mesh flow
photometric error / DIS's): refitting each frame's expression to DIS's own flow at the
visible vertices (camera and identity fixed) only reaches 1.94x (built-in) / 1.85x (ICT),
1.81x / 1.76x even without the [0, 1] box, while moving the visible vertices freely with
DIS reaches 1.17x / 1.02x. A low-rank corrective basis learned from the clip (PCA of the
residual motion, K = 12 to 64, seeds-digest "learning 3DMMs from video") reached only
1.98x to 1.83x: the missing motion is local (each brow, lid and lip corner on its own) and
of high rank. So the corrective is per frame, at control points, spread smoothly:

1. Control points: the tracker's face points on the model surface (the model's embedding),
   less the outline (it slides along the silhouette), plus the two iris centres.
2. Their image motion: pyramidal Lucas-Kanade from frame f to f+1 started at the fit's own
   motion, at the *fitted* points (near lid and lip edges the motion changes within the
   pixel or two between the fitted and the tracker's points: measured at the tracker's
   points the free-vertex figure above was 1.5x instead of 1.16x).
3. Per point, the residual motion (measured less the fit's own) is fused with "the fit is
   right" into per-frame image offsets h_f (px): ``sum_f |h_f|^2 + C^2 sum_f |h_{f+1} - h_f
   - r_f|^2`` over frames where the point faces the camera and was tracked
   (image_motion._fuse; C = ``corrective_crossover_frames``): frame-to-frame motion from the
   image, no drift. Lifted to model space at the least-norm ``d = R[:2]^T h / s`` (cm; an
   orthographic camera does not see depth).
4. Vertices follow the control points through fixed weights: skin by a normalised Gaussian
   over the nearest points on the neutral face (``corrective_kernel_cm``), fading out beyond
   the outermost points; eyeballs follow their iris centre (a gaze change the blendshapes
   missed); mouth interior stays put.

The result is stored in the Reconstruction (``corrective``, ``corrective_index``,
``corrective_weight``) so every frame's mesh is rebuilt exactly. Model space: cm, y up,
face looking down +z. Image: pixels, origin top-left, y down.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import OrthoCameras
from core.fitting.image_motion import PointMotion, _fuse
from core.fitting.settings import FitSettings
from core.model.face_model import FaceModel

#: regions the corrective never moves: nothing tracked lies on them (teeth and tongue follow
#: the jaw's blendshapes)
FIXED_REGIONS = ("mouth_interior", "teeth", "gums_tongue")
#: eyeball regions: they follow the iris centre of their eye (a 2D shift of the eyeball
#: approximates a gaze change the blendshapes missed), never the skin around them
EYE_REGIONS = ("eyeballs", "eyeball_left", "eyeball_right", "left_iris", "right_iris")
#: MediaPipe's iris centres (468: the subject's right eye, 473: left)
IRIS_CENTRES = (468, 473)
#: a point counts as visible in a frame when its surface normal faces the camera by at least
#: this cosine (at grazing angles LK tracks the silhouette, not the surface point)
VISIBLE_COSINE = 0.2
#: the tracker's face points are ~0.8 cm apart: inside the face no vertex is farther than
#: ~0.5 cm from one; beyond this distance from the nearest point the corrective fades out
FADE_START_CM = 0.6
#: residual motions beyond this many px per frame are LK failures (occlusion, a hand), not face
MAX_RESIDUAL_PX = 20.0
#: LK for the corrective: the fit predicts each point's motion, so LK starts there
#: (OPTFLOW_USE_INITIAL_FLOW) and one pyramid level above the image is enough (2 levels or a
#: 21 px window: same result on d6; a 9 px window: worse); forward only
CORRECTIVE_LK_LEVELS = 1
CORRECTIVE_LK_WINDOW = 15
#: LK iterations (stops earlier at a 0.02 px step)
CORRECTIVE_LK_ITERATIONS = 10


@dataclass
class Corrective:
    """A corrective deformation: per-frame offsets of M control points on the surface
    (tracker points), extended to the vertices by fixed weights.

    points : (M,) int32   the tracker points (indices into the model's embedding)
    offsets : (F, M, 3) float32   model-space offset of each point per frame (cm; 0 without a fit)
    index : (N, k) int32, weight : (N, k) float32   vertex v moves by
        ``sum_j weight[v, j] * offsets[f, index[v, j]]``
    residual_px : (F,) float32   mean size of the image offsets it was made from (px)
    """

    points: np.ndarray
    offsets: np.ndarray
    index: np.ndarray
    weight: np.ndarray
    residual_px: np.ndarray

    def displacement(self, frame: int) -> np.ndarray:
        """(N, 3) float32 model-space displacement of every vertex in ``frame``."""
        return apply_corrective(self.offsets[frame], self.index, self.weight)


def apply_corrective(offsets: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Vertex displacements from control-point offsets: (..., M, 3) -> (..., N, 3) float32."""
    o = np.asarray(offsets, np.float32)
    return np.einsum("...nkc,nk->...nc", o[..., index, :], weight)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) unit area-weighted vertex normals of a mesh (counter-clockwise = outside)."""
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles)
    n = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, tri[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _region(model: FaceModel, names) -> np.ndarray:
    out = np.zeros(model.num_vertices, bool)
    for name in names:
        if name in model.regions:
            out |= np.asarray(model.regions[name], bool)
    return out


def corrective_extension(model: FaceModel, neutral: np.ndarray, point_ids: np.ndarray,
                         sigma_cm: float) -> tuple[np.ndarray, np.ndarray]:
    """(index (N, k) int32, weight (N, k) float32) from the control points ``point_ids`` to
    the model's vertices on the ``neutral`` shape: skin by :func:`kernel_extension` from the
    skin points; eyeball vertices follow the nearest iris centre with weight 1 (when it is a
    control point); :data:`FIXED_REGIONS` stay put.

    (Barycentric weights over the tracker's own triangulation, so that the upper and lower lid
    or lip can never mix, measured the same as this kernel on d6: 1.625x vs 1.622x DIS with
    ICT, 1.36x vs 1.35x built-in; the simpler kernel is kept.)
    """
    pts = model.embedded_points(neutral)[point_ids]
    iris = np.isin(point_ids, np.arange(468, 478))
    eye = _region(model, EYE_REGIONS)
    skin = ~eye & ~_region(model, FIXED_REGIONS)
    skin_ids = np.flatnonzero(~iris)
    j, w = kernel_extension(pts[skin_ids], neutral, skin, sigma_cm)
    index, weight = skin_ids[j].astype(np.int32), w
    centres = [int(np.flatnonzero(point_ids == c)[0]) for c in IRIS_CENTRES if c in point_ids]
    if centres and eye.any():
        ev = np.flatnonzero(eye)
        d = np.linalg.norm(neutral[ev, None] - pts[centres][None], axis=-1)
        index[ev] = 0
        weight[ev] = 0.0
        index[ev, 0] = np.asarray(centres)[d.argmin(1)]
        weight[ev, 0] = 1.0
    return index, weight


def kernel_extension(points: np.ndarray, vertices: np.ndarray, movable: np.ndarray, sigma_cm: float,
                     neighbours: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Weights from M points to N vertices: a normalised Gaussian over the ``neighbours``
    nearest points, fading to 0 beyond ``FADE_START_CM`` from the nearest point; 0 where not ``movable``.

    points (M, 3), vertices (N, 3) cm on one (neutral) shape. Returns index (N, k) int32 into
    the points and weight (N, k) float32.
    """
    from scipy.spatial import cKDTree

    N, M = len(vertices), len(points)
    k = min(neighbours, M)
    d, j = cKDTree(points).query(vertices, k=k)
    d, j = d.reshape(N, k), j.reshape(N, k)
    w = np.exp(-0.5 * (d / sigma_cm) ** 2)
    # normalised (a vertex on a point follows it exactly), then faded out with the distance
    # to the nearest point beyond FADE_START_CM (vertices past the outermost points: forehead,
    # ears, neck; inside the face no vertex is that far from a tracker point)
    fade = np.exp(-0.5 * (np.maximum(d[:, 0] - FADE_START_CM, 0.0) / FADE_START_CM) ** 2)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12) * fade[:, None]
    w[~movable] = 0.0
    return j.astype(np.int32), w.astype(np.float32)


def point_visibility(model: FaceModel, neutral: np.ndarray, cams: OrthoCameras, idx: np.ndarray) -> np.ndarray:
    """(F, M) in [0, 1]: how squarely tracker points ``idx`` face the camera per frame
    (0 below :data:`VISIBLE_COSINE`), from the neutral shape's normals turned by each rotation."""
    n = model.embedded_points(vertex_normals(neutral, model.triangles))[idx]
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # depth grows away from the camera, so a surface facing the camera has negative depth normal
    facing = -np.einsum("fj,mj->fm", np.asarray(cams.rotation, np.float64)[:, 2], n)
    vis = np.clip((facing - VISIBLE_COSINE) / (1.0 - VISIBLE_COSINE), 0.0, 1.0)
    # an iris centre is seen whenever the face is (the eyeball's own mesh normals there are not
    # reliable: on ICT they face inwards); the tracker's iris points are a fit, not a surface
    iris = np.isin(idx, IRIS_CENTRES)
    if iris.any():
        vis[:, iris] = 1.0
    return vis


def fused_offsets(p: np.ndarray, disp: np.ndarray, tracked: np.ndarray, vis: np.ndarray, seg: np.ndarray,
                  crossover_frames: float) -> np.ndarray | None:
    """Per-frame image offsets h (F, M, 2) px of M points from their fitted positions p (F, M, 2):
    the measured motion disp (F-1, M, 2) where ``tracked`` (F-1, M) less the fit's own, fused
    with h = 0 (image_motion._fuse); vis (F, M) the points' visibility, seg (F,) the frames'
    segments (-1: no fit). None if too little was measured.

    (Dropping steps further than 3 px from the median of the point's mesh neighbours, as LK
    failures, made d6 worse: 1.41x vs 1.35x DIS; d6's brows and lips really move apart from
    their neighbours, e.g. a 14 px brow jump between frames 5 and 6.)"""
    F, M = p.shape[:2]
    r = disp - (p[1:] - p[:-1])
    linked = (seg[:-1] >= 0) & (seg[:-1] == seg[1:])
    ok = tracked & linked[:, None] & (vis[:-1] > 0) & (vis[1:] > 0) & (np.linalg.norm(r, axis=-1) < MAX_RESIDUAL_PX)
    if ok.sum() < 10 * M:
        return None
    c = np.repeat(np.where(ok, crossover_frames ** 2, 0.0), 2, axis=1)
    h = _fuse(np.where(ok[..., None], r, 0.0).reshape(F - 1, 2 * M), c, (seg >= 0).astype(float)).reshape(F, M, 2)
    h[seg < 0] = 0.0
    return h


def learn_corrective(model: FaceModel, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras,
                     usable: np.ndarray, segment: np.ndarray, frames, settings: FitSettings,
                     cancelled=None, crops: list | None = None, basis=None,
                     duplicate: np.ndarray | None = None) -> Corrective | None:
    """The corrective of a fitted clip (module docstring); None when the clip is too short,
    the model has no tracker embedding, or too little could be tracked.

    identity (Ki,), expression (F, Ke), cams (F): the final fit; usable, segment (F,): frames
    with a fit and their track segments; frames: iterable over the clip's images (RGB or grey
    uint8), aligned with the fit, or None with ``crops`` (see :func:`measure_at_fit`);
    basis: the model's tracker-point basis if already built (``basis_from_embedding``);
    duplicate (F,) bool: frames repeating their predecessor (``PointMotion.duplicate``).
    """
    from core.fitting.basis import basis_from_embedding

    s = settings
    F = expression.shape[0]
    seg = np.where(usable, segment, -1)
    if F < 3 or model.embedding is None:
        return None
    point_ids = tracked_points(len(model.embedding))
    sub = (basis if basis is not None else basis_from_embedding(model)).subset(point_ids)
    p = cams.project(sub.points(identity, expression))[..., :2]               # (F, M, 2)
    measured = measure_at_fit(frames, p, seg >= 0, cancelled, crops, duplicate)
    return corrective_from_motion(model, identity, cams, seg, p, measured, point_ids, s)


def corrective_from_motion(model: FaceModel, identity: np.ndarray, cams: OrthoCameras, seg: np.ndarray,
                           p: np.ndarray, measured: PointMotion, point_ids: np.ndarray,
                           settings: FitSettings) -> Corrective | None:
    """Steps 3-4 of the module docstring: the corrective from the fitted control points p
    (F, M, 2) px and their measured motion (``measure_at_fit``); seg (F,) segments, -1 where
    the frame has no fit."""
    neutral = model.vertices(identity, None).astype(np.float64)
    vis = point_visibility(model, neutral, cams, point_ids)
    vis[seg < 0] = 0.0
    h = fused_offsets(p, measured.displacement, measured.tracked, vis, seg, settings.corrective_crossover_frames)
    if h is None:
        return None
    R2 = np.asarray(cams.rotation, np.float64)[:, :2]
    lifted = np.einsum("fij,fmi->fmj", R2, h) / np.asarray(cams.scale, np.float64)[:, None, None]
    index, weight = corrective_extension(model, neutral, point_ids, settings.corrective_kernel_cm)
    return Corrective(np.asarray(point_ids, np.int32), lifted.astype(np.float32), index, weight,
                      np.linalg.norm(h, axis=-1).mean(1).astype(np.float32))


def tracked_points(num_points: int) -> np.ndarray:
    """Control points of the corrective: the tracker's 468 face points less the outline (it
    slides along the silhouette as the head turns, so it is not a surface point), and the two
    iris centres when the model has them (the eyeballs follow them)."""
    from core.fitting.weights import FACE_OVAL

    ids = np.arange(min(num_points, 468))
    ids = ids[~np.isin(ids, FACE_OVAL)]
    return np.concatenate([ids, [c for c in IRIS_CENTRES if c < num_points]]).astype(np.int64)


def measure_at_fit(frames, p: np.ndarray, usable: np.ndarray, cancelled=None, crops: list | None = None,
                   duplicate: np.ndarray | None = None) -> PointMotion:
    """LK from frame f to f+1 at the fitted points p (F, M, 2) px, started at the fit's own
    motion; forward only; a point counts where LK converged.

    frames : iterable over the clip's images, or None with ``crops``: the face regions kept by
    ``image_motion.measure_points`` (no second decoding). Measured at the fitted points, not
    the tracker's (module docstring). ``duplicate`` (F,) bool: frames that repeat the previous
    picture (the fit copies them too): their motion is the fit's own, not measured.
    """
    import cv2

    from core.fitting.image_motion import _face_box, _grey_frames

    F, M = p.shape[:2]
    disp = np.zeros((max(F - 1, 0), M, 2))
    tracked = np.zeros((max(F - 1, 0), M), bool)
    win = (CORRECTIVE_LK_WINDOW, CORRECTIVE_LK_WINDOW)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, CORRECTIVE_LK_ITERATIONS, 0.02)

    def pair(f: int, prev, piece) -> None:
        """Measure frame f-1 -> f from their pieces (x0, y0, grey region)."""
        if duplicate is not None and duplicate[f] and usable[f - 1] and usable[f]:
            disp[f - 1] = p[f] - p[f - 1]
            tracked[f - 1] = True
            return
        if piece is None or prev is None or not (usable[f - 1] and usable[f]):
            return
        # the same image region of both frames: the overlap of their pieces
        ox, oy = max(prev[0], piece[0]), max(prev[1], piece[1])
        ex = min(prev[0] + prev[2].shape[1], piece[0] + piece[2].shape[1])
        ey = min(prev[1] + prev[2].shape[0], piece[1] + piece[2].shape[0])
        if ex - ox < 16 or ey - oy < 16:
            return
        a = prev[2][oy - prev[1]:ey - prev[1], ox - prev[0]:ex - prev[0]]
        b = piece[2][oy - piece[1]:ey - piece[1], ox - piece[0]:ex - piece[0]]
        box = _face_box(b, p[f - 1] - [ox, oy], p[f] - [ox, oy], margin=2 * CORRECTIVE_LK_WINDOW)
        if box is None:
            return
        x0, y0, x1, y1 = box
        o = np.array([ox + x0, oy + y0], np.float64)
        q0 = (p[f - 1] - o).astype(np.float32).reshape(-1, 1, 2)
        q1 = (p[f] - o).astype(np.float32).reshape(-1, 1, 2)
        q1, st, _ = cv2.calcOpticalFlowPyrLK(np.ascontiguousarray(a[y0:y1, x0:x1]),
                                             np.ascontiguousarray(b[y0:y1, x0:x1]), q0, q1,
                                             winSize=win, maxLevel=CORRECTIVE_LK_LEVELS,
                                             criteria=crit, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        disp[f - 1] = (q1 - q0)[:, 0]
        tracked[f - 1] = st[:, 0] == 1

    def run(f0: int, f1: int) -> None:
        for f in range(max(f0, 1), f1):
            if cancelled is not None and f % 25 == 0 and cancelled():
                return
            pair(f, crops[f - 1], crops[f])

    if crops is None:
        prev = None
        for f, g in enumerate(_grey_frames(frames, F)):
            if cancelled is not None and f % 25 == 0 and cancelled():
                break
            piece = (0, 0, g)
            if f > 0:
                pair(f, prev, piece)
            prev = piece
    else:
        # (two threads on halves of the clip: 0.82 s vs 0.86 s on d6; OpenCV's LK is already
        # parallel inside, so one)
        run(0, min(F, len(crops)))
    return PointMotion(np.asarray(p, np.float64), disp, tracked, np.zeros(F, bool))
