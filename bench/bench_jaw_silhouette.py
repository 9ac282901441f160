"""Does the jaw line follow the visible silhouette on turned heads? Prints JSON (issue 15, item 5).

Two conventions of the same fit (core/fitting/landmarks68.py): "3d", the model's fixed jaw
vertices (AFLW2000-3D's 3D-aware annotation), and "silhouette", the jaw points moved onto the
fitted face's occluding contour (2D annotations, the seeds' dynamic contour).

1. **Synthetic faces** (bench/_shape_data.py: random Surrey identities with a photo's skin,
   grey background, orthographic): yaw 0, +-30, +-45, +-60, +-75 degrees. The truth is the
   rendered face's own outline: the face pixels are those that differ from the background;
   on the far side (the side the nose turns towards) each row's outermost face pixel is the
   silhouette. Reported per |yaw|: the distance (mm on the face) from each far-side jaw point
   (iBUG 0-7 or 9-16, not the chin) to that outline curve, median and p90 over points and
   faces, for both conventions; the same for the tracker's own outline points (MediaPipe's
   face oval, far side, below the brows); and the tracker's misses.
2. **AFLW2000-3D** (the 15 annotated images): NME of the jaw (0-16) and of all 68 points by
   |yaw| bin, both conventions, against its 3D-aware annotation (where a silhouette jaw is
   expected to be further off on the far side: the annotation is behind the cheek).

Usage: python bench/bench_jaw_silhouette.py [--models ict builtin] [--identities 6] [--seed 21]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _shape_data as SD  # noqa: E402, N812

YAWS = (0, 30, -30, 45, -45, 60, -60, 75, -75)
BINS = ((0, 30), (30, 60), (60, 90))


def face_mask(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that are not the renders' grey background (128, 128, 128)."""
    import cv2

    m = (np.abs(image.astype(np.int16) - 128).max(-1) > 2).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return m.astype(bool)


def far_outline(mask: np.ndarray, far_right: bool) -> np.ndarray:
    """(R, 2) px x, y: each face row's outermost pixel on the far side."""
    rows = np.flatnonzero(mask.any(1))
    cols = [np.flatnonzero(mask[r]) for r in rows]
    xs = np.array([c[-1] + 0.5 if far_right else c[0] - 0.5 for c in cols])
    return np.stack([xs, rows + 0.5], 1)


def distance_to_curve(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """(P,) px: each point's distance to the nearest of the curve's points (dense: one per row)."""
    return np.linalg.norm(points[:, None] - curve[None], axis=-1).min(1)


def synthetic(models: list, identities: int, seed: int) -> dict:
    from core.fitting import FitSettings, reconstruct
    from core.fitting.landmarks68 import fit_landmarks68
    from core.model.registry import load_model
    from core.tracking import track_image

    poses = tuple((y, 0, 0) for y in YAWS)
    views = SD.synthetic_set(identities, seed, poses)
    tracks = [track_image(v.image) for v in views]
    out = {"yaws": list(YAWS), "identities": identities, "seed": seed,
           "tracker_outline_points": tracker_outline(views, tracks)}
    for spec in models:
        model = load_model(spec)
        dist = {"3d": {}, "silhouette": {}}
        missed = {}
        for v, tr in zip(views, tracks):
            yaw = abs(v.pose_deg[0])
            if not tr.valid[0]:
                missed[yaw] = missed.get(yaw, 0) + 1
                continue
            rec = reconstruct(tr, model, spec, FitSettings())
            cams = rec.cameras
            sil = fit_landmarks68(model, rec.identity, rec.expression, cams, jaw="silhouette")[0]
            l3d = np.asarray(rec.landmarks68[0], float)
            mask = face_mask(v.image)
            nose_x = l3d[30, 0]
            row = np.clip(int(l3d[30, 1]), 0, mask.shape[0] - 1)
            cols = np.flatnonzero(mask[row])
            far_right = nose_x > 0.5 * (cols[0] + cols[-1]) if len(cols) else True
            if yaw == 0:
                far = np.r_[0:8, 9:17]          # frontal: both sides are outline
                curve = np.concatenate([far_outline(mask, True), far_outline(mask, False)])
            else:
                far = np.r_[9:17] if far_right else np.r_[0:8]
                curve = far_outline(mask, far_right)
            for name, pts in (("3d", l3d), ("silhouette", sil)):
                d = distance_to_curve(pts[far], curve) / SD.PIXELS_PER_MM
                dist[name].setdefault(yaw, []).extend(d.tolist())
        out[spec] = {
            name: {str(y): dict(median_mm=round(float(np.median(d)), 2), p90_mm=round(float(np.percentile(d, 90)), 2),
                                points=len(d)) for y, d in sorted(by.items())}
            for name, by in dist.items()}
        out[spec]["tracker_missed_views_by_yaw"] = {str(k): n for k, n in sorted(missed.items())}
    return out


def tracker_outline(views, tracks) -> dict:
    """Median / p90 distance (mm) of MediaPipe's far-side face-oval points (below the upper third
    of the face) to the rendered outline, by |yaw|."""
    from core.fitting.weights import FACE_OVAL

    dist = {}
    for v, tr in zip(views, tracks):
        if not tr.valid[0] or v.pose_deg[0] == 0:
            continue
        L = np.asarray(tr.landmarks[0][:, :2], float)
        mask = face_mask(v.image)
        row = np.clip(int(L[1, 1]), 0, mask.shape[0] - 1)       # 1: nose tip, 10: forehead, 152: chin
        cols = np.flatnonzero(mask[row])
        far_right = L[1, 0] > 0.5 * (cols[0] + cols[-1]) if len(cols) else True
        oval = L[FACE_OVAL]
        mid = L[[1, 10, 152], 0].mean()
        keep = ((oval[:, 0] > mid) if far_right else (oval[:, 0] < mid)) & \
            (oval[:, 1] > L[10, 1] + 0.3 * (L[152, 1] - L[10, 1]))
        d = distance_to_curve(oval[keep], far_outline(mask, far_right)) / SD.PIXELS_PER_MM
        dist.setdefault(abs(v.pose_deg[0]), []).extend(d.tolist())
    return {str(y): dict(median_mm=round(float(np.median(d)), 2), p90_mm=round(float(np.percentile(d, 90)), 2),
                         points=len(d)) for y, d in sorted(dist.items()) if d}


def aflw(models: list) -> dict:
    from _common import SHARED, cached_track
    from bench_accuracy import nme_box, nme_part

    from core.fitting import FitSettings, reconstruct
    from core.fitting.landmarks68 import fit_landmarks68
    from core.model.registry import load_model

    img_dir = SHARED / "data" / "landmarks3d" / "aflw2000_3d_images"
    index = json.loads((img_dir / "index_in_3ddfa_arrays.json").read_text())
    out = {}
    for spec in models:
        model = load_model(spec)
        rows = []
        for p in sorted(img_dir.glob("*.jpg")):
            tr = cached_track(p, "aflw_" + p.stem)
            if not tr.valid[0]:
                continue
            gt = np.load(p.with_name(p.stem + "_pt3d_68.npy"))[:2].T
            rec = reconstruct(tr, model, spec, FitSettings())
            cams = rec.cameras
            sil = fit_landmarks68(model, rec.identity, rec.expression, cams, jaw="silhouette")[0]
            yaw = abs(float(np.degrees(index[p.stem]["pose_para"][1])))
            rows.append((yaw, {name: (nme_box(pts, gt), nme_part(pts, gt, slice(0, 17)))
                               for name, pts in (("3d", rec.landmarks68[0]), ("silhouette", sil))}))
        out[spec] = {
            f"{a}-{b}": dict(images=sum(a <= y < b for y, _ in rows), **{
                name: dict(all=round(100 * float(np.mean([r[name][0] for y, r in rows if a <= y < b])), 2),
                           jaw=round(100 * float(np.mean([r[name][1] for y, r in rows if a <= y < b])), 2))
                for name in ("3d", "silhouette")})
            for a, b in BINS if any(a <= y < b for y, _ in rows)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["ict", "builtin"])
    ap.add_argument("--identities", type=int, default=6)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    print(json.dumps(dict(synthetic=synthetic(args.models, args.identities, args.seed),
                          aflw2000_3d=aflw(args.models)), indent=1))


if __name__ == "__main__":
    main()
