"""Render a PNG sheet of each face model's neutral face and main expressions.

Columns: neutral, jawOpen, smile (mouthSmileLeft + Right), blink (eyeBlinkLeft + Right),
brows up (browInnerUp + browOuterUpLeft/Right), and jawOpen seen from the subject's left
side. One row per model. Front view, orthographic; a small painter (z-sorted,
flat-shaded triangles with cv2.fillConvexPoly) since it must run without a GL context.

Usage: python tools/model_sheet.py [--models builtin,ict] [--out model_sheet.png] [--size 320]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.face_model import FaceModel  # noqa: E402

PANELS = [
    ("neutral", [], "front"),
    ("jawOpen", ["jawOpen"], "front"),
    ("smile", ["mouthSmile"], "front"),
    ("blink", ["eyeBlink"], "front"),
    ("brows up", ["browInnerUp", "browOuterUp"], "front"),
    ("jawOpen (side)", ["jawOpen"], "side"),
]


def expression_weights(model: FaceModel, prefixes: list[str]) -> np.ndarray:
    """1 for every component whose name starts with one of ``prefixes`` (so 'mouthSmile' picks Left and Right)."""
    w = np.zeros(model.num_expressions, np.float32)
    for i, n in enumerate(np.asarray(model.expression_names).astype(str)):
        if any(n.startswith(p) for p in prefixes):
            w[i] = 1.0
    return w


def special_triangle_colours(model: FaceModel) -> np.ndarray:
    """(T, 3) float base colours: skin; dark mouth interior; white eye openings; dark irises."""
    tri = model.triangles
    col = np.tile(np.array([0.85, 0.72, 0.62]), (len(tri), 1))
    reg = model.regions

    def all_in(name):
        return reg[name][tri].all(1) if name in reg else np.zeros(len(tri), bool)

    def any_in(name):
        return reg[name][tri].any(1) if name in reg else np.zeros(len(tri), bool)

    col[all_in("lips")] = (0.75, 0.45, 0.45)
    col[any_in("mouth_interior")] = (0.35, 0.15, 0.15)
    col[all_in("left_eye") | all_in("right_eye") | any_in("eyeballs")] = (0.95, 0.95, 0.92)
    col[any_in("left_iris") | any_in("right_iris")] = (0.25, 0.2, 0.15)
    if model.name == "builtin":
        from core.model import canonical as cm
        inner = np.zeros(model.num_vertices, bool)
        inner[cm.LIPS_INNER_UPPER + cm.LIPS_INNER_LOWER] = True
        col[inner[tri].all(1)] = (0.35, 0.15, 0.15)
    return col


def paint(vertices: np.ndarray, triangles: np.ndarray, colours: np.ndarray, size: int, view: str,
          frame: tuple[np.ndarray, float]) -> np.ndarray:
    """Flat-shaded orthographic painting -> (size, size, 3) uint8 RGB."""
    v = vertices.astype(np.float64)
    if view == "side":  # look from the subject's left (+x) towards -x: screen x = -z
        v = np.stack([-v[:, 2], v[:, 1], v[:, 0]], 1)
    centre, scale = frame
    px = (v[:, 0] - centre[0]) * scale + size / 2
    py = -(v[:, 1] - centre[1]) * scale + size / 2
    a, b, c = (v[triangles[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    shade = 0.25 + 0.75 * np.clip(n @ light, 0, 1)
    img = np.full((size, size, 3), 40, np.uint8)
    order = np.argsort(v[triangles].mean(1)[:, 2])  # far (small z) first
    pts = np.stack([px, py], 1)
    for t in order:
        if n[t, 2] <= 0:
            continue
        poly = np.round(pts[triangles[t]] * 16).astype(np.int32)
        colour = tuple(int(255 * x) for x in np.clip(colours[t] * shade[t], 0, 1))
        cv2.fillConvexPoly(img, poly, colour, lineType=cv2.LINE_AA, shift=4)
    return img


def sheet(models: list[FaceModel], size: int = 320) -> np.ndarray:
    rows = []
    for model in models:
        colours = special_triangle_colours(model)
        used = np.unique(model.triangles)
        lo, hi = model.mean[used].min(0), model.mean[used].max(0)
        front = ((lo + hi) / 2, 0.85 * size / max(hi[0] - lo[0], hi[1] - lo[1]))
        side = (np.array([-(lo[2] + hi[2]) / 2, (lo[1] + hi[1]) / 2]), front[1])
        cells = []
        for label, prefixes, view in PANELS:
            w = expression_weights(model, prefixes)
            verts = model.vertices(None, w)
            img = paint(verts, model.triangles, colours, size, view, front if view == "front" else side)
            cv2.putText(img, f"{model.name}: {label}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                        cv2.LINE_AA)
            cells.append(img)
        rows.append(np.hstack(cells))
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="builtin,ict", help="comma-separated model specs (see core.model.registry)")
    ap.add_argument("--out", default="out/model_sheet.png")
    ap.add_argument("--size", type=int, default=320)
    args = ap.parse_args(argv)
    from core.model.registry import load_model
    models = []
    for spec in args.models.split(","):
        m = load_model(spec.strip())
        if m.num_vertices > 20000 and hasattr(m, "subset"):
            m = m.face_only() if hasattr(m, "face_only") else m
        models.append(m)
    img = sheet(models, args.size)
    cv2.imwrite(args.out, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({img.shape[1]}x{img.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
