"""From a TrackResult and a FaceModel to a Reconstruction (whole-video or per-frame)."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from core.camera import OrthoCameras
from core.errors import NoFaceError
from core.fitting._blas import single_threaded_blas
from core.fitting.basis import LandmarkBasis, basis_from_embedding
from core.fitting.landmarks68 import fit_landmarks68
from core.fitting.frame_fit import FrameFitter
from core.fitting.frames import nearest_index
from core.fitting.reconstruction import Reconstruction
from core.fitting.settings import FitSettings
from core.fitting.video_fit import fit_video, reprojection_error
from core.fitting.weights import frame_weights, map_blendshapes, tracker_point_weights
from core.jobs import CancelToken, ProgressFn, check, report, sub_progress
from core.model.face_model import FaceModel
from core.tracking.result import TrackResult

#: frames used to estimate the identity for a per-frame fit (spread over the clip)
IDENTITY_FRAMES = 60
#: progress (of 100) at the end of the whole-video fit and of the image-motion refinement when
#: the clip's frames are given (d6, ICT: fit ~45 % of the time, image motion ~15 %, corrective ~40 %)
PROGRESS_FIT = 45
PROGRESS_MOTION = 60
#: with the identity from the skin's motion, the image motion ends here and that stage's three
#: steps (tracking, fitting the tracks, refitting the frames) fill the rest up to PROGRESS_MOTION
PROGRESS_SKIN = 52
#: ... and at the end of the corrective (the 68 points and the result's assembly follow)
PROGRESS_CORRECTIVE = 97


def _inputs(track: TrackResult, model: FaceModel, s: FitSettings, raw: bool):
    if model.embedding is None:
        raise ValueError(f"model {model.name!r} has no tracker embedding")
    L = len(model.embedding)
    lm = track.landmarks_raw if raw and track.landmarks_raw is not None else track.landmarks
    obs = np.asarray(lm[:, :L, :2], np.float64)
    obs[~np.asarray(track.valid, bool)] = np.nan
    fw = frame_weights(track.valid, track.bridged, s)
    w = fw[:, None] * tracker_point_weights(L, s)[None]
    seg = np.where(track.valid, track.segment, -1).astype(np.int32)
    seed = map_blendshapes(track.blendshape_names, track.blendshapes, model.expression_names)
    return obs, w, seg, seed


def _tracker_prior(track: TrackResult, model: FaceModel, s: FitSettings):
    """(centres (F, Ke), mask (Ke,), calm (F,) bool) of the tracker-score prior and the neutral
    calibration (core/fitting/priors.py, neutral.py), or Nones when the prior is off."""
    if s.tracker_prior <= 0 or track.blendshapes is None:
        return None, None, None
    from core.fitting.priors import calm_mask, has_scores, tracker_prior_centre

    centre = tracker_prior_centre(track.blendshapes, track.blendshape_names, track.valid, model.expression_names,
                                  np.asarray(model.expression_bounds, np.float64))
    calm = calm_mask(track.blendshapes, track.blendshape_names, track.valid)
    return centre, has_scores(model.expression_names, track.blendshape_names), calm


def _visibility(model: FaceModel, basis, s: FitSettings):
    """The tracker points' surface triangles for ``hidden_points`` (core/fitting/contour.py), or None."""
    if not s.hidden_points:
        return None
    from core.fitting.contour import visibility_model

    return visibility_model(model, basis.num_points)


def _landmarks68(model: FaceModel, identity, expression, cams: OrthoCameras, corrective=None,
                 jaw: str = "3d") -> np.ndarray:
    """(F, 68, 2) px: the model's 68 iBUG points projected, corrective included, the jaw line in
    convention ``jaw`` (core/fitting/landmarks68.py)."""
    offsets = None
    if corrective is not None:
        from core.fitting.corrective import apply_corrective

        def offsets(ids):
            return apply_corrective(corrective.offsets, corrective.index[ids], corrective.weight[ids])
    return fit_landmarks68(model, identity, expression, cams, offsets, jaw)


def reconstruct(track: TrackResult, model: FaceModel, model_spec: str, settings: FitSettings | None = None,
                per_frame: bool = False, progress: ProgressFn | None = None,
                cancel: CancelToken | None = None,
                frames: Callable[[], Iterable[np.ndarray]] | None = None) -> Reconstruction:
    """Fit ``model`` to ``track``. Raises NoFaceError when no frame has a face.

    ``frames``: returns a fresh iterator over the clip's RGB frames, aligned with the
    track (e.g. :func:`clip_frames`). With it, the whole-video fit's cameras are refined
    with the images' own frame-to-frame motion and repeated frames copy the previous
    frame's fit (``FitSettings.image_motion_frames``, core/fitting/image_motion.py), then a
    per-clip corrective deformation follows the motion the blendshapes cannot express
    (``FitSettings.corrective``, core/fitting/corrective.py; ``Reconstruction.vertices``
    includes it). BLAS runs single-threaded meanwhile (see core/fitting/_blas.py)."""
    with single_threaded_blas():
        return _reconstruct(track, model, model_spec, settings, per_frame, progress, cancel, frames)


def clip_frames(path: str, count: int) -> Callable[[], Iterable[np.ndarray]]:
    """A ``frames`` argument for :func:`reconstruct`: the first ``count`` frames of a video file."""
    def frames():
        from core.video import open_source
        with open_source(path) as src:
            for _, img in src.frames(0, count):
                yield img
    return frames


class _MotionMeasurement:
    """Measures the clip's image motion at the tracker's landmarks in a background thread
    while the whole-video fit runs (decoding and OpenCV release the GIL; the fit is
    single-threaded), so on two cores the refinement costs little extra wall time."""

    def __init__(self, frames, obs: np.ndarray, usable: np.ndarray, method: str, cancel: CancelToken | None,
                 keep_flows: bool = False, window_frames=None):
        import threading

        from core.fitting.image_motion import measure_points, motion_points

        pts = obs[:, motion_points(obs.shape[1])]
        # stopped by the fit (an error, or it no longer needs the result) or by the job's cancel
        self._stop = CancelToken(parent=cancel)
        self._result = None
        self._error: BaseException | None = None
        #: the face region's dense flow per frame pair, for the corrective (face_flow.FlowPiece):
        #: computed on low-priority workers, waited for only by :meth:`flows`
        self._pool = None
        if keep_flows:
            from core.fitting.face_flow import FlowPool, store_scale

            self._pool = FlowPool(store_scale(obs.shape[0]))
        self._num_frames = obs.shape[0]
        #: frames decoded so far (read by :meth:`result`'s progress from the fitting thread)
        self.frames_read = 0

        def counted():
            for img in frames():
                yield img
                self.frames_read += 1

        def run():
            try:
                # the flowed box covers all face points, not only the measured subset
                self._result = measure_points(counted(), pts, usable, method, self._stop,
                                              flow_pool=self._pool, flow_points=obs[:, :468],
                                              window_frames=window_frames)
            except BaseException as e:  # noqa: BLE001 (handed to the fitting thread in result())
                self._error = e

        self._thread = threading.Thread(target=run, name="image-motion", daemon=True)
        self._thread.start()

    def result(self, progress: ProgressFn | None = None):
        """The measured motion, once the thread is done; while it is waited for, ``progress``
        gets ``(frames measured, frames)``."""
        F = self._num_frames
        while self._thread.is_alive():
            n = self.frames_read
            report(progress, n, F, f"image motion {n}/{F} frames")
            self._thread.join(timeout=0.25)
        report(progress, F, F, f"image motion {F}/{F} frames")
        if self._error is not None:
            raise self._error
        return self._result

    def flows(self):
        """The flow pieces of the F - 1 frame pairs, in order, each as soon as it is done (an
        iterator; call once)."""
        self._thread.join()
        pool, self._pool = self._pool, None
        if pool is None:
            return iter([None] * (self._num_frames - 1))
        return pool.iter_results(self._num_frames - 1)

    def stop(self) -> None:
        self._stop.cancel()
        self._thread.join()
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _texture_windows(basis: LandmarkBasis, obs: np.ndarray, w: np.ndarray, track: TrackResult, s: FitSettings):
    """The clip's stretches of most head rotation (core/fitting/texture_identity.py) as an empty
    ``WindowFrames`` for the image-motion thread to fill, or None when the head barely turns.
    The rotation is read from rigid cameras of the model's mean shape on the tracker's points."""
    from core.fitting.camera_fit import fit_cameras
    from core.fitting.texture_identity import WindowFrames, choose_windows

    usable = np.asarray(track.valid, bool)
    cams, ok = fit_cameras(basis.mean, obs, w)
    seg = np.where(usable & ok, track.segment, -1)
    windows = choose_windows(cams, seg >= 0, seg, obs, tuple(track.size), s.motion_identity_half_window)
    return WindowFrames(windows) if windows else None


def _reconstruct(track, model, model_spec, settings, per_frame, progress, cancel, frames=None) -> Reconstruction:
    s = settings or FitSettings()
    if not np.any(track.valid):
        raise NoFaceError(f"{track.source or 'input'}: no face was tracked in any frame, nothing to reconstruct")
    personal = False
    if s.personalise:
        from core.model.personalise import can_personalise, personalise

        scored = np.asarray(track.valid, bool) & np.isfinite(track.blendshapes).all(1)
        if can_personalise(model) and int(scored.sum()) >= 10:
            model = personalise(model, track)
            personal = True
    obs, w, seg, seed = _inputs(track, model, s, raw=s.video_uses_raw_landmarks and not per_frame)
    prior, prior_mask, calm = _tracker_prior(track, model, s)
    basis = basis_from_embedding(model)
    bounds = np.asarray(model.expression_bounds, np.float64)
    F = obs.shape[0]
    corrective = None
    offsets = None
    repeated = np.zeros(F, bool)
    identity_source = "landmarks"
    if not per_frame:
        motion = None
        windows = None
        if frames is not None and s.image_motion_frames > 0 and F > 2:
            if s.identity_from_motion:
                windows = _texture_windows(basis, obs, w, track, s)
            motion = _MotionMeasurement(frames, obs, np.asarray(track.valid, bool), s.image_motion_method, cancel,
                                        keep_flows=s.corrective, window_frames=windows)
        try:
            fs = s if motion is None else FitSettings.from_dict({**s.to_dict(),
                                                                 "refine_rounds": s.refine_rounds_with_image_motion})
            # progress: the fit's own steps, then (with the frames) the image motion and the corrective
            fit = fit_video(basis, obs, w, seg, bounds, fs, seed_expression=seed, cancel=cancel,
                            progress=sub_progress(progress, 0, PROGRESS_FIT if motion else 100, 100),
                            prior_expression=prior, prior_mask=prior_mask, calm=calm,
                            visibility=_visibility(model, basis, s))
            measured = None
            if windows is not None and windows.windows:
                measured = motion.result(sub_progress(progress, PROGRESS_FIT, PROGRESS_SKIN - PROGRESS_FIT, 100))
                check(cancel)
                from core.fitting.texture_identity import refit_with_skin_identity

                def step(k: int, text: str) -> None:
                    report(progress, PROGRESS_SKIN + k, 100, f"identity from the skin's motion, {text}")

                fit, from_skin = refit_with_skin_identity(basis, fit, windows, obs, w, seg, bounds, fs, seed, prior,
                                                          prior_mask, calm, step, cancel)
                identity_source = "skin motion" if from_skin else "landmarks"
        except BaseException:
            if motion is not None:
                motion.stop()
            raise
        identity, expr, cams, err = fit.identity, fit.expression, fit.cameras, fit.fit_error_px
        if fit.point_offsets is not None and np.any(fit.point_offsets):
            offsets = fit.point_offsets
            basis = basis.shifted(offsets)
        valid = fit.fitted & track.valid
        if motion is not None:
            try:
                from core.fitting.image_motion import refine_with_image_motion

                if measured is None:
                    measured = motion.result(sub_progress(progress, PROGRESS_FIT, PROGRESS_MOTION - PROGRESS_FIT,
                                                          100))
                check(cancel)
                report(progress, PROGRESS_MOTION, 100, "image motion, refitting the frames")
                cams, expr, refined = refine_with_image_motion(basis, identity, expr, cams, valid, seg, measured,
                                                               bounds, s, prior, prior_mask)
                repeated = refined.repeated
                err = np.where(fit.fitted, reprojection_error(basis, identity, expr, cams, obs, w), np.nan)
                if s.corrective:
                    from core.fitting.corrective import learn_corrective

                    corrective = learn_corrective(model, identity, expr, cams, valid, seg, None, s, cancel=cancel,
                                                  flows=motion.flows, duplicate=measured.duplicate,
                                                  progress=sub_progress(progress, PROGRESS_MOTION,
                                                                        PROGRESS_CORRECTIVE - PROGRESS_MOTION, 100))
                    check(cancel)
            finally:
                motion.stop()
    else:
        # identity from a whole-video fit on a subset of frames, then frame by frame
        frames = np.flatnonzero(seg >= 0)
        sub = frames[np.linspace(0, frames.size - 1, min(IDENTITY_FRAMES, frames.size)).astype(int)]
        sub = np.unique(sub)
        # each sampled frame is its own segment: no temporal coupling between distant frames
        ident_fit = fit_video(basis, obs[sub], w[sub], np.arange(sub.size), bounds,
                              FitSettings(**{**s.to_dict(), "refine_rounds": 1}), seed_expression=seed[sub],
                              prior_expression=None if prior is None else prior[sub], prior_mask=prior_mask)
        identity = ident_fit.identity
        fitter = FrameFitter(basis, identity, tracker_point_weights(basis.num_points, s), bounds, s, prior_mask)
        Ke = basis.num_expressions
        expr = np.zeros((F, Ke))
        sc, R, t = np.full(F, np.nan), np.tile(np.eye(3), (F, 1, 1)), np.full((F, 2), np.nan)
        err = np.full(F, np.nan)
        valid = np.zeros(F, bool)
        prev_seg = None
        for f in range(F):
            if f % 25 == 0:
                check(cancel)
                report(progress, f, F, f"per-frame fit {f}/{F}")
            if seg[f] < 0 or w[f].sum() <= 0:
                fitter.reset()
                prev_seg = None
                continue
            if prev_seg is not None and seg[f] != prev_seg:
                fitter.reset()
            prev_seg = seg[f]
            # the frame's weights are its frame factor times the fitter's point weights;
            # the factor cancels in a single-frame fit except against the priors, so it is dropped
            finite = np.isfinite(obs[f]).all(1)
            r = fitter.fit(np.where(finite[:, None], obs[f], 0.0), weight=None if finite.all() else finite * 1.0,
                           seed_expression=seed[f], prior_expression=None if prior is None else prior[f])
            expr[f], sc[f], R[f], t[f], err[f] = r.expression, r.scale, r.rotation, r.translation, r.error_px
            valid[f] = True
        # invalid frames copy the nearest fitted frame so every frame has a mesh and camera
        if not valid.any():
            raise NoFaceError(f"{track.source or 'input'}: no frame could be fitted")
        near = nearest_index(valid)
        fill = ~valid
        expr[fill], sc[fill], R[fill], t[fill] = expr[near[fill]], sc[near[fill]], R[near[fill]], t[near[fill]]
        cams = OrthoCameras(sc, R, t)
    report(progress, 100, 100, "done")
    lm68 = _landmarks68(model, identity, expr, cams, corrective, s.jaw_landmarks)
    return Reconstruction(
        model_name=model.name, model_spec=str(model_spec), identity=np.asarray(identity, np.float32),
        expression=np.asarray(expr, np.float32), expression_names=np.asarray(model.expression_names, str),
        rotation=cams.rotation.astype(np.float32), translation=cams.translation.astype(np.float32),
        scale=cams.scale.astype(np.float32), landmarks68=lm68.astype(np.float32),
        fit_error_px=np.asarray(err, np.float32), valid=np.asarray(valid, bool),
        segment=np.where(valid, seg, -1).astype(np.int32), fps=float(track.fps),
        image_size=tuple(int(v) for v in track.size), source=str(track.source),
        method="per-frame" if per_frame else "video", settings=s.to_dict(),
        corrective=None if corrective is None else corrective.offsets,
        corrective_index=None if corrective is None else corrective.index,
        corrective_weight=None if corrective is None else corrective.weight, repeated=repeated,
        personal_mean=model.mean if personal else None,
        personal_expression=model.expression_basis if personal else None,
        point_offsets=offsets, identity_source=identity_source)
