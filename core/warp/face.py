"""A face as the warp needs it in one image (``ProjectedFace``) and how to make one.

A ``ProjectedFace`` holds the mesh's screen vertices (the posed mesh:
``Reconstruction.posed_vertices``, plus any landmark detail), the tracker's 478 points on
that mesh (MediaPipe's topology, used for the lips and eye contours), the iris centres and
radii, the gaze, the camera and the rest face outline the head's rigid motion is measured on.
``target_face`` makes the face a picture shows (its real irises from the tracked points),
``driven_face`` the face to be shown (irises placed by the gaze).

Pixels, origin top-left, x right, y down; screen vertices (N, 3) = x_px, y_px, depth
(larger = farther); model space cm, y up, face looking down +z.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from core.camera import OrthoCamera
from core.model.face_model import FaceModel
from core.warp.landmarks import EYES, from_eye_coords, iris_radius

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
    camera: OrthoCamera | None = None
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
    cached = getattr(model, "_warp_residual_spread", None)
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
    object.__setattr__(model, "_warp_residual_spread", M)
    return M


def rest_outline_points(model: FaceModel, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The identity's rest-expression face (expression zero, no landmark detail) in model cm:
    the ``UPPER_OUTLINE`` points (K, 3) and the glabella (3,) (``GLABELLA``); None without an
    embedding. Cached per identity on the model (one dense evaluation per person)."""
    if model.embedding is None or len(model.embedding) <= max(max(UPPER_OUTLINE), GLABELLA):
        return None
    cache = getattr(model, "_warp_rest_outline", None)
    if cache is None:
        cache = {}
        object.__setattr__(model, "_warp_rest_outline", cache)
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


def rest_outline(model: FaceModel, identity: np.ndarray, camera: OrthoCamera) -> np.ndarray | None:
    """(K, 2) pixels: the ``UPPER_OUTLINE`` points of the identity's rest-expression face under
    ``camera``; None without an embedding. Expression-free, so what moves it is the head alone
    (``core.warp.rigid.head_motion`` places the same points at a depth behind the face)."""
    rest = rest_outline_points(model, identity)
    if rest is None:
        return None
    return camera.project(rest[0])[:, :2]


def _rest3d(model: FaceModel, identity: np.ndarray) -> tuple:
    """(outline3d, glabella) for a ProjectedFace: ``rest_outline_points`` or (None, None)."""
    return rest_outline_points(model, identity) or (None, None)


def landmark_detail(model: FaceModel, screen: np.ndarray, residual: np.ndarray | None, scale: float) -> np.ndarray:
    """``screen`` (N, 3) moved by a landmark residual (L, 2) cm in the image plane (tracked minus
    fitted points / scale: the detail the model cannot express), spread to the vertices by
    ``residual_spread``: the mesh lands on the tracked points. A new array; ``screen`` itself
    when there is no residual (or no embedding)."""
    if residual is None or model.embedding is None:
        return screen
    out = np.array(screen, np.float64, copy=True)
    out[:, :2] += residual_spread(model) @ (np.asarray(residual, np.float64) * float(scale))
    return out


def target_face(model: FaceModel, identity: np.ndarray, camera: OrthoCamera, screen: np.ndarray,
                gaze: np.ndarray, tracked: np.ndarray | None = None) -> ProjectedFace:
    """The face a picture shows: ``screen`` (N, 3) its posed mesh under ``camera``, ``gaze``
    (2, 2) in eye coordinates. Its real irises come from the tracked points ``tracked``
    (478, >=2) when given (and finite), else they are placed by the gaze with a radius of a
    fifth of the eye's width."""
    pts = model.embedded_points(screen)[:, :2]
    src = tracked if tracked is not None and np.isfinite(tracked[:, :2]).all() else None
    if src is not None:
        iris = np.stack([src[e["iris"], :2] for e in EYES])
        rad = np.array([iris_radius(src, e) for e in EYES])
    else:
        iris = np.stack([from_eye_coords(gaze[i], pts, e) for i, e in enumerate(EYES)])
        rad = np.array([0.2 * np.linalg.norm(pts[e["corners"][1]] - pts[e["corners"][0]]) for e in EYES])
    return ProjectedFace(screen, pts, iris, rad, np.array(gaze, np.float64), camera,
                         rest_outline(model, identity, camera), *_rest3d(model, identity))


def driven_face(model: FaceModel, identity: np.ndarray, camera: OrthoCamera, screen: np.ndarray,
                gaze: np.ndarray) -> ProjectedFace:
    """The face to be shown: ``screen`` (N, 3) its posed mesh under ``camera``, irises placed
    by ``gaze`` (2, 2) in eye coordinates (radius 0: the warp moves the target's own)."""
    pts = model.embedded_points(screen)[:, :2]
    iris = np.stack([from_eye_coords(gaze[i], pts, e) for i, e in enumerate(EYES)])
    return ProjectedFace(screen, pts, iris, np.zeros(2), np.array(gaze, np.float64), camera,
                         rest_outline(model, identity, camera), *_rest3d(model, identity))
