"""Personalising the built-in rig to one subject (seed 004's personalisation, done linearly).

Given a tracked clip, each of the 478 tracked points is pose-normalised into model
space and the rig is re-estimated by ridge regression of those points on the
tracker's blendshape scores::

    y_f = mean + d0 + D w_f        y_f (478*3,), w_f (Ke,) scores, D (478*3, Ke)

with the intercept d0 (the subject's neutral offset) and D pulled toward the generic
rig D_g:  min sum_f ||y_f - mean - d0 - D w_f||^2 + lam * ||D - D_g||^2 + lam0 * ||d0||^2,
solved in closed form. The personalised model has ``mean + d0`` as its mean and D as
its expression basis (identity basis unchanged).

Pose normalisation, per frame: ``"procrustes"`` (default) is a weighted similarity of the
tracked points onto the model mean using MediaPipe's 33 stable Procrustes points;
``"pose_matrix"`` removes the rotation of the tracker's facial transformation matrix and
fits only scale and translation. The bench (bench/bench_personalisation.py) compares them.

Tracker points arrive in pixels (x right, y down, z = relative depth, smaller = closer);
they are turned into a right-handed y-up, toward-+z frame by negating y and z.

Also here: :func:`fit_frames`, a small per-frame fit (similarity + bounded least squares
on expression weights) used for evaluation; the full fitter lives in core.fitting.
"""
from __future__ import annotations

import numpy as np

from core.errors import InputError
from core.model.geometry import similarity_3d
from core.model.face_model import FaceModel


def _tracker_points(model: FaceModel, shape: np.ndarray) -> np.ndarray:
    return model.embedded_points(shape)


def stable_points() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's Procrustes ids (33,) and weights (33,) from the tracker's geometry metadata."""
    from core.model.canonical import read_canonical_mesh
    m = read_canonical_mesh()
    return m.procrustes_ids, m.procrustes_weights


def normalise_pose(model: FaceModel, landmarks: np.ndarray, pose: np.ndarray | None = None,
                   method: str = "procrustes") -> np.ndarray:
    """Tracked points (F, 478, 3) pixels -> (F, 478, 3) in model space (cm), per-frame similarity removed."""
    P = np.asarray(landmarks, np.float64) * np.array([1.0, -1.0, -1.0])
    target = _tracker_points(model, model.mean.astype(np.float64))
    ids, w = stable_points()
    out = np.full_like(P, np.nan)
    for f in range(len(P)):
        if not np.isfinite(P[f]).all():
            continue
        if method == "procrustes":
            s, R, t = similarity_3d(P[f, ids], target[ids], w.astype(np.float64))
        elif method == "pose_matrix":
            if pose is None or not np.isfinite(pose[f]).all():
                continue
            # pose maps canonical -> camera (y up, z toward the viewer): our flipped pixel frame has the
            # same axes, so the canonical-space points are R^T (P - c) up to scale and translation
            R = np.asarray(pose[f][:3, :3], np.float64).T
            Q = P[f] @ R.T
            s = float(np.sqrt((w @ ((target[ids] - w @ target[ids] / w.sum()) ** 2).sum(1)) /
                              (w @ ((Q[ids] - w @ Q[ids] / w.sum()) ** 2).sum(1))))
            t = (w @ (target[ids] - s * Q[ids])) / w.sum()
        else:
            raise ValueError(f"unknown pose normalisation {method!r}")
        out[f] = s * P[f] @ R.T + t
    return out


def average_neutral(tracks, fraction: float = 0.1) -> np.ndarray:
    """(478, 3) the tracker's average neutral in the canonical frame from TrackResults: per track,
    the mean of its calmest frames (``core.tracking.scores.calm_frames``, raw detections) after
    removing each frame's similarity onto the canonical mesh (MediaPipe's Procrustes points);
    then the mean over tracks (each person counts once)."""
    # (a late import: the built-in model reads the shipped neutral, core/model/tracker_neutral.py)
    from core.model.builtin import build_builtin_model
    from core.tracking.scores import calm_frames

    canon = build_builtin_model(tracker_neutral=False)
    per = []
    for tr in tracks:
        calm = calm_frames(tr.blendshapes, tr.blendshape_names, tr.valid, fraction)
        if calm.size == 0:
            continue
        lm = tr.landmarks_raw if tr.landmarks_raw is not None else tr.landmarks
        Y = normalise_pose(canon, lm[calm], tr.pose[calm] if tr.pose is not None else None)
        per.append(np.nanmean(Y, 0))
    if not per:
        raise ValueError("no track with a usable frame")
    return np.mean(per, 0)


def blendshape_matrix(model: FaceModel, names, scores: np.ndarray) -> np.ndarray:
    """Tracker scores (F, 52) with ``names`` -> (F, Ke) in the model's expression order (0 where absent)."""
    names = [str(n) for n in names]
    out = np.zeros((scores.shape[0], model.num_expressions), np.float64)
    for j, n in enumerate(np.asarray(model.expression_names).astype(str)):
        if n in names:
            out[:, j] = scores[:, names.index(n)]
    return out


def can_personalise(model: FaceModel) -> bool:
    """True for a model whose vertices are the tracker's points (the built-in model).

    The regression re-estimates the rig at those points. (For ICT the points are 478 of its
    26k vertices; spreading their re-estimated motion to the mesh is not done.)
    """
    e = model.embedding
    return e is not None and len(e) == model.num_vertices and np.allclose(model.embedded_points(model.mean), model.mean)


def _require_vertex_embedding(model: FaceModel) -> None:
    if not can_personalise(model):
        raise InputError(f"model {model.name!r}: personalisation needs a model whose vertices are the tracker "
                         "points (the built-in model)")


def personalise(model: FaceModel, track, frames: np.ndarray | None = None, lam: float = 20.0, lam0: float = 1.0,
                method: str = "procrustes", relative: bool = True) -> FaceModel:
    """Personalised copy of ``model`` from a TrackResult (see module docstring).

    frames : optional (F,) bool or index array restricting the frames used (e.g. training frames).
    lam : pull of each expression displacement toward the generic rig (in units of frames x weight^2).
    lam0 : pull of the neutral offset toward zero.
    relative : regress on the tracker's scores read against the clip's own neutral
        (core/tracking/scores.py, as the fit's expression prior reads them), so the intercept is
        the subject's face at rest; False: the raw scores (MediaPipe's brow and squint scores sit
        far above 0 at rest, and the intercept is then a face beyond rest).
    """
    _require_vertex_embedding(model)
    valid = np.asarray(track.valid, bool) & np.isfinite(track.blendshapes).all(1)
    if frames is not None:
        sel = np.zeros_like(valid)
        sel[frames] = True
        valid &= sel
    if valid.sum() < 10:
        raise InputError(f"{getattr(track, 'source', '') or 'track'}: only {int(valid.sum())} usable frames; "
                         "personalisation needs at least 10")
    Y = normalise_pose(model, track.landmarks[valid], track.pose[valid], method)
    scores = track.blendshapes
    if relative:
        from core.tracking.scores import relative_scores

        scores = relative_scores(track.blendshapes, track.blendshape_names, track.valid)
    W = blendshape_matrix(model, track.blendshape_names, scores[valid])
    keep = np.isfinite(Y).all((1, 2))
    Y, W = Y[keep], W[keep]
    F, K = W.shape
    X = np.hstack([np.ones((F, 1)), W])
    T = (Y - model.mean[None]).reshape(F, -1)
    prior = np.vstack([np.zeros((1, T.shape[1])), model.expression_basis.reshape(K, -1)])
    reg = np.diag(np.r_[lam0, np.full(K, lam)])
    theta = np.linalg.solve(X.T @ X + reg, X.T @ T + reg @ prior)
    d0 = theta[0].reshape(-1, 3)
    D = theta[1:].reshape(K, -1, 3)
    return FaceModel(name=f"{model.name}-personalised", mean=(model.mean + d0).astype(np.float32),
                     identity_basis=model.identity_basis, identity_std=model.identity_std,
                     expression_basis=D.astype(np.float32), expression_names=model.expression_names,
                     triangles=model.triangles, uv=model.uv, regions=model.regions, landmarks68=model.landmarks68,
                     embedding=model.embedding, expression_bounds=model.expression_bounds)


def fit_frames(model: FaceModel, points: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Fit each frame of pose-normalised points (F, 478, 3) with a similarity + bounded expression weights.

    Returns weights (F, Ke) in the model's bounds and per-frame mean point error (F,) in cm.
    """
    from scipy.optimize import lsq_linear

    K = model.num_expressions
    base = _tracker_points(model, model.mean.astype(np.float64))
    B = np.stack([_tracker_points(model, model.expression_basis[k].astype(np.float64)) for k in range(K)])
    A = B.reshape(K, -1).T
    lo, hi = model.expression_bounds[:, 0], model.expression_bounds[:, 1]
    weights = np.zeros((len(points), K))
    errors = np.full(len(points), np.nan)
    for f, P in enumerate(points):
        if not np.isfinite(P).all():
            continue
        w = np.zeros(K)
        Q = P
        for _ in range(iterations):
            shape = base + np.tensordot(w, B, axes=1)
            s, R, t = similarity_3d(P, shape)
            Q = s * P @ R.T + t
            w = lsq_linear(A, (Q - base).ravel(), bounds=(lo, hi), method="bvls").x
        shape = base + np.tensordot(w, B, axes=1)
        weights[f] = w
        errors[f] = np.linalg.norm(shape - Q, axis=1).mean()
    return weights, errors
