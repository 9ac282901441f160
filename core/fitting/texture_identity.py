"""The clip's identity from its texture's motion: optical-flow tracks of the face's points.

The tracker's points carry a bias on the face's shape that is as large as the shape itself
and changes with the head's pose (NOTES, issue 15: on the synthetic head sweeps the tracker
reports about half of a face's true deviation, and the whole-video fit pushed the nose up to
twice its true depth). The skin's texture has no such bias: a point of the skin followed by
optical flow through a head turn moves exactly as the surface point under it, so how far it
moves tells its depth (structure from motion, within the 3D morphable model).

1. :func:`choose_windows`: up to ``WINDOWS`` stretches of up to ``2 * half + 1`` frames around a
   reference frame in which the head turns the most both ways from the reference (left and
   right, or up and down: the yaw and pitch of the rigid-shape cameras against the
   reference's), at least ``MIN_ROTATION_DEG`` each way;
   none where the head barely moves (the tracks would then say little about depth, and the
   tracker's points keep the identity).
2. :class:`WindowFrames`: the grey face boxes of those frames, kept while the clip is decoded
   once for the image-motion measurement (core/fitting/image_motion.measure_points).
3. :func:`texture_tracks`: from each reference frame, the fitted face points are followed by
   pyramidal Lucas-Kanade frame by frame, forwards and backwards; a point stops where the
   backward track does not come back within ``FB_TOLERANCE_PX`` (occlusion, drift).
4. :func:`refit_with_skin_identity` (called by core/fitting/pipeline.py after the landmark
   fit): the model is fitted to those tracks as if they were landmarks, on the window frames
   only and with its own camera initialisation (:func:`identity_from_tracks`: windows whose
   tracks fit badly and outlying observations are dropped, and nothing is used when the rest
   still fits badly); the whole-video fit to the tracker's points then runs again with that
   identity fixed, the tracker's remaining bias on this face going to per-point offsets.

Coordinates: image pixels, origin top-left, x right, y down.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.camera import OrthoCameras, matrix_to_euler
from core.fitting.basis import LandmarkBasis
from core.fitting.image_motion import lk_checked
from core.fitting.settings import FitSettings
from core.fitting.video_fit import fit_video, identity_symmetry_prior
from core.jobs import check

#: at most this many windows per clip (each one reference frame)
WINDOWS = 3
#: the head must turn at least this much within a window (degrees, against its reference)
MIN_ROTATION_DEG = 8.0
#: margin (px) around the window's landmarks kept from each frame: LK's window at its
#: coarsest pyramid level plus room for the tracked points to leave the landmarks' box
BOX_MARGIN = 48
#: Lucas-Kanade window, pyramid levels, forward-backward tolerance (px), iterations. A track
#: ends at its first failed check, so on compressed video (skin with little texture) 15 px and
#: 0.5 px lost most points within 5 frames (d6: 38 of 234 left); 21 px and 1 px keep 2-3x more
#: there (d6 66, d9 178-201 at 5 frames) and the same 3D shape on the synthetic sweeps.
LK_WINDOW = 21
LK_LEVELS = 3
FB_TOLERANCE_PX = 1.0
LK_ITERATIONS = 20
#: the texture tracks' fit may leave at most this many times the landmark fit's median error
#: (px, per window; 1.0-1.7x on d6, d9, d12 and the synthetic head sweeps, 3.0x on a d12 window
#: whose hand-held shake drags the tracks off the skin)
TRACK_FIT_TOLERANCE = 2.0
#: track observations beyond this many times the median residual are left out of the refit
TRACK_OUTLIER = 3.0
#: the face points tracked: every TRACK_STRIDE-th of MediaPipe's 468 mesh points (not the
#: irises: they move with the gaze); neighbours 2 apart still cover the face evenly, at half the
#: optical flow's cost
MESH_POINTS = 468
TRACK_STRIDE = 2


def tracked_points(num_points: int) -> np.ndarray:
    """Indices of the tracker points followed by :func:`texture_tracks`."""
    return np.arange(0, min(num_points, MESH_POINTS), TRACK_STRIDE)


@dataclass(frozen=True)
class Window:
    """Frames ``start`` .. ``stop - 1`` of one segment, tracked from ``reference``; the face's
    box (x0, y0, x1, y1) px over those frames; ``rotation_deg`` the turn from the reference
    to its poorer side (the smaller of left and right, or of up and down, whichever is larger)."""

    reference: int
    start: int
    stop: int
    box: tuple[int, int, int, int]
    rotation_deg: float


def head_yaw_pitch(R: np.ndarray) -> np.ndarray:
    """(F, 2) degrees: the yaw and pitch of each rotation of R (F, 3, 3) (core.camera's convention)."""
    return np.degrees(np.array([matrix_to_euler(r)[:2] for r in np.asarray(R, np.float64)]).reshape(-1, 2))


def choose_windows(cams: OrthoCameras, usable: np.ndarray, segment: np.ndarray, landmarks: np.ndarray,
                   image_hw: tuple[int, int], half: int, count: int = WINDOWS,
                   min_rotation_deg: float = MIN_ROTATION_DEG) -> list[Window]:
    """The windows of most head rotation (module docstring, step 1).

    cams : (F) rigid cameras; usable, segment : (F,); landmarks : (F, L, 2) px (the box);
    image_hw : (height, width) px. Windows do not overlap and stay inside one segment of
    usable frames; the best comes first.
    """
    F = len(cams)
    usable = np.asarray(usable, bool)
    seg = np.where(usable, np.asarray(segment), -1)
    yaw_pitch = head_yaw_pitch(cams.rotation)
    score = np.zeros(F)
    spans = {}
    for r in np.flatnonzero(seg >= 0):
        a, b = max(0, r - half), min(F, r + half + 1)
        # the window is the run of the reference's segment around it
        lo, hi = r, r
        while lo - 1 >= a and seg[lo - 1] == seg[r]:
            lo -= 1
        while hi + 1 < b and seg[hi + 1] == seg[r]:
            hi += 1
        spans[r] = (lo, hi + 1)
        # the turn to the reference's poorer side (left or right, up or down): the best
        # reference is the head's middle pose, so its tracks see the face turn both ways
        d = yaw_pitch[lo:hi + 1] - yaw_pitch[r]
        score[r] = np.minimum(d.max(0), -d.min(0)).max()
    taken = np.zeros(F, bool)
    out: list[Window] = []
    H, W = image_hw
    for r in np.argsort(-score, kind="stable"):
        if len(out) >= count or score[r] < min_rotation_deg:
            break
        lo, hi = spans[r]
        if taken[lo:hi].any():
            continue
        taken[lo:hi] = True
        pts = np.asarray(landmarks[lo:hi, :MESH_POINTS], np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(1)]
        x0, y0 = np.floor(pts.min(0) - BOX_MARGIN).astype(int)
        x1, y1 = np.ceil(pts.max(0) + BOX_MARGIN).astype(int)
        box = (max(0, int(x0)), max(0, int(y0)), min(W, int(x1)), min(H, int(y1)))
        if box[2] - box[0] < 16 or box[3] - box[1] < 16:
            continue
        out.append(Window(int(r), int(lo), int(hi), box, float(score[r])))
    return out


class WindowFrames:
    """The windows' grey face boxes, collected from frames offered in order (step 2).

    ``offer(f, grey)`` with frame index f and the (H, W) uint8 frame; frames outside every
    window are ignored, so the cost is one crop copy per window frame."""

    def __init__(self, windows: list[Window]):
        self.windows = list(windows)
        self.crops: dict[tuple[int, int], np.ndarray] = {}

    def offer(self, f: int, grey: np.ndarray) -> None:
        """Keep frame ``f``'s box of every window it belongs to (``grey`` (H, W) uint8)."""
        for k, w in enumerate(self.windows):
            if w.start <= f < w.stop:
                x0, y0, x1, y1 = w.box
                self.crops[(k, f)] = np.ascontiguousarray(grey[y0:y1, x0:x1])

    def complete(self, k: int) -> bool:
        """Whether every frame of window ``k`` was offered (not when the decoding stopped early)."""
        w = self.windows[k]
        return all((k, f) in self.crops for f in range(w.start, w.stop))


def _lk(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LK from crop a to crop b at p (N, 2): (new positions (N, 2), forward-backward consistent
    and inside the crop (N,))."""
    q, ok = lk_checked(a, b, p, LK_WINDOW, LK_LEVELS, LK_ITERATIONS, 0.01, FB_TOLERANCE_PX)
    H, W = a.shape
    inside = (q >= 0).all(1) & (q[:, 0] < W - 1) & (q[:, 1] < H - 1)
    return q, ok & inside


def texture_tracks(collected: WindowFrames, start_points: np.ndarray, num_frames: int) -> np.ndarray:
    """(F, P, 2) px: the points ``start_points`` (F, P, 2) of each window's reference frame
    followed through its window (step 3); NaN outside the windows and where a point was lost."""
    P = start_points.shape[1]
    out = np.full((num_frames, P, 2), np.nan)
    for k, w in enumerate(collected.windows):
        if not collected.complete(k):
            continue
        off = np.array(w.box[:2], np.float64)
        p0 = np.asarray(start_points[w.reference], np.float64) - off
        alive0 = np.isfinite(p0).all(1)
        out[w.reference] = np.where(alive0[:, None], p0 + off, np.nan)
        for step, end in ((1, w.stop), (-1, w.start - 1)):
            p, alive = np.nan_to_num(p0), alive0.copy()
            f = w.reference
            while f + step != end and alive.any():
                g = f + step
                q, ok = _lk(collected.crops[(k, f)], collected.crops[(k, g)], p)
                alive &= ok
                p = np.where(alive[:, None], q, p)
                out[g] = np.where(alive[:, None], p + off, np.nan)
                f = g
    return out


def window_segments(windows: list[Window], num_frames: int) -> np.ndarray:
    """(F,) int32: each window's frames numbered by window, -1 elsewhere (a fit's ``segment``)."""
    seg = np.full(num_frames, -1, np.int32)
    for k, w in enumerate(windows):
        seg[w.start:w.stop] = k
    return seg


def identity_from_tracks(basis: LandmarkBasis, ids: np.ndarray, tracks: np.ndarray, tw: np.ndarray,
                         wseg: np.ndarray, landmark_error: np.ndarray, bounds, s: FitSettings, seed, prior,
                         prior_mask, calm, cancel) -> np.ndarray | None:
    """The identity (Ki,) of the model fitted to the texture tracks (F, P, 2) of points ``ids``
    (weights ``tw`` (F, P), windows ``wseg`` (F,)), or None when they cannot be trusted.

    Tracks that drifted off the skin (blur, a hand-held camera's shake, occlusion, a change of
    light the forward-backward check missed) fit badly. A window whose tracks leave more than
    TRACK_FIT_TOLERANCE times the landmark fit's median error (``landmark_error`` (F,) px) on its
    frames is dropped, single observations beyond TRACK_OUTLIER times the median residual too,
    and the fit is repeated once on the rest; it must then pass the window test everywhere."""
    sub = basis.subset(ids)
    # the camera initialisation is the fit's own (the landmark fit's cameras carry the
    # tracker's bias on the head's turn: with them the 24 faces' gain halved, built-in);
    # only the tracked points: half the work of the non-separable weights' normal equations
    sym = identity_symmetry_prior(basis, s)

    def fit_tracks(weights, segments):
        return fit_video(sub, tracks, weights, segments, bounds, s, seed_expression=seed, cancel=cancel,
                         prior_expression=prior, prior_mask=prior_mask, calm=calm, symmetry=sym)

    def bad_windows(on, segments) -> list[int]:
        return [k for k in np.unique(segments[segments >= 0])
                if np.nanmedian(on.fit_error_px[segments == k])
                > TRACK_FIT_TOLERANCE * max(float(np.nanmedian(landmark_error[segments == k])), 1.0)]

    on = fit_tracks(tw, wseg)
    check(cancel)
    fitted = on.cameras.project(sub.shifted(on.point_offsets).points(on.identity, on.expression))
    res = np.linalg.norm(fitted[..., :2] - tracks, axis=-1)
    seg2 = wseg.copy()
    for k in bad_windows(on, wseg):
        seg2[seg2 == k] = -1
    keep = np.isfinite(res) & (res <= TRACK_OUTLIER * np.nanmedian(res)) & (seg2 >= 0)[:, None]
    if keep.sum() < 4 * ids.size:
        return None
    on = fit_tracks(np.where(keep, tw, 0.0), seg2)
    check(cancel)
    return None if bad_windows(on, seg2) else on.identity


def refit_with_skin_identity(basis: LandmarkBasis, fit, windows: WindowFrames, obs: np.ndarray, w: np.ndarray,
                             seg: np.ndarray, bounds: np.ndarray, s: FitSettings, seed, prior, prior_mask, calm,
                             step: Callable[[int, str], None], cancel):
    """Step 4 of the module docstring: the whole-video fit ``fit`` (a ``VideoFit`` of ``basis`` to
    the tracker's points ``obs`` (F, L, 2) with weights ``w``, segments ``seg`` and the fit's
    priors) again, with the identity fitted to the skin's motion (texture tracks of ``fit``'s
    points through ``windows``) held fixed. ``step(k, text)`` reports progress (k = 0, 2, 5 of
    the stage's few percent). Returns (the fit, whether its identity came from the skin's
    motion): ``fit`` itself when too few tracks survived or they could not be trusted."""
    F, L = obs.shape[:2]
    ids = tracked_points(L)
    start = fit.cameras.project(basis.shifted(fit.point_offsets).subset(ids).points(fit.identity,
                                                                                     fit.expression))[..., :2]
    step(0, "tracking")
    tracks = texture_tracks(windows, start, F)
    tw = np.isfinite(tracks).all(-1).astype(np.float64)
    wseg = window_segments(windows.windows, F)
    # too few tracks to say anything (e.g. the decoding stopped before the windows)
    if tw.sum() < 4 * ids.size:
        return fit, False
    check(cancel)
    step(2, "fitting")
    ident = identity_from_tracks(basis, ids, tracks, tw, wseg, fit.fit_error_px, bounds, s, seed, prior,
                                  prior_mask, calm, cancel)
    if ident is None:
        return fit, False
    step(5, "refitting the frames")
    # Started from the first fit's cameras and expressions, which the new identity moves little.
    # The tracker's bias on this face, which the identity no longer takes up, goes to the
    # per-point offsets measured on every frame (not only the calm ones): d6 / d9 / d12 error
    # against the raw detections 2.52 / 1.29 / 2.17 % IOD with the calm frames' offsets, 2.37 /
    # 1.22 / 1.95 % with these (2.47 / 1.27 / 2.14 % before the skin's identity).
    s = FitSettings.from_dict({**s.to_dict(), "neutral_offset_source": "all"})
    return fit_video(basis, obs, w, seg, bounds, s, seed_expression=fit.expression, cancel=cancel,
                     prior_expression=prior, prior_mask=prior_mask, calm=calm, identity=ident,
                     cameras=fit.cameras), True
