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

1. Control points: the model's face vertices on a ``corrective_spacing_cm`` grid of the
   neutral face (ICT: ~5,100 of its 6,700 face vertices; the built-in mesh: all its 468 face
   vertices, which are ~0.8 cm apart), less the eyeballs and the mouth interior, plus the two
   iris centres. Measured on d6 (ICT, photometric error / DIS's): the tracker's 434 points
   1.40x, a 0.3 cm grid 1.29x, 0.2 cm 1.28x (with the iris centres moving the eyeballs; 1.31x
   without), 0.15 cm 1.27x.
2. Their image motion: the face region's dense optical flow (DIS, ``core.fitting.face_flow``,
   computed while the fit runs) sampled at the *fitted* points, then, in later passes
   (``corrective_passes``), at the corrected ones, where the surface point really is in frame
   f: near lid and lip edges the motion changes within the pixel or two between the two (d6
   built-in: one pass 1.31x, two 1.29x, three 1.28x). (LK at the tracker's points instead of
   DIS at the grid: 1.35x built-in, 1.51x ICT.)
3. Per point, the residual motion (measured less the fit's own) is fused with "the fit is
   right" into per-frame image offsets h_f (px): ``sum_f |h_f|^2 + C^2 sum_f |h_{f+1} - h_f
   - r_f|^2`` over frames where the point faces the camera and was measured
   (image_motion._fuse; C = ``corrective_crossover_frames``): frame-to-frame motion from the
   image, no drift. Lifted to model space at the least-norm ``d = R[:2]^T h / s`` (cm; an
   orthographic camera does not see depth).
4. Vertices follow the control points through fixed weights: skin by a normalised Gaussian
   over the nearest points on the neutral face (0.6 x the grid spacing), fading out beyond
   the outermost points; eyeballs follow their iris centre (a gaze change the blendshapes
   missed); mouth interior stays put.

The result is stored in the Reconstruction (``corrective``, ``corrective_index``,
``corrective_weight``) so every frame's mesh is rebuilt exactly. Model space: cm, y up,
face looking down +z. Image: pixels, origin top-left, y down.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis, basis_from_embedding, basis_from_vertices
from core.fitting.image_motion import _fuse_factor, _fuse_solve
from core.fitting.settings import FitSettings
from core.jobs import CancelToken, ProgressFn, report
from core.model.face_model import FaceModel
from core.render.geometry import VertexNormals

#: regions the corrective never moves: nothing tracked lies on them (teeth and tongue follow
#: the jaw's blendshapes)
FIXED_REGIONS = ("mouth_interior", "teeth", "gums_tongue")
#: eyeball regions: they follow the iris centre of their eye (a 2D shift of the eyeball
#: approximates a gaze change the blendshapes missed), never the skin around them
EYE_REGIONS = ("eyeballs", "eyeball_left", "eyeball_right", "left_iris", "right_iris")
#: MediaPipe's iris centres (468: the subject's right eye, 473: left)
IRIS_CENTRES = (468, 473)
#: a point counts as visible in a frame when its surface normal faces the camera by at least
#: this cosine (at grazing angles the image motion is the silhouette's, not the surface point's)
VISIBLE_COSINE = 0.2
#: the tracker's face points are ~0.8 cm apart: inside the face no vertex is farther than
#: ~0.5 cm from one; beyond this distance from the nearest point the corrective fades out
FADE_START_CM = 0.6
#: residual motions beyond this many px per frame are flow failures (occlusion, a hand), not face
MAX_RESIDUAL_PX = 20.0
#: the kernel's width relative to the control grid's spacing: narrow, so that upper and lower
#: lid, upper and lower lip stay apart (d6 ICT at 0.2 cm: 0.6x 1.276x DIS, 1.0x 1.278x)
KERNEL_PER_SPACING = 0.6
#: the face region a model's control points are taken from (the first it has; else all vertices)
FACE_REGIONS = ("narrow_face", "face")


@dataclass
class Corrective:
    """A corrective deformation: per-frame offsets of M control points on the surface,
    extended to the vertices by fixed weights.

    points : ControlPoints   where the M control points are on the model
    offsets : (F, M, 3) float16   model-space offset of each point per frame (cm; 0 without a fit)
    index : (N, k) int32, weight : (N, k) float32   vertex v moves by
        ``sum_j weight[v, j] * offsets[f, index[v, j]]``
    """

    points: "ControlPoints"
    offsets: np.ndarray
    index: np.ndarray
    weight: np.ndarray


def apply_corrective(offsets: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Vertex displacements from control-point offsets: (..., M, 3) -> (..., N, 3) float32."""
    o = np.asarray(offsets, np.float32)
    return np.einsum("...nkc,nk->...nc", o[..., index, :], weight)


def _region(model: FaceModel, names) -> np.ndarray:
    out = np.zeros(model.num_vertices, bool)
    for name in names:
        if name in model.regions:
            out |= np.asarray(model.regions[name], bool)
    return out


@dataclass
class ControlPoints:
    """The corrective's control points: model vertices and tracker points (iris centres).

    vertices : (Mv,) int64   model vertex ids (control points 0 .. Mv-1)
    tracker : (Mt,) int64    tracker point ids on the model's embedding (control points Mv ..)
    """

    vertices: np.ndarray
    tracker: np.ndarray

    def __len__(self) -> int:
        return len(self.vertices) + len(self.tracker)

    def basis(self, model: FaceModel) -> LandmarkBasis:
        """The model's shape basis at the control points, in their order."""
        parts = [basis_from_vertices(model, self.vertices)]
        if len(self.tracker):
            parts.append(basis_from_embedding(model).subset(self.tracker))
        return LandmarkBasis(*(np.concatenate([getattr(b, k) for b in parts], axis=-2)
                               for k in ("mean", "identity", "expression")))

    def positions(self, model: FaceModel, shape: np.ndarray) -> np.ndarray:
        """(M, 3) the control points on one model shape (N, 3)."""
        parts = [np.asarray(shape, np.float64)[self.vertices]]
        if len(self.tracker):
            parts.append(model.embedded_points(np.asarray(shape, np.float64))[self.tracker])
        return np.concatenate(parts)


def control_points(model: FaceModel, neutral: np.ndarray, spacing_cm: float) -> ControlPoints:
    """The face's skin vertices on a ``spacing_cm`` grid of the ``neutral`` shape (N, 3) cm (one
    vertex per occupied cell, the first by index), and the iris centres when the model has the
    tracker's embedding with them (step 1 of the module docstring)."""
    face = next((np.asarray(model.regions[r], bool) for r in FACE_REGIONS if r in model.regions),
                np.ones(model.num_vertices, bool))
    skin = np.flatnonzero(face & ~_region(model, EYE_REGIONS) & ~_region(model, FIXED_REGIONS))
    cells = np.floor(np.asarray(neutral, np.float64)[skin] / spacing_cm).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    n_emb = 0 if model.embedding is None else len(model.embedding)
    iris = np.array([c for c in IRIS_CENTRES if c < n_emb], np.int64)
    return ControlPoints(skin[np.sort(first)].astype(np.int64), iris)


def corrective_extension(model: FaceModel, neutral: np.ndarray, points: ControlPoints,
                         sigma_cm: float) -> tuple[np.ndarray, np.ndarray]:
    """(index (N, k) int32, weight (N, k) float32) from the control points to the model's
    vertices on the ``neutral`` shape: skin by :func:`kernel_extension` from the skin points;
    eyeball vertices follow the nearest iris centre with weight 1 (when there is one);
    :data:`FIXED_REGIONS` stay put.

    (Barycentric weights over the tracker's own triangulation, so that the upper and lower lid
    or lip can never mix, measured the same as this kernel on d6 with the tracker's points as
    control points: 1.625x vs 1.622x DIS with ICT, 1.36x vs 1.35x built-in.)
    """
    pts = points.positions(model, neutral)
    nv = len(points.vertices)
    eye = _region(model, EYE_REGIONS)
    skin = ~eye & ~_region(model, FIXED_REGIONS)
    index, weight = kernel_extension(pts[:nv], neutral, skin, sigma_cm)
    if len(points.tracker) and eye.any():
        ev = np.flatnonzero(eye)
        d = np.linalg.norm(neutral[ev, None] - pts[None, nv:], axis=-1)
        index[ev] = 0
        weight[ev] = 0.0
        index[ev, 0] = nv + d.argmin(1)
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


def point_visibility(model: FaceModel, neutral: np.ndarray, cams: OrthoCameras, points: ControlPoints) -> np.ndarray:
    """(F, M) in [0, 1]: how squarely the control points face the camera per frame (0 below
    :data:`VISIBLE_COSINE`), from the neutral shape's normals turned by each rotation."""
    n = points.positions(model, VertexNormals(model.triangles, model.num_vertices)(neutral))
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # depth grows away from the camera, so a surface facing the camera has negative depth normal
    facing = -np.einsum("fj,mj->fm", np.asarray(cams.rotation, np.float64)[:, 2], n)
    vis = np.clip((facing - VISIBLE_COSINE) / (1.0 - VISIBLE_COSINE), 0.0, 1.0)
    # an iris centre is seen whenever the face is (the eyeball's own mesh normals there are not
    # reliable: on ICT they face inwards); the tracker's iris points are a fit, not a surface
    vis[:, len(points.vertices):] = 1.0
    return vis


def residual_mask(r: np.ndarray, measured: np.ndarray, vis: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """(F-1, M) bool: the residual steps r (F-1, M, 2) px (measured motion less the fit's own)
    that count: measured, within one track segment, the point facing the camera in both frames
    and the step under MAX_RESIDUAL_PX (larger ones are flow failures: occlusion, a hand).

    (Dropping steps further than 3 px from the median of the point's mesh neighbours, as
    tracking failures, made d6 worse with LK: 1.41x vs 1.35x DIS; d6's brows and lips really
    move apart from their neighbours, e.g. a 14 px brow jump between frames 5 and 6.)"""
    linked = (seg[:-1] >= 0) & (seg[:-1] == seg[1:])
    small = np.einsum("fmc,fmc->fm", r, r) < MAX_RESIDUAL_PX ** 2
    return measured & linked[:, None] & (vis[:-1] > 0) & (vis[1:] > 0) & small


def _project2d(cams: OrthoCameras, X: np.ndarray) -> np.ndarray:
    """Image positions (F, M, 2) float32 of model points X (F, M, 3) under the cameras.

    ``p = s R[:2] X + t`` by batched float32 matrix products: the corrective projects every
    control point of every frame several times, and float32 is ~1e-4 px at 2,000 px.
    """
    R2t = np.asarray(cams.rotation, np.float32)[:, :2].transpose(0, 2, 1)        # (F, 3, 2)
    p = np.matmul(np.asarray(X, np.float32), R2t)
    p *= np.asarray(cams.scale, np.float32)[:, None, None]
    p += np.asarray(cams.translation, np.float32)[:, None, :]
    return p


#: share of the corrective's progress spent waiting for the flow pieces (d6: most of its time)
FLOW_SHARE = 0.7


def learn_corrective(model: FaceModel, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras,
                     usable: np.ndarray, segment: np.ndarray, frames, settings: FitSettings,
                     cancel: CancelToken | None = None, flows: list | None = None,
                     duplicate: np.ndarray | None = None, progress: ProgressFn | None = None) -> Corrective | None:
    """The corrective of a fitted clip (module docstring); None when the clip is too short or
    too little could be measured.

    identity (Ki,), expression (F, Ke), cams (F): the final fit; usable, segment (F,): frames
    with a fit and their track segments; flows: the face region's flow per frame pair (F - 1
    ``face_flow.FlowPiece`` or None, from a ``face_flow.FlowPool``), or a function returning
    them in order, as a list or an iterator that yields each as soon as it is computed (called
    once the fitted points are known: the flow may still be running), or None to
    compute them from ``frames`` (an iterable over the clip's images, RGB or grey uint8, aligned
    with the fit); duplicate (F,) bool: frames repeating their predecessor (their fit is a copy).
    Returns None when ``cancel`` is cancelled before the flows are in. ``progress`` gets
    (step, steps, message): the flow pieces as they come in, then each pass.
    """
    s = settings
    F = expression.shape[0]
    seg = np.where(usable, segment, -1)
    if F < 3:
        return None
    neutral = model.vertices(identity, None).astype(np.float64)
    points = control_points(model, neutral, s.corrective_spacing_cm)
    basis = points.basis(model)
    X = basis.points(identity, None).astype(np.float32)[None] + (
        np.asarray(expression, np.float32) @ basis.expression.reshape(basis.num_expressions, -1).astype(np.float32)
    ).reshape(F, -1, 3)
    p = _project2d(cams, X)                                                           # (F, M, 2)
    del X
    vis = point_visibility(model, neutral, cams, points)
    vis[seg < 0] = 0.0
    first = None
    if flows is None:
        flows = face_flows(frames, p, seg >= 0, cancel)
    elif callable(flows):
        # the first pass samples at the fitted points: done piece by piece as the flow's
        # workers finish them, so only the last pieces are waited for
        pieces = flows()
        flows = []

        def recorded():
            for f, piece in enumerate(pieces):
                if cancel is not None and f % 25 == 0 and cancel.cancelled:
                    return
                if f % 25 == 0:
                    report(progress, round(FLOW_SHARE * 1000 * f / max(F - 1, 1)), 1000,
                           f"corrective flow {f}/{F - 1} frame pairs")
                flows.append(piece)
                yield piece
        try:
            first = sample_flows(recorded(), p, p, duplicate)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
    if cancel is not None and cancel.cancelled:
        return None
    own = p[1:] - p[:-1]
    h, factor, ok = None, None, None
    passes = max(int(s.corrective_passes), 1)
    for k in range(passes):
        report(progress, round(1000 * (FLOW_SHARE + (1 - FLOW_SHARE) * k / passes)), 1000,
               f"corrective pass {k + 1}/{passes}")
        # each pass measures where the previous one put the surface points; the steps that
        # count (and so the system's factorisation) are decided on the first
        if h is None and first is not None:
            disp, measured = first
        else:
            disp, measured = sample_flows(flows, p if h is None else p + h, p, duplicate)
        r = disp - own
        if factor is None:
            ok = residual_mask(r, measured, vis, seg)
            if ok.sum() < 10 * len(points):
                return None
            factor = _fuse_factor(np.where(ok, np.float32(s.corrective_crossover_frames ** 2), np.float32(0.0)),
                                  (seg >= 0).astype(np.float32), np.float32)
        r[~ok] = 0.0
        h = _fuse_solve(factor, r)
        h[seg < 0] = 0.0
    R2 = np.asarray(cams.rotation, np.float32)[:, :2]
    lifted = np.matmul(h, R2) / np.asarray(cams.scale, np.float32)[:, None, None]
    index, weight = corrective_extension(model, neutral, points, KERNEL_PER_SPACING * s.corrective_spacing_cm)
    # float16: offsets are under a few cm, so the rounding is below 1e-3 cm; halves the file
    return Corrective(points, lifted.astype(np.float16), index, weight)


def face_flows(frames, p: np.ndarray, usable: np.ndarray, cancel: CancelToken | None = None) -> list:
    """The face region's flow per frame pair (F - 1 ``face_flow.FlowPiece`` or None) on the box
    of points p (F, M, 2) px of both frames, from an iterable over the clip's images."""
    from core.fitting.face_flow import FlowPool, store_scale
    from core.fitting.image_motion import _grey_frames

    F = p.shape[0]
    pool = FlowPool(store_scale(F))
    prev = None
    try:
        for f, g in enumerate(_grey_frames(frames, F)):
            if cancel is not None and f % 25 == 0 and cancel.cancelled:
                break
            if f > 0:
                pool.offer(prev, g, p[f - 1:f + 1], bool(usable[f - 1] and usable[f]))
            prev = g
    finally:
        out = pool.results(F - 1)
    return out


def sample_flows(flows: Iterable, at: np.ndarray, p: np.ndarray,
                 duplicate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The measured motion f -> f+1 of points ``at`` (F, M, 2) px: (displacement (F-1, M, 2),
    measured (F-1, M) bool: inside the flowed box). ``flows``: the pieces in order (a list, or
    an iterator, sampled as it yields them); missing ones count as None. Where frame f+1 repeats
    frame f (``duplicate``) the motion is the fit's own (p (F, M, 2): the fit copies the frame too)."""
    F, M = at.shape[:2]
    disp = np.zeros((max(F - 1, 0), M, 2), np.float32)
    measured = np.zeros((max(F - 1, 0), M), bool)
    for f, piece in zip(range(F - 1), itertools.chain(flows, itertools.repeat(None))):
        if duplicate is not None and duplicate[f + 1]:
            disp[f] = p[f + 1] - p[f]
            measured[f] = True
        elif piece is not None:
            disp[f], measured[f] = piece.sample(at[f])
    return disp, measured
