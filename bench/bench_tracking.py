"""Tracking benchmarks; each mode prints one JSON object.

    python bench/bench_tracking.py                # speed: track pipeline vs bare FaceLandmarker loop on d6.mp4
    python bench/bench_tracking.py --coverage     # tracked fraction on every shared clip + multi-face images
    python bench/bench_tracking.py --filter       # jitter on still-ish footage, lag on fast motion

Speed: the bare loop runs MediaPipe's FaceLandmarker (same options: VIDEO mode,
4 faces, blendshapes, matrices) over frames decoded into memory beforehand; the
pipeline is ``track_video`` on the file (decoding, selection, bridging,
smoothing included). Runs alternate; medians are reported (this VM is noisy).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")
from _common import SHARED, VIDEOS

import cv2
import numpy as np

from core.tracking import track_frames, track_image
from core.tracking.filtering import face_width, one_euro
from core.tracking.model_file import tracker_model_path



def cv2_frames(path, limit=None):
    """RGB frames of a video, decoded with OpenCV (the stand-in until core.video lands)."""
    cap = cv2.VideoCapture(str(path))
    try:
        i = 0
        while limit is None or i < limit:
            ok, f = cap.read()
            if not ok:
                return
            i += 1
            yield cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def video_fps(path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return float(fps) if fps > 0 else 30.0


def run_track(path, **kw):
    """``track_video`` when core.video exists, else track_frames over cv2-decoded frames."""
    try:
        from core.video import open_source  # noqa: F401
        from core.tracking import track_video
        return track_video(str(path), **kw)
    except ImportError:
        return track_frames(cv2_frames(path), video_fps(path), source=str(path), **kw)


def bare_loop(frames, fps) -> float:
    """Frames per second of MediaPipe's FaceLandmarker alone over in-memory frames."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(tracker_model_path())),
        running_mode=vision.RunningMode.VIDEO, num_faces=4,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    lm = vision.FaceLandmarker.create_from_options(opts)
    try:
        t = time.perf_counter()
        for i, f in enumerate(frames):
            lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=f), round(i * 1000 / fps))
        return len(frames) / (time.perf_counter() - t)
    finally:
        lm.close()


def bench_speed(args) -> dict:
    path = VIDEOS / "d6.mp4"
    fps = video_fps(path)
    frames = list(cv2_frames(path, args.max_frames))
    bare, pipe = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(frames, fps))
        t = time.perf_counter()
        r = run_track(path, max_frames=args.max_frames)
        pipe.append(r.num_frames / (time.perf_counter() - t))
    b, p = float(np.median(bare)), float(np.median(pipe))
    return dict(clip=str(path), frames=len(frames), size=list(frames[0].shape[:2]), repeats=args.repeats,
                bare_fps_runs=[round(v, 1) for v in bare], pipeline_fps_runs=[round(v, 1) for v in pipe],
                bare_fps_median=round(b, 1), pipeline_fps_median=round(p, 1), ratio=round(p / b, 3),
                ratio_of_paired_runs_median=round(float(np.median(np.array(pipe) / np.array(bare))), 3),
                tracked_fraction=r.tracked_fraction)


def bench_coverage(args) -> dict:
    clips = sorted(glob.glob(str(VIDEOS / "*.mp4"))) + sorted(glob.glob(str(VIDEOS / "wide" / "*.mp4")))
    out = {}
    for c in clips:
        t = time.perf_counter()
        r = run_track(c, max_frames=args.max_frames)
        out[os.path.relpath(c, VIDEOS)] = dict(
            frames=r.num_frames, tracked_fraction=round(r.tracked_fraction, 4),
            detected=int((r.valid & ~r.bridged).sum()), bridged=int(r.bridged.sum()),
            segments=int(r.segment.max() + 1), max_faces=int(r.n_faces.max()),
            fps=round(r.num_frames / (time.perf_counter() - t), 1))
    images = {}
    for p in sorted(glob.glob(str(SHARED / "data" / "portraits" / "multi_face" / "*.jpg"))):
        img = cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)
        r = track_image(img, source=p)
        images[os.path.basename(p)] = dict(faces=int(r.n_faces[0]), valid=bool(r.valid[0]),
                                           followed_face_width=round(face_width(r.landmarks), 1))
    videos_ok = [v["tracked_fraction"] for k, v in out.items() if not k.startswith("wide")]
    return dict(clips=out, multi_face_images=images, min_tracked_fraction_videos=min(videos_ok))


def _rms_second_diff(lm: np.ndarray, width: float) -> float:
    """Median over frames of the RMS landmark second difference, in pixels and in % of face width."""
    d2 = lm[2:] - 2 * lm[1:-1] + lm[:-2]
    per_frame = np.sqrt(np.nanmean(np.sum(d2[..., :2] ** 2, axis=-1), axis=-1))
    return float(np.nanmedian(per_frame))


def _lag_frames(ref: np.ndarray, sig: np.ndarray, max_lag: int = 8) -> float:
    """Delay (frames, sub-frame by parabola) of ``sig`` behind ``ref`` (1-D), by least squares."""
    lags = np.arange(-max_lag, max_lag + 1)
    err = []
    for k in lags:
        a = ref[max_lag: len(ref) - max_lag]
        b = sig[max_lag + k: len(sig) - max_lag + k]
        err.append(np.mean((a - b) ** 2))
    err = np.asarray(err)
    j = int(np.argmin(err))
    if 0 < j < len(err) - 1:
        den = err[j - 1] - 2 * err[j] + err[j + 1]
        off = 0.5 * (err[j - 1] - err[j + 1]) / den if den > 0 else 0.0
        return float(lags[j] + off)
    return float(lags[j])


def bench_filter(args) -> dict:
    from core.tracking.filtering import OneEuroParams
    params = OneEuroParams()
    # Jitter: every main clip, raw vs offline (two-pass) vs live (causal) filter;
    # the still-ish clips are the ones with the slowest head motion.
    clips = {}
    for c in sorted(glob.glob(str(VIDEOS / "*.mp4")))[: args.clips]:
        r = run_track(c, max_frames=args.max_frames)
        s = r.segment == 0
        raw = r.landmarks_raw[s]
        w = face_width(raw)
        live = one_euro(raw, r.fps, w, params)
        centroid = raw[..., :2].mean(axis=1)
        speed = float(np.median(np.linalg.norm(np.diff(centroid, axis=0), axis=1)) / w * r.fps)
        clips[os.path.basename(c)] = dict(
            face_width_px=round(w, 1), head_speed_facewidths_per_s=round(speed, 3),
            jitter_raw_px=round(_rms_second_diff(raw, w), 3),
            jitter_offline_px=round(_rms_second_diff(r.landmarks[s], w), 3),
            jitter_live_px=round(_rms_second_diff(live, w), 3))
    still = sorted(clips, key=lambda k: clips[k]["head_speed_facewidths_per_s"])[:3]

    # Lag: a still portrait moved across the frame on a known fast trajectory
    # (a sine of 1 Hz and 1 face width amplitude: peak 6.3 face widths/s), so the true
    # motion is known exactly.
    img = cv2.cvtColor(cv2.imread(str(SHARED / "data" / "portraits" / "stills" / "d19.jpg")), cv2.COLOR_BGR2RGB)
    h, w0 = img.shape[:2]
    scale = 360.0 / max(h, w0)
    img = cv2.resize(img, (int(w0 * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas_w = img.shape[1] * 3
    fps, n = 30.0, 150
    probe = track_image(img)
    fw = face_width(probe.landmarks)
    shift = 1.0 * fw * np.sin(2 * np.pi * 1.0 * np.arange(n) / fps)
    x0 = (canvas_w - img.shape[1]) / 2.0

    def moving():
        for i in range(n):
            m = np.float32([[1, 0, x0 + shift[i]], [0, 1, 0]])
            yield cv2.warpAffine(img, m, (canvas_w, img.shape[0]), flags=cv2.INTER_LINEAR)

    r = track_frames(moving(), fps, smooth=True, params=params)
    raw_x = r.landmarks_raw[..., 0].mean(axis=1)
    off_x = r.landmarks[..., 0].mean(axis=1)
    live_x = one_euro(r.landmarks_raw, fps, face_width(r.landmarks_raw), params)[..., 0].mean(axis=1)
    truth = shift + (raw_x - shift).mean()
    return dict(
        params=dict(min_cutoff_hz=params.min_cutoff, beta=params.beta, d_cutoff_hz=params.d_cutoff),
        jitter_metric="median over frames of RMS 2nd difference of the 478 landmarks (x, y), pixels",
        clips=clips, stillest_clips=still,
        jitter_stillest_raw_px=round(float(np.mean([clips[k]["jitter_raw_px"] for k in still])), 3),
        jitter_stillest_offline_px=round(float(np.mean([clips[k]["jitter_offline_px"] for k in still])), 3),
        jitter_stillest_live_px=round(float(np.mean([clips[k]["jitter_live_px"] for k in still])), 3),
        fast_motion=dict(
            setup="d19.jpg (360 px) slid horizontally, 1 Hz sine, amplitude 1 face width, 30 fps, 150 frames",
            face_width_px=round(fw, 1), tracked_fraction=r.tracked_fraction,
            lag_frames_raw=round(_lag_frames(truth, raw_x), 2),
            lag_frames_offline=round(_lag_frames(truth, off_x), 2),
            lag_frames_live=round(_lag_frames(truth, live_x), 2),
            max_abs_err_px_raw=round(float(np.max(np.abs(raw_x - truth))), 2),
            max_abs_err_px_offline=round(float(np.max(np.abs(off_x - truth))), 2),
            max_abs_err_px_live=round(float(np.max(np.abs(live_x - truth))), 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coverage", action="store_true")
    ap.add_argument("--filter", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clips", type=int, default=None, help="--filter: only the first N clips")
    ap.add_argument("--max-frames", type=int, default=None)
    args = ap.parse_args()
    if args.coverage:
        out = bench_coverage(args)
    elif args.filter:
        out = bench_filter(args)
    else:
        out = bench_speed(args)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
