"""Fast settings sweeps of bench_shape.py's figures on cached synthetic faces. Prints JSON.

bench_shape.py renders, tracks and fits in one go; a sweep of fit settings only needs the
fits. ``data`` renders and tracks bench_shape's faces once (the stills at the eight views and
the 41-frame clips, same identities and order as bench_shape.py for the same seed) into a
pickle under out/ (about 40 MB per identity); ``fit`` fits them with the given settings and
prints, per model and part, bench_shape's medians (identity alone and, for stills, the fit
with its expressions; the mean shape), the per-identity ratio identity / mean (mean and
standard error), the per-view spread of the stills' identity, the identity coefficients'
norm and the median error per face region (nearest iBUG group on the Surrey mean: brows,
eyes, nose, mouth, jaw; forehead above the brows, cheek beyond 18 mm of every point).

Usage: python bench/bench_shape_sweep.py data --identities 24 --seed 17
       python bench/bench_shape_sweep.py fit out/shape_sweep/data_n24_s17.pkl --models ict
              [--settings JSON] [--parts stills clips]
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _shape_data as SD  # noqa: E402, N812
from bench_shape import model_triangles, sfm_landmarks, sweep_poses  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "shape_sweep"
REGIONS = ("forehead", "brows", "eyes", "nose", "mouth", "jaw", "cheek")


def make_data(identities: int, seed: int) -> Path:
    from core.render import OffscreenRenderer
    from core.tracking import track_frames, track_image

    sfm = SD.load_sfm()
    stills = [dict(track=track_image(v.image), identity=v.identity, pose=v.pose_deg, V=v.vertices)
              for v in SD.synthetic_set(identities, seed)]
    rng = np.random.default_rng(seed)
    textures = [SD.photo_texture(SD.SHARED / "data" / p) for p in SD.TEXTURE_PHOTOS]
    r = OffscreenRenderer(allow_main_thread=True)
    clips = []
    try:
        for i in range(identities):
            V = SD.random_identity(sfm, rng)
            views = SD.render_views(sfm, V, textures[i % len(textures)], sweep_poses(), i, r)
            frames = np.array([v.image for v in views])
            clips.append(dict(track=track_frames(list(frames), 25.0), V=V, frames=frames))
    finally:
        r.release()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"data_n{identities}_s{seed}.pkl"
    with open(path, "wb") as f:
        pickle.dump(dict(stills=stills, clips=clips), f, protocol=4)
    return path


def regions(sfm) -> np.ndarray:
    """(N,) region name of each Surrey vertex (see module docstring)."""
    m = SD.ibug_to_sfm()
    ids = np.array(sorted(m))
    lv = np.array([m[i] for i in ids])
    grp = np.select([ids <= 16, ids <= 26, ids <= 35, ids <= 47], ["jaw", "brows", "nose", "eyes"], "mouth")
    d = np.linalg.norm(sfm.mean[:, None] - sfm.mean[lv][None], axis=-1)
    reg = grp[d.argmin(1)].astype(object)
    brow_y = sfm.mean[lv[(ids >= 17) & (ids <= 26)], 1].mean()
    reg[sfm.mean[:, 1] > brow_y + 5] = "forehead"
    reg[(d.min(1) > 18) & (sfm.mean[:, 1] <= brow_y + 5)] = "cheek"
    return reg


def _distances(truth, mesh_cm, model) -> np.ndarray:
    from core.qa.shape import scan_to_mesh

    ids, gt = sfm_landmarks(truth)
    V = 10.0 * np.asarray(mesh_cm, np.float64)
    return scan_to_mesh(truth, V, model_triangles(model), gt, V[np.asarray(model.landmarks68)[ids]]).distances


def _summary(rows: list, reg: np.ndarray, key: str) -> dict:
    return {r: round(float(np.median([np.median(x[key][reg == r]) for x in rows])), 3) for r in REGIONS}


def _paired(ratios) -> dict:
    r = np.asarray(ratios, np.float64)
    sem = round(float(r.std(ddof=1) / np.sqrt(r.size)), 3) if r.size > 1 else None
    return dict(mean=round(float(r.mean()), 3), sem=sem, closer_than_mean=int((r < 1).sum()), identities=int(r.size))


def fit(path: Path, specs, settings: dict, parts) -> dict:
    from core.fitting import FitSettings, reconstruct
    from core.model.registry import load_model
    from core.qa.shape import view_spread

    with open(path, "rb") as f:
        data = pickle.load(f)
    fs = FitSettings(**{"corrective": False, **settings})
    reg = regions(SD.load_sfm())
    out: dict = {"data": str(path), "settings": settings}
    for spec in specs:
        model = load_model(spec)
        res: dict = {}
        if "stills" in parts:
            rows, shapes, mean_d = [], {}, {}
            for v in data["stills"]:
                if not v["track"].valid[0]:
                    continue
                rec = reconstruct(v["track"], model, spec, fs)
                i = rec.identity.astype(np.float64)
                if v["identity"] not in mean_d:
                    mean_d[v["identity"]] = _distances(v["V"], model.mean, model)
                rows.append(dict(identity=v["identity"], id=_distances(v["V"], model.vertices(i, None), model),
                                 fit=_distances(v["V"], model.vertices(i, rec.expression[0].astype(np.float64)), model),
                                 mean=mean_d[v["identity"]], norm=float(np.linalg.norm(i))))
                shapes.setdefault(v["identity"], []).append(model.vertices(i, None))
            per_id: dict = {}
            for x in rows:
                per_id.setdefault(x["identity"], []).append(np.median(x["id"]))
            idm, fm = np.median([np.median(x["id"]) for x in rows]), np.median([np.median(x["fit"]) for x in rows])
            mm = np.median([np.median(x["mean"]) for x in rows])
            res["stills"] = dict(
                identity_mm=round(float(idm), 3), fit_mm=round(float(fm), 3), mean_shape_mm=round(float(mm), 3),
                identity_closer_pct=round(100 * float(1 - idm / mm), 1),
                fit_closer_pct=round(100 * float(1 - fm / mm), 1),
                paired_ratio=_paired([np.median(a) / np.median(mean_d[k]) for k, a in per_id.items()]),
                view_spread_mm=round(float(np.median([view_spread(np.array(s)) * 10 for s in shapes.values()])), 3),
                identity_norm=round(float(np.median([x["norm"] for x in rows])), 2),
                regions_identity=_summary(rows, reg, "id"), regions_mean=_summary(rows, reg, "mean"))
        if "clips" in parts:
            rows = []
            for c in data["clips"]:
                frames = list(c["frames"])
                rec = reconstruct(c["track"], model, spec, fs, frames=lambda fr=frames: iter(fr))
                i = rec.identity.astype(np.float64)
                rows.append(dict(id=_distances(c["V"], model.vertices(i, None), model),
                                 mean=_distances(c["V"], model.mean, model), norm=float(np.linalg.norm(i))))
            idm, mm = np.median([np.median(x["id"]) for x in rows]), np.median([np.median(x["mean"]) for x in rows])
            res["clips"] = dict(
                identity_mm=round(float(idm), 3), mean_shape_mm=round(float(mm), 3),
                identity_closer_pct=round(100 * float(1 - idm / mm), 1),
                paired_ratio=_paired([np.median(x["id"]) / np.median(x["mean"]) for x in rows]),
                identity_norm=round(float(np.median([x["norm"] for x in rows])), 2),
                regions_identity=_summary(rows, reg, "id"), regions_mean=_summary(rows, reg, "mean"))
        out[spec] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--identities", type=int, default=6)
    d.add_argument("--seed", type=int, default=15)
    f = sub.add_parser("fit")
    f.add_argument("data")
    f.add_argument("--models", nargs="+", default=["ict", "builtin"])
    f.add_argument("--settings", default="{}")
    f.add_argument("--parts", nargs="+", default=["stills", "clips"])
    args = ap.parse_args()
    if args.cmd == "data":
        print(json.dumps({"data": str(make_data(args.identities, args.seed))}))
    else:
        print(json.dumps(fit(Path(args.data), args.models, json.loads(args.settings), args.parts), indent=1))


if __name__ == "__main__":
    main()
