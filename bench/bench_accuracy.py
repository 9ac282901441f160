"""Landmark accuracy of the real pipeline: tracker -> 478 points -> fit -> model's 68 points.

Prints JSON: NME on the AFLW2000-3D images in ../shared/data/landmarks3d/aflw2000_3d_images
(ground truth *_pt3d_68.npy x, y; normalised by sqrt of the GT box area) and on
../shared/data/landmarks2d/image_0010 (iBUG .pts; normalised by the outer-eye-corner
distance), per model; plus the "oracle" fit of each model to the GT 68 points
themselves (how well the model can express the annotation at all). For ICT also the
same fits read out at the toolkit's own ``landmarks68_multipie`` table (before
tools/fit_ict_landmarks68.py), and jaw (0-16) / inner (17-67) parts of the NME.
Usage: python bench/bench_accuracy.py [--models builtin ict]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from _common import SHARED, cached_track


def read_pts(path) -> np.ndarray:
    lines = path.read_text().splitlines()
    a = lines.index("{")
    return np.array([[float(v) for v in ln.split()] for ln in lines[a + 1:a + 69]])


def nme_box(pred, gt) -> float:
    w, h = gt.max(0) - gt.min(0)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.sqrt(w * h))


def nme_part(pred, gt, part) -> float:
    """NME over some of the points (still normalised by the whole GT box)."""
    w, h = gt.max(0) - gt.min(0)
    return float(np.linalg.norm(pred[part] - gt[part], axis=1).mean() / np.sqrt(w * h))


def nme_eyes(pred, gt) -> float:
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.linalg.norm(gt[36] - gt[45]))


def _mean_pct(values) -> float | None:
    return round(100 * float(np.mean(values)), 3) if len(values) else None


def landmarks_at(model, vertex_ids, rec, frame: int = 0) -> np.ndarray:
    """(68, 2) pixels: the fitted shape of ``rec`` at other landmark vertices (same fit)."""
    ids = np.asarray(vertex_ids)
    X = model.mean[ids] + np.tensordot(rec.identity, model.identity_basis[:, ids], 1) + \
        np.tensordot(rec.expression[frame], model.expression_basis[:, ids], 1)
    return rec.scale[frame] * X @ rec.rotation[frame][:2].T + rec.translation[frame]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["builtin", "ict"])
    ap.add_argument("--settings", default="{}", help="JSON of FitSettings overrides for the tracker fits")
    args = ap.parse_args()
    from core.fitting import FitSettings, basis_landmarks68, fit_video, reconstruct
    fs = FitSettings(**json.loads(args.settings))
    from core.fitting.weights import ibug68_point_weights
    from core.model.registry import load_model

    img_dir = SHARED / "data" / "landmarks3d" / "aflw2000_3d_images"
    images = sorted(img_dir.glob("*.jpg"))
    out = {"n_images": len(images), "settings": json.loads(args.settings)}
    for spec in args.models:
        model = load_model(spec)
        nmes, oracle, times, missed = [], [], [], []
        # ICT: the same fits read out at the toolkit's own landmark table, for comparison
        from core.model.ict import derived_landmarks68, load_ict_npz
        from core.model.registry import find_ict
        own68 = None
        if spec == "ict" and derived_landmarks68(model.num_vertices) is not None:
            own68 = load_ict_npz(find_ict(), with_uv=False, landmarks68="multipie").landmarks68
        nmes_own, jaw, inner, yaws = [], [], [], []
        index = json.loads((img_dir / "index_in_3ddfa_arrays.json").read_text())
        for p in images:
            gt = np.load(p.with_name(p.stem + "_pt3d_68.npy"))[:2].T
            tr = cached_track(p, "aflw_" + p.stem)
            # oracle: the model fitted to the GT points directly
            b68 = basis_landmarks68(model)
            # (the annotation is not the tracker's points: the plain Gaussian identity prior)
            of = fit_video(b68, gt[None], ibug68_point_weights()[None], np.zeros(1, int),
                           np.asarray(model.expression_bounds, float),
                           FitSettings(identity_prior=1.0, identity_symmetry=0.0))
            oracle.append(nme_box(of.cameras.project(b68.points(of.identity, of.expression))[0, :, :2], gt))
            if not tr.valid[0]:
                missed.append(p.name)
                continue
            t0 = time.perf_counter()
            rec = reconstruct(tr, model, spec, fs)
            times.append(time.perf_counter() - t0)
            nmes.append(nme_box(rec.landmarks68[0], gt))
            yaws.append(abs(float(np.degrees(index[p.stem]["pose_para"][1]))))
            jaw.append(nme_part(rec.landmarks68[0], gt, slice(0, 17)))
            inner.append(nme_part(rec.landmarks68[0], gt, slice(17, 68)))
            if own68 is not None:
                nmes_own.append(nme_box(landmarks_at(model, own68, rec), gt))
        p10 = SHARED / "data" / "landmarks2d" / "image_0010.png"
        tr = cached_track(p10, "ibug_image_0010")
        gt10 = read_pts(p10.with_suffix(".pts"))
        rec = reconstruct(tr, model, spec, fs)
        if own68 is not None:
            out[spec + "_toolkit_multipie_table"] = dict(
                aflw_nme_percent_mean=round(100 * float(np.mean(nmes_own)), 3),
                image_0010_nme_percent_eye_corners=round(100 * nme_eyes(landmarks_at(model, own68, rec), gt10), 3))
        out[spec] = dict(
            aflw_nme_percent_mean=round(100 * float(np.mean(nmes)), 3),
            aflw_nme_percent_median=round(100 * float(np.median(nmes)), 3),
            aflw_nme_percent_per_image=[round(100 * v, 2) for v in nmes],
            aflw_tracker_missed=missed,
            aflw_oracle_fit_to_gt68_nme_percent=round(100 * float(np.mean(oracle)), 3),
            image_0010_nme_percent_eye_corners=round(100 * nme_eyes(rec.landmarks68[0], gt10), 3),
            aflw_nme_percent_jaw_0_16=round(100 * float(np.mean(jaw)), 3),
            aflw_nme_percent_inner_17_67=round(100 * float(np.mean(inner)), 3),
            # by |yaw| (AFLW2000-3D's pose, degrees): NME of all 68 points / without the jaw line
            # (the inner 51, still normalised by the whole box) and the images in the bin
            aflw_nme_percent_by_yaw={
                f"{a}-{b}": dict(images=int(sum(a <= y < b for y in yaws)),
                                 all=_mean_pct([n for n, y in zip(nmes, yaws) if a <= y < b]),
                                 without_jaw=_mean_pct([n for n, y in zip(inner, yaws) if a <= y < b]),
                                 jaw=_mean_pct([n for n, y in zip(jaw, yaws) if a <= y < b]))
                for a, b in ((0, 30), (30, 60), (60, 90))},
            fit_seconds_per_image_median=round(float(np.median(times)), 4),
        )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
