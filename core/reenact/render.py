"""Projected faces and the warp-based reenactment renderer (warp + mouth + irises).

``ProjectedFace`` is a face as the renderer needs it in one image: the mesh's screen
vertices, the tracker's 478 points on that mesh (same topology as MediaPipe, used
for lips and eye contours) and the iris centres and radii.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from core.camera import project
from core.model.face_model import FaceModel
from core.reenact.fill import IrisMover, MouthBank, fill_mouth
from core.reenact.gaze import EYES, from_eye_coords, iris_radius
from core.reenact.interior import preload_interior, shared_interior
from core.reenact.transfer import FaceState
from core.reenact.warp import WarpSettings, dense_warp, remap, rigid_backward_affine, rigid_backward_similarity

#: the upper face outline (MediaPipe topology: forehead, temples, cheekbones): the points of
#: the face nearest the head's outline and hair, moved by no expression but the brows' edge
UPPER_OUTLINE = (10, 338, 297, 332, 284, 251, 389, 356, 454, 234, 127, 162, 21, 54, 103, 67, 109)

#: MediaPipe's outer eye corners, chin and glabella (between the brows)
EYE_OUTER_CORNERS = (33, 263)
CHIN = 152
GLABELLA = 9

#: regions that are not skin seen in the frame (ICT's inner parts)
_HIDDEN_REGION_WORDS = ("interior", "teeth", "tongue", "gum", "eyeball", "iris", "socket")


@dataclass
class ProjectedFace:
    """screen (N, 3) x_px, y_px, depth; points (478, 2) pixels; iris (2, 2) centres
    [right, left]; iris_radius (2,) pixels; gaze (2, 2) eye coordinates."""

    screen: np.ndarray
    points: np.ndarray
    iris: np.ndarray
    iris_radius: np.ndarray
    gaze: np.ndarray
    camera: tuple | None = None  # (scale, rotation (3, 3), translation (2,))
    #: (K, 2) pixels: the rest-expression upper face outline (``rest_outline``)
    outline: np.ndarray | None = None
    #: (K, 3) and (3,) model cm: the same points before projection and the rest face's glabella
    #: (``rest_outline_points``), so the renderer can place them at another depth
    #: (``WarpSettings.outline_depth``)
    outline3d: np.ndarray | None = None
    glabella: np.ndarray | None = None


def warp_triangles(model: FaceModel) -> np.ndarray:
    """The model's triangles that carry visible skin: within the "face" region when the
    model has one, never touching inner parts (teeth, tongue, eyeballs...)."""
    tri = np.asarray(model.triangles)
    keep = np.ones(len(tri), bool)
    regions = model.regions or {}
    if "face" in regions and model.num_vertices > 600:  # big head models: the face part only
        keep &= np.asarray(regions["face"])[tri].all(1)
    for name, mask in regions.items():
        if any(w in name.lower() for w in _HIDDEN_REGION_WORDS):
            keep &= ~np.asarray(mask)[tri].any(1)
    return tri[keep].astype(np.int32)


def residual_spread(model: FaceModel) -> sp.csr_matrix:
    """(N, L) sparse: how a residual at the L embedded points moves the N vertices.

    Each vertex takes the barycentric-weighted mean of the residuals of the points
    embedded in triangles that use it (a vertex carrying a point exactly takes
    that point's residual); vertices near no point do not move.
    """
    cached = getattr(model, "_reenact_residual_spread", None)
    if cached is not None:
        return cached
    e = model.embedding
    tri = np.asarray(model.triangles)[np.asarray(e.triangles)]  # (L, 3)
    L = len(e)
    rows = tri.reshape(-1)
    cols = np.repeat(np.arange(L), 3)
    vals = np.asarray(e.barycentric, np.float64).reshape(-1)
    M = sp.csr_matrix((vals, (rows, cols)), shape=(model.num_vertices, L))
    sums = np.asarray(M.sum(1)).ravel()
    M = sp.diags(np.where(sums > 1e-9, 1.0 / np.maximum(sums, 1e-9), 0.0)) @ M
    M = M.tocsr()
    object.__setattr__(model, "_reenact_residual_spread", M)
    return M


def rest_outline_points(model: FaceModel, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The identity's rest-expression face (expression zero, no landmark detail) in model cm:
    the ``UPPER_OUTLINE`` points (K, 3) and the glabella (3,) (``GLABELLA``); None without an
    embedding. Cached per identity on the model (one dense evaluation per person)."""
    if model.embedding is None or len(model.embedding) <= max(max(UPPER_OUTLINE), GLABELLA):
        return None
    cache = getattr(model, "_reenact_rest_outline", None)
    if cache is None:
        cache = {}
        object.__setattr__(model, "_reenact_rest_outline", cache)
    ident = np.asarray(identity, np.float32)
    key = ident.tobytes()
    hit = cache.get(key)
    if hit is None:
        pts = model.embedded_points(model.vertices(ident, None)).astype(np.float64)
        P, g = pts[list(UPPER_OUTLINE)], pts[GLABELLA]
        P.flags.writeable = g.flags.writeable = False
        if len(cache) > 8:
            cache.clear()
        hit = cache[key] = (P, g)
    return hit


def rest_outline(model: FaceModel, identity: np.ndarray, state: FaceState) -> np.ndarray | None:
    """(K, 2) pixels: the ``UPPER_OUTLINE`` points of the identity's rest-expression face under
    the state's camera; None without an embedding. Expression-free, so what moves it is the
    head alone (``_outline_at`` places the same points at a depth behind the face)."""
    rest = rest_outline_points(model, identity)
    if rest is None:
        return None
    return project(rest[0], state.scale, state.rotation, state.translation)[:, :2]


def project_state(model: FaceModel, identity: np.ndarray, state: FaceState,
                  vertices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Screen vertices (N, 3) and the 478 embedded points (478, 2) of a state.

    The state's landmark residual (if any) moves the projected vertices, so the target's
    mesh lands on its tracked points and the driven mesh carries the transferred detail.
    """
    V = model.vertices(identity, state.expression) if vertices is None else vertices
    screen = project(V.astype(np.float64), state.scale, state.rotation, state.translation)
    if state.residual is not None and model.embedding is not None:
        screen[:, :2] += residual_spread(model) @ (np.asarray(state.residual, np.float64) * state.scale)
    pts = model.embedded_points(screen)[:, :2]
    return screen, pts


def target_face(model: FaceModel, identity: np.ndarray, state: FaceState,
                tracked: np.ndarray | None) -> ProjectedFace:
    """The target as fitted, with its real irises from the tracked points (478, >=2) when given."""
    screen, pts = project_state(model, identity, state)
    src = tracked if tracked is not None and np.isfinite(tracked[:, :2]).all() else None
    if src is not None:
        iris = np.stack([src[e["iris"], :2] for e in EYES])
        rad = np.array([iris_radius(src, e) for e in EYES])
    else:
        iris = np.stack([from_eye_coords(state.gaze[i], pts, e) for i, e in enumerate(EYES)])
        rad = np.array([0.2 * np.linalg.norm(pts[e["corners"][1]] - pts[e["corners"][0]]) for e in EYES])
    return ProjectedFace(screen, pts, iris, rad, state.gaze.copy(), _camera(state),
                         rest_outline(model, identity, state), *_rest3d(model, identity))


def driven_face(model: FaceModel, identity: np.ndarray, state: FaceState) -> ProjectedFace:
    screen, pts = project_state(model, identity, state)
    iris = np.stack([from_eye_coords(state.gaze[i], pts, e) for i, e in enumerate(EYES)])
    return ProjectedFace(screen, pts, iris, np.zeros(2), state.gaze.copy(), _camera(state),
                         rest_outline(model, identity, state), *_rest3d(model, identity))


def _rest3d(model: FaceModel, identity: np.ndarray) -> tuple:
    """(outline3d, glabella) for a ProjectedFace: ``rest_outline_points`` or (None, None)."""
    return rest_outline_points(model, identity) or (None, None)


def head_motion(target: ProjectedFace, driven: ProjectedFace, depth: float | None = None,
                reference: ProjectedFace | None = None) -> np.ndarray | None:
    """(2, 3) output -> target pixel map of the head's rigid motion beyond the face, or None.

    depth None: the similarity taking the driven rest face outline onto the target's
    (``rigid_backward_similarity``), M_front. depth (cm behind the glabella,
    ``WarpSettings.outline_depth``): the motion of that outline moved back onto the plane at
    that depth, M_front o A_front^-1 o A_depth, where A_front and A_depth take the driven
    outline (on the face, on the plane) onto ``reference``'s: the driven side's own fit of the
    picture the target shows (self mode: the source's fit of that frame); None: the target,
    and the result is A_depth itself.
    Why the reference: the still's and the video's fits of one picture disagree by 1-2 degrees
    of rotation, which a plane 9.5 cm behind the face turns into 3-8 px of false motion (d10),
    while the front outlines are pinned to the tracked points. So the depth motion comes from
    one self-consistent fit (A_depth, A_front), and M_front o A_front^-1 maps the reference's
    picture onto the target's.
    """
    if target.outline is None or driven.outline is None:
        if target.camera is not None and driven.camera is not None:
            return rigid_backward_affine(target.camera, driven.camera)
        return None
    # the head's outline moves like the rest-expression face outline in the two images
    m_front = rigid_backward_similarity(target.outline, driven.outline)
    ref = target if reference is None else reference
    if depth is None or ref.outline is None or ref.outline3d is None or driven.outline3d is None \
            or ref.glabella is None or driven.glabella is None or ref.camera is None or driven.camera is None:
        return m_front
    a_depth = rigid_backward_similarity(_outline_at(ref, depth), _outline_at(driven, depth))
    if ref is target:
        return a_depth
    a_front = rigid_backward_similarity(ref.outline, driven.outline)
    return (_h(m_front) @ np.linalg.inv(_h(a_front)) @ _h(a_depth))[:2]


def _h(m: np.ndarray) -> np.ndarray:
    """(3, 3) homogeneous form of a (2, 3) affine map."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _outline_at(face: ProjectedFace, depth: float) -> np.ndarray:
    """(K, 2) pixels: the face's rest outline points moved to ``depth`` cm behind its glabella, projected."""
    P = np.array(face.outline3d, np.float64)
    P[:, 2] = float(face.glabella[2]) - depth
    s, R, t = face.camera
    return project(P, s, R, t)[:, :2]


def _camera(state: FaceState) -> tuple:
    return float(state.scale), np.asarray(state.rotation, np.float64), np.asarray(state.translation, np.float64)


class WarpRenderer:
    """Renders the driven face into the target frame by warping the frame.

    One instance per output stream (it keeps small caches: the sclera image of
    the current target frame and the mouth retrieval's hysteresis).
    """

    def __init__(self, model: FaceModel, settings: WarpSettings | None = None,
                 mouth_bank: MouthBank | None = None):
        self.model = model
        self.settings = settings or WarpSettings()
        self.triangles = warp_triangles(model)
        self.mouth_bank = mouth_bank
        self._irises = IrisMover()
        if self.settings.mouth_fill and self.settings.mouth_interior == "ict":
            preload_interior()  # in the background: the first open mouth waits for it only if early
        #: milliseconds of the last render's stages: warp (the dense map), sample (remapping the
        #: target frame), mouth (interior fill), eyes (moved irises)
        self.stage_ms: dict[str, float] = {}
        #: whether the last render filled a mouth interior
        self.mouth_filled = False

    def render(self, target_frame: np.ndarray, target: ProjectedFace, driven: ProjectedFace,
               target_key=None, reference: ProjectedFace | None = None) -> np.ndarray:
        """target_frame (H, W, 3) RGB uint8 -> output (H, W, 3) RGB uint8.

        target_key identifies the target frame for caches (a still: a constant).
        reference: the driven side's own face in the picture the target shows (self mode: the
        source's fit of that frame; see ``head_motion``); None: the target itself.
        """
        t0 = time.perf_counter()
        H, W = target_frame.shape[:2]
        hull = np.concatenate([driven.points[:468], target.points[:468]])
        rigid = head_motion(target, driven, self.settings.outline_depth, reference)
        # the rigid motion fades out from the eyes' level to the chin's (WarpSettings.neck_release)
        release = (float(driven.points[list(EYE_OUTER_CORNERS), 1].mean()), float(driven.points[CHIN, 1]))
        warp = dense_warp(driven.screen, target.screen, self.triangles, (H, W), hull_points=hull,
                          settings=self.settings, rigid=rigid, release_rows=release)
        t1 = time.perf_counter()
        out = target_frame.copy()
        x0, y0, x1, y1 = warp.box
        if x1 > x0 and y1 > y0:  # only the box moves
            out[y0:y1, x0:x1] = remap(target_frame, warp.box_map)
        t2 = time.perf_counter()
        self.mouth_filled = False
        if self.settings.mouth_fill:
            # ICT's interior is looked up (and waited for) only when a mouth is to be filled
            interior = shared_interior if self.settings.mouth_interior == "ict" else None
            self.mouth_filled = fill_mouth(out, driven.points, target.points, target_frame, self.mouth_bank,
                                           key=target_key, interior=interior, rim=self.settings.mouth_rim)
        t3 = time.perf_counter()
        if self.settings.gaze:
            self._irises.apply(out, target_frame, warp, target.points, target.iris, target.iris_radius,
                               driven.points, driven.gaze, key=target_key)
        t4 = time.perf_counter()
        self.stage_ms = dict(warp=(t1 - t0) * 1e3, sample=(t2 - t1) * 1e3, mouth=(t3 - t2) * 1e3,
                             eyes=(t4 - t3) * 1e3)
        return out
