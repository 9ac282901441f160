"""Shared by the benches and tools/render_modes.py: the ICT-FaceKit light model from
../shared (until core/model/registry.py lands) and a synthetic animated clip."""
from __future__ import annotations

import numpy as np
from _common import SHARED

from core.camera import euler_to_matrix
from core.render.geometry import triangulate

ICT_NPZ = SHARED / "models" / "ict_facekit" / "ict_facemodel_light.npz"
FACE_VERTICES = 9409  # ICT "Face" geometry, vertices [0, 9408]


def load_ict(region: str = "face") -> dict:
    """neutral (N,3) cm, triangles (T,3), expression (53,N,3), identity (100,N,3), names."""
    z = np.load(ICT_NPZ)
    tri = triangulate(z["faces_quad"])
    n = FACE_VERTICES if region == "face" else z["neutral"].shape[0]
    keep = np.all(tri < n, axis=1)
    return {"neutral": z["neutral"][:n], "triangles": tri[keep], "expression": z["expression_deltas"][:, :n],
            "identity": z["identity_deltas"][:, :n], "names": [str(s) for s in z["expression_names"]]}


def animation(num_frames: int, num_expr: int = 53, seed: int = 0):
    """Smooth synthetic expression weights (F, num_expr) in [0, 1] and head poses (F, 3) radians
    (yaw, pitch, roll): sums of slow sinusoids, so consecutive frames move like a talking head."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None] / 30.0
    freq = rng.uniform(0.1, 0.8, (1, num_expr))
    phase = rng.uniform(0, 2 * np.pi, (1, num_expr))
    amp = rng.uniform(0.0, 0.6, (1, num_expr)) * (rng.random((1, num_expr)) < 0.35)
    expr = np.clip(amp * (0.5 + 0.5 * np.sin(2 * np.pi * freq * t + phase)), 0, 1).astype(np.float32)
    pose = np.c_[0.35 * np.sin(2 * np.pi * 0.15 * t[:, 0]), 0.12 * np.sin(2 * np.pi * 0.23 * t[:, 0] + 1),
                 0.08 * np.sin(2 * np.pi * 0.11 * t[:, 0] + 2)]
    return expr, pose


def posed_frames(model: dict, expr: np.ndarray, pose: np.ndarray, size: tuple[int, int], scale: float):
    """Yield (model-space shape (N,3), screen-space vertices (N,3) float32) per frame, streamed."""
    flat = model["expression"].reshape(model["expression"].shape[0], -1)
    w, h = size
    for e, (yaw, pitch, roll) in zip(expr, pose):
        shape = model["neutral"] + (e[:flat.shape[0]] @ flat).reshape(-1, 3)
        R = euler_to_matrix(yaw, pitch, roll)
        screen = (scale * shape @ R.T).astype(np.float32)
        screen[:, 0] += w / 2
        screen[:, 1] += h / 2 + 0.05 * h
        yield shape, screen
