"""Derive the iBUG/Multi-PIE 68 points on the MediaPipe canonical mesh from annotated images.

MediaPipe has no official 68-point mapping, so it is learnt from data: the tracker
(FaceLandmarker, IMAGE mode) runs on the images with 68-point ground truth in ../shared
(16 AFLW2000-3D images with ``*_pt3d_68.npy``, x, y = first two rows, whose jawline is
"3D-aware"; and the LFPW image_0010 with iBUG ``.pts``). For each of the 68 points we
choose the canonical-mesh surface point (first a vertex, then a barycentric point in
a triangle around it) whose tracked 2D position best matches the ground truth over
all images, after a per-image similarity alignment of the chosen points onto the
ground truth (removes annotation-style offsets); errors are normalised by the
ground-truth outer-eye-corner distance. Alternating choice and alignment, 4 rounds.

Writes ``resources/rig/canonical_landmarks68.json``::

    {"provenance": ..., "vertex": [68 ids], "triangle": [68 ids], "barycentric": [[3]...],
     "error_vertex": [68 mean normalised errors], "error_barycentric": [...], "images": [...]}

Usage: python tools/fit_canonical_landmarks68.py [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "resources" / "rig" / "canonical_landmarks68.json"


def read_pts(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    start = lines.index("{") + 1
    return np.array([[float(x) for x in ln.split()] for ln in lines[start:start + 68]])


def annotated_images() -> list[tuple[Path, np.ndarray]]:
    items = []
    for npy in sorted((SHARED / "landmarks3d" / "aflw2000_3d_images").glob("*_pt3d_68.npy")):
        img = npy.with_name(npy.name.replace("_pt3d_68.npy", ".jpg"))
        items.append((img, np.load(npy)[:2].T.astype(np.float64)))
    lfpw = SHARED / "landmarks2d" / "image_0010.png"
    items.append((lfpw, read_pts(lfpw.with_suffix(".pts"))))
    return items


def track_images(paths: list[Path]) -> list[np.ndarray | None]:
    """(478, 2) pixel landmarks per image (None where no face)."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from core.tracking.model_file import tracker_model_path

    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(tracker_model_path())),
                                        running_mode=vision.RunningMode.IMAGE, num_faces=1)
    out = []
    lm = vision.FaceLandmarker.create_from_options(opts)
    try:
        for p in paths:
            rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            r = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
            if not r.face_landmarks:
                out.append(None)
                continue
            h, w = rgb.shape[:2]
            out.append(np.array([[q.x * w, q.y * h] for q in r.face_landmarks[0]]))
    finally:
        lm.close()
    return out


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R (2x2), t with dst ~ s R src + t."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    R = u @ np.diag([1, d]) @ vt
    s = (sig * [1, d]).sum() / (a ** 2).sum()
    return s, R, md - s * R @ ms


def fit(tracked: list[np.ndarray], gts: list[np.ndarray], triangles: np.ndarray, rounds: int = 4):
    P = np.stack(tracked)[:, :468]  # (I, 468, 2)
    G = np.stack(gts)  # (I, 68, 2)
    iod = np.linalg.norm(G[:, 36] - G[:, 45], axis=1)
    aligned = P.copy()
    for _ in range(rounds):
        err = np.linalg.norm(aligned[:, :, None] - G[:, None], axis=3) / iod[:, None, None]  # (I, 468, 68)
        choice = err.mean(0).argmin(0)
        for i in range(len(P)):
            s, R, t = similarity_2d(P[i, choice], G[i])
            aligned[i] = s * P[i] @ R.T + t
    vert_err = np.linalg.norm(aligned[:, choice] - G, axis=2) / iod[:, None]
    # barycentric refinement on the triangles around the chosen vertex (grid over the simplex)
    g = np.array([(a, b, 20 - a - b) for a in range(21) for b in range(21 - a)], float) / 20.0
    tri_out, bary_out, bary_err = [], [], []
    for k, v in enumerate(choice):
        best = (np.inf, None, None)
        for ti in np.flatnonzero((triangles == v).any(1)):
            pts = np.einsum("gc,icd->igd", g, aligned[:, triangles[ti]])  # (I, G, 2)
            e = (np.linalg.norm(pts - G[:, None, k], axis=2) / iod[:, None]).mean(0)
            j = int(e.argmin())
            if e[j] < best[0]:
                best = (float(e[j]), int(ti), g[j])
        bary_err.append(best[0])
        tri_out.append(best[1])
        bary_out.append(best[2].tolist())
    return choice, vert_err.mean(0), np.array(tri_out), np.array(bary_out), np.array(bary_err)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="derive the 68 iBUG points on the canonical mesh")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    from core.model.canonical import read_canonical_mesh

    items = annotated_images()
    tracked = track_images([p for p, _ in items])
    used = [(p, g, t) for (p, g), t in zip(items, tracked) if t is not None]
    print(f"{len(used)}/{len(items)} images with a tracked face", file=sys.stderr)
    mesh = read_canonical_mesh()
    choice, verr, tri, bary, berr = fit([t for _, _, t in used], [g for _, g, _ in used], mesh.triangles)
    result = {
        "provenance": "tools/fit_canonical_landmarks68.py: MediaPipe FaceLandmarker on the annotated images "
                      "listed below (../shared/data), best-matching canonical-mesh point per iBUG-68 landmark "
                      "after per-image 2D similarity alignment; errors are mean distances / outer-eye-corner "
                      "distance.",
        "images": [str(p.relative_to(SHARED)) for p, _, _ in used],
        "vertex": [int(v) for v in choice],
        "triangle": [int(t) for t in tri],
        "barycentric": [[round(float(x), 4) for x in b] for b in bary],
        "error_vertex": [round(float(e), 4) for e in verr],
        "error_barycentric": [round(float(e), 4) for e in berr],
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({"images": len(used), "mean_error_vertex": float(verr.mean()),
                      "mean_error_barycentric": float(berr.mean()),
                      "jaw_error": float(berr[:17].mean()), "inner_error": float(berr[17:].mean())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
