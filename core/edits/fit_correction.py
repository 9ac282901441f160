"""Correcting a frame's fit by hand: pins on the tracker's points, re-solved with the per-frame fit.

Where the tracker got a feature wrong (a lip corner in shadow, a brow under hair), the user
drags the fitted point to where the feature really is: a :class:`Pin` (frame, tracker point,
target pixel). :func:`refit_with_pins` re-solves the pinned frames and ``radius`` frames on
either side with core.fitting's per-frame fit (:class:`~core.fitting.frame_fit.FrameFitter`,
the clip's identity fixed), once as tracked and once with the pins: a pinned point's target
replaces the tracker's point with a large weight (``PIN_WEIGHT``), the tracker's points near
it (``PIN_RADIUS_CM`` on the face) count less, and a neighbouring frame gets the pin's
correction fading out with its distance (smoothstep over ``radius`` frames). The difference
between the two solves (expression, scale, rotation, translation) is added to the
reconstruction's own fit of each frame, so the whole-video fit's smoothness and its
corrective deformation stay, and frames outside the window do not change.

Which points can be pinned: ``HANDLE_POINTS``, the tracker points of the 68 iBUG landmarks
(brows, eyes, nose, lips, jaw), the points a FaceBuilder user knows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import basis_from_embedding
from core.fitting.landmarks68 import reconstruction_landmarks68
from core.fitting.frame_fit import FrameFitter
from core.fitting.settings import FitSettings
from core.fitting.video_fit import reprojection_error
from core.fitting.weights import tracker_point_weights
from core.jobs import CancelToken, ProgressFn, check, report
from core.numeric import smoothstep

#: a pinned point counts as this many ordinary tracker points
PIN_WEIGHT = 400.0
#: tracker points within this distance (cm, on the face) of a pinned one count less, down to
#: nothing next to it: the tracker was wrong around the pin too
PIN_RADIUS_CM = 1.2
#: frames on either side of a pinned frame that follow its correction (fading out)
DEFAULT_RADIUS = 6
#: per-frame fit iterations for a re-solve (the live fit's 2 assume the previous frame's result)
ITERATIONS = 8


def handle_points() -> np.ndarray:
    """(68,) tracker point indices that can be pinned: the canonical mesh's iBUG 68 landmarks
    (tracker point i is canonical vertex i)."""
    from core.model.builtin import load_landmarks68

    ids = load_landmarks68()
    if ids is None:
        raise ValueError("the canonical mesh's 68 landmarks are missing (resources/rig/canonical_landmarks68.json)")
    return np.asarray(ids, np.int64)


@dataclass(frozen=True)
class Pin:
    """Tracker point ``point`` of frame ``frame`` belongs at ``target`` (x, y) pixels."""

    frame: int
    point: int
    target: tuple[float, float]


@dataclass
class RefitResult:
    """reconstruction: the corrected Reconstruction (a new object; arrays copied);
    frames: (M,) the frames whose fit changed; moved_px: per pin, how far its point was from its
    target before and after ((P, 2) pixels)."""

    reconstruction: object
    frames: np.ndarray
    moved_px: np.ndarray


def tracker_points(rec, model, frame: int) -> np.ndarray:
    """(L, 2) pixels: the tracker's points on frame ``frame``'s fitted face (where the handles are)."""
    return model.embedded_points(rec.posed_vertices(model, frame))[:, :2]


def _rotvec(R: np.ndarray) -> np.ndarray:
    c = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    th = float(np.arccos(c))
    if th < 1e-9:
        return np.zeros(3)
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2 * np.sin(th))
    return v * th


def _rotation(v: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(v))
    if th < 1e-12:
        return np.eye(3)
    k = v / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)


def refit_with_pins(rec, model, track, pins, radius: int = DEFAULT_RADIUS, settings: FitSettings | None = None,
                    progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> RefitResult:
    """Re-solve the frames around ``pins`` (see the module docstring).

    rec : core.fitting.Reconstruction fitted with ``model``; track : its TrackResult (None: the
    fitted points stand for the tracked ones); pins : iterable of :class:`Pin`. Raises
    ValueError for a pin outside the clip or on a point the model does not embed.
    """
    pins = list(pins)
    # a personalised reconstruction's coefficients belong to its subject's model (issue 15)
    model = rec.face_model(model)
    F = rec.num_frames
    if not pins:
        return RefitResult(rec, np.zeros(0, np.int64), np.zeros((0, 2)))
    basis = basis_from_embedding(model)
    L = basis.num_points
    for p in pins:
        if not 0 <= p.frame < F:
            raise ValueError(f"pin on frame {p.frame} outside the clip (0..{F - 1})")
        if not 0 <= p.point < L:
            raise ValueError(f"pin on tracker point {p.point}, the model embeds 0..{L - 1}")
    s = replace(settings or FitSettings(), frame_iterations=ITERATIONS)
    base_w = tracker_point_weights(L, s)
    bounds = np.asarray(model.expression_bounds, np.float64)
    fitter = FrameFitter(basis, np.asarray(rec.identity, np.float64), base_w, bounds, s)
    rest = basis.points(np.asarray(rec.identity, np.float64), None)  # (L, 3) cm, for distances on the face

    pinned_frames = sorted({p.frame for p in pins})
    frames = sorted({g for f in pinned_frames for g in range(max(0, f - radius), min(F, f + radius + 1))})
    E = np.asarray(rec.expression, np.float64).copy()
    S = np.asarray(rec.scale, np.float64).copy()
    Rm = np.asarray(rec.rotation, np.float64).copy()
    T = np.asarray(rec.translation, np.float64).copy()
    before = np.array([np.linalg.norm(tracker_points(rec, model, p.frame)[p.point] - np.asarray(p.target))
                       for p in pins])

    def observed(g: int) -> np.ndarray:
        if track is not None and g < track.num_frames and bool(track.valid[g]):
            return np.asarray(track.landmarks[g][:L, :2], np.float64)
        return tracker_points(rec, model, g).astype(np.float64)  # no detection: the fit stands for it

    def solve(g: int, obs: np.ndarray, weight: np.ndarray | None):
        fitter.prev_expression = np.asarray(rec.expression[g], np.float64).copy()
        fitter.prev_camera = (float(rec.scale[g]), np.asarray(rec.rotation[g], np.float64),
                              np.asarray(rec.translation[g], np.float64))
        return fitter.fit(obs, weight)

    changed = []
    for n, g in enumerate(frames):
        check(cancel)
        # per pinned point, the pin nearest in time reaches frame g with a strength that fades
        # from 1 on its own frame to 0 past ``radius`` frames
        nearest: dict[int, tuple[Pin, float]] = {}
        for p in pins:
            d = abs(g - p.frame)
            strength = float(smoothstep(np.array(1.0 - d / (radius + 1.0))))
            if strength > 1e-3 and (p.point not in nearest or strength > nearest[p.point][1]):
                nearest[p.point] = (p, strength)
        if not nearest:
            continue
        obs = observed(g)
        plain = solve(g, obs, None)
        obs_p = obs.copy()
        weight = np.ones(L)
        for p, strength in nearest.values():
            # the pin's correction, carried to this frame as a displacement of its tracked point
            src = observed(p.frame)[p.point]
            obs_p[p.point] = obs[p.point] + strength * (np.asarray(p.target, np.float64) - src)
            near = np.linalg.norm(rest - rest[p.point], axis=1) / PIN_RADIUS_CM
            weight = np.minimum(weight, 1.0 - strength * np.clip(1.0 - near, 0.0, 1.0))
        for p, strength in nearest.values():
            weight[p.point] = 1.0 + (PIN_WEIGHT - 1.0) * strength
        pinned = solve(g, obs_p, weight)
        # the pins' effect, added to the reconstruction's own fit of the frame
        E[g] = np.clip(E[g] + (pinned.expression - plain.expression), bounds[:, 0], bounds[:, 1])
        S[g] = S[g] * pinned.scale / plain.scale
        T[g] = T[g] + (pinned.translation - plain.translation)
        Rm[g] = _rotation(_rotvec(pinned.rotation @ plain.rotation.T)) @ Rm[g]
        changed.append(g)
        report(progress, n + 1, len(frames), f"refitting {n + 1}/{len(frames)}")

    out = replace(rec, expression=E.astype(rec.expression.dtype), scale=S.astype(rec.scale.dtype),
                  rotation=Rm.astype(rec.rotation.dtype), translation=T.astype(rec.translation.dtype),
                  landmarks68=np.asarray(rec.landmarks68).copy(), fit_error_px=np.asarray(rec.fit_error_px).copy(),
                  repeated=np.asarray(rec.repeated).copy())
    if changed and model.landmarks68 is not None:
        out.landmarks68[changed] = reconstruction_landmarks68(out, model, changed)
    for g in changed:
        if np.isfinite(out.fit_error_px[g]):
            # the same measure as the fit's (basis points against the tracked ones)
            cam = OrthoCameras(S[g:g + 1], Rm[g:g + 1], T[g:g + 1])
            out.fit_error_px[g] = reprojection_error(basis, out.identity, E[g][None], cam, observed(g)[None],
                                                     base_w[None])[0]
    after = np.array([np.linalg.norm(tracker_points(out, model, p.frame)[p.point] - np.asarray(p.target))
                      for p in pins])
    return RefitResult(out, np.asarray(changed, np.int64), np.stack([before, after], axis=1))
