"""The head's rigid motion beyond the face, as a (2, 3) backward map of output pixels to target
pixels: from the rest face outline in the two images (``rigid_backward_similarity``), on the
plane behind the face where hair and ears sit (``head_motion``), or from the two cameras
(``rigid_backward_affine``, a fallback for faces without an outline)."""
from __future__ import annotations

import numpy as np

from core.camera import OrthoCamera
from core.warp.face import ProjectedFace


def rigid_backward_affine(target_camera: OrthoCamera, driven_camera: OrthoCamera) -> np.ndarray:
    """(2, 3) output -> target pixel map of the plane through the model origin (the head's
    centre) parallel to the image: how hair, ears and the head's outline move.

    A point p_t on that plane in the target maps to p_d = M (p_t - t_t) + t_d with
    M = s_d / s_t (R_d R_t^T)[:2, :2]; this returns the inverse. A nod moves the face but
    barely the head's outline.
    """
    t, d = target_camera, driven_camera
    M = (d.scale / t.scale) * (d.rotation @ t.rotation.T)[:2, :2]
    Minv = np.linalg.inv(M)
    return np.concatenate([Minv, (t.translation - Minv @ d.translation)[:, None]], axis=1)


def rigid_backward_similarity(target_outline: np.ndarray, driven_outline: np.ndarray) -> np.ndarray:
    """(2, 3) output -> target pixel map of the head's rigid motion, from the face's outline.

    target_outline, driven_outline (K, 2): the same K points in pixels (the rest-expression
    upper face outline, ``core.warp.face.rest_outline``). Least-squares similarity
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
    return face.camera.project(P)[:, :2]
