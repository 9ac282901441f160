"""Benchmark: fit error on held-back frames before/after personalising the built-in rig.

For each clip: track it (core.tracking.track_video when available, else MediaPipe's
FaceLandmarker directly in VIDEO mode), personalise on the first 80% of frames, and fit
every 2nd frame of the last 20% with the small per-frame fit of core.model.personalise
(similarity + bounded least squares on the 51 expression weights). Reported errors are
mean 3D point distances (mm) between the fitted model's 478 points and the
pose-normalised tracked points, medians over the held-back frames:

  generic       the built-in rig as shipped
  offset_only   generic rig + the subject's neutral offset (intercept only)
  personalised  intercept + re-estimated expression displacements (ridge toward the rig)

for both pose normalisations ("procrustes" and "pose_matrix"). Prints JSON.
Usage: python bench/bench_personalisation.py [d6 d9 d12] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from _common import VIDEOS


def track_clip(name: str):
    try:
        from core.tracking import track_video  # noqa: F401
        from core.video import open_source  # noqa: F401
        return track_video(open_source(str(VIDEOS / f"{name}.mp4")))
    except (ImportError, TypeError, AttributeError):
        pass
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from core.tracking.model_file import tracker_model_path
    from core.tracking.result import TrackResult

    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(tracker_model_path())),
                                        running_mode=vision.RunningMode.VIDEO, num_faces=1,
                                        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    lm = vision.FaceLandmarker.create_from_options(opts)
    cap = cv2.VideoCapture(str(VIDEOS / f"{name}.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    L, B, P, V, names = [], [], [], [], None
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            r = lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB,
                                             data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), int(i * 1000 / fps))
            i += 1
            if r.face_landmarks:
                L.append([[q.x * w, q.y * h, q.z * w] for q in r.face_landmarks[0]])
                B.append([c.score for c in r.face_blendshapes[0]])
                names = [c.category_name for c in r.face_blendshapes[0]]
                P.append(np.asarray(r.facial_transformation_matrixes[0]))
                V.append(True)
            else:
                L.append(np.full((478, 3), np.nan))
                B.append(np.full(52, np.nan))
                P.append(np.full((4, 4), np.nan))
                V.append(False)
    finally:
        lm.close()
        cap.release()
    return TrackResult(landmarks=np.asarray(L, np.float32), valid=np.asarray(V), blendshapes=np.asarray(B, np.float32),
                       blendshape_names=np.asarray(names), pose=np.asarray(P, np.float32), fps=fps, size=(h, w),
                       source=name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="*", default=["d6", "d9", "d12"])
    ap.add_argument("--cache", default="", help="folder for track results (reused when present)")
    args = ap.parse_args(argv)
    from core.model.builtin import build_builtin_model
    from core.model.personalise import fit_frames, normalise_pose, personalise
    from core.tracking.result import TrackResult

    model = build_builtin_model()
    out = {"clips": {}}
    for clip in args.clips:
        cached = Path(args.cache) / f"{clip}.npz" if args.cache else None
        t0 = time.perf_counter()
        if cached and cached.is_file():
            track = TrackResult.load(cached)
        else:
            track = track_clip(clip)
            if cached:
                track.save(cached)
        t_track = time.perf_counter() - t0
        F = track.num_frames
        cut = int(F * 0.8)
        test = np.arange(cut, F)[::2]
        res = {"frames": F, "held_back": int(len(test)), "track_s": round(t_track, 1)}
        for method in ("procrustes", "pose_matrix"):
            t0 = time.perf_counter()
            pers = personalise(model, track, frames=np.arange(cut), method=method)
            t_pers = time.perf_counter() - t0
            offset = personalise(model, track, frames=np.arange(cut), method=method, lam=1e9)
            Y = normalise_pose(model, track.landmarks[test], track.pose[test], method)
            errs = {}
            for label, m in (("generic", model), ("offset_only", offset), ("personalised", pers)):
                _, e = fit_frames(m, Y, iterations=2)
                errs[label] = round(float(np.nanmedian(e)) * 10.0, 3)
            res[method] = {"median_error_mm": errs, "personalise_s": round(t_pers, 2)}
        out["clips"][clip] = res
        print(json.dumps({clip: res}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
