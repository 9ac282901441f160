"""Neutral calibration: per-point offsets between the tracker's points and the model surface.

The tracker's 478 points sit on the model surface through a fixed embedding
(core/model/embedding.py), but where a tracker point lands on a real face depends on the
person as well as on the tracker: its lid points on a calm face are 2-6 mm more open than
the canonical mesh, its lip and cheek points differ by 1-4 mm from person to person
(measured on the calm frames of the 13 clips), and neither the model's identity space (ICT:
100 PCA modes; built-in: 20 smooth modes) nor the embedding absorbs that. The fit then
explains the difference with expressions, on every frame: cheekPuff 0.15, eyeSquint 0.2 on
calm faces (ICT, even with the tracker-score prior).

So on the frames where the tracker's scores say the face is at rest (``priors.calm_mask``),
the fit first pins the expressions to the prior (identity and cameras fitted as usual), and
what is left at each point is that point's offset for this subject, constant over the clip:
``delta_l`` (3,) in model cm, least squares over the calm frames' image-plane residuals
lifted by each frame's rotation, shrunk towards zero as if ``neutral_offset_frames`` more
frames had shown no offset (so a still with one calm frame moves the points little and the
depth of a point seen only from the front stays 0). The landmark basis's mean then carries
the offsets for the rest of the fit; the mesh does not (they describe where the tracker
puts its points, not the surface).
"""
from __future__ import annotations

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis


def point_offsets(basis: LandmarkBasis, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras,
                  targets: np.ndarray, weights: np.ndarray, frames: np.ndarray, prior_frames: float) -> np.ndarray:
    """(L, 3) per-point offsets (model cm) from the residuals on ``frames``.

    basis : L-point basis; identity (Ki,); expression (F, Ke); cams (F); targets (F, L, 2)
    observations in each frame's cm units ((x - t) / s); weights (F, L) the fit's point
    weights; frames : indices of the calm frames; prior_frames : shrinkage, in frames of
    mean weight.
    """
    L = basis.num_points
    if len(frames) == 0:
        return np.zeros((L, 3))
    R2 = cams.rotation[frames, :2]                                             # (n, 2, 3)
    X = basis.points(identity, expression[frames])                             # (n, L, 3)
    r = targets[frames] - np.einsum("fab,flb->fla", R2, X)                     # (n, L, 2)
    w = weights[frames]                                                        # (n, L)
    P = np.einsum("fai,faj->fij", R2, R2)                                      # (n, 3, 3)
    A = np.einsum("fl,fij->lij", w, P)
    b = np.einsum("fl,fai,fla->li", w, R2, r)
    lam = prior_frames * w.mean(0)
    A = A + lam[:, None, None] * np.eye(3)[None]
    ok = lam > 0
    out = np.zeros((L, 3))
    out[ok] = np.linalg.solve(A[ok], b[ok][..., None])[..., 0]
    return out
