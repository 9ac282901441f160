"""Landmark embedding of the tracker's 478 points on another model's surface (ICT-FaceKit).

Method (computed once per model, cached):
1. The canonical mesh's 68 iBUG points (``resources/rig/canonical_landmarks68.json``,
   barycentric points derived from annotated images) and the model's ``landmarks68``
   give 68 correspondences; a 3D similarity (Umeyama) maps the canonical mesh (with its
   iris points) onto the model's neutral, using the 51 inner points (the jawline
   conventions differ between annotations).
2. Non-rigid refinement: the model's identity and expression coefficients are fitted
   (ridge) so its surface passes through the aligned canonical points: correspondences
   are the closest surface points (face triangles; iris triangles for the iris points)
   plus the 68 landmark pairs; similarity and coefficients are re-estimated 8 times.
   Then the aligned canonical points are pulled onto that surface by a smooth
   deformation (closest-point offsets averaged over mesh neighbours, 12 rounds), which
   removes the remaining local differences without letting points slide apart.
3. Each point is projected to the closest point of the fitted surface: triangle
   index + barycentrics. Being topological, they hold for any shape of the model.

Cache: ``$FACESTUDIO_CACHE_DIR`` or ``$XDG_CACHE_HOME/facestudio`` or ``~/.cache/facestudio``,
file ``embeddings/<model name>-<hash>.npz``, the hash covering the model arrays, the
canonical mesh, the 68-point file and METHOD_VERSION. Written atomically; recomputed
when missing or unreadable.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.model.face_model import FaceModel, LandmarkEmbedding
from core.model.geometry import closest_points_on_mesh, similarity_3d  # noqa: F401  (also imported from here)
from core.npz_io import load_npz_checked, save_npz_atomic
from core.user_dirs import cache_dir

METHOD_VERSION = "1"
CANONICAL68_FILE = Path(__file__).resolve().parents[2] / "resources" / "rig" / "canonical_landmarks68.json"


# -- the canonical 68 points ------------------------------------------------------
def canonical_landmarks68(canonical_vertices: np.ndarray, canonical_triangles: np.ndarray,
                          path: Path = CANONICAL68_FILE) -> np.ndarray:
    """(68, 3) positions of the iBUG points on a canonical-mesh shape (barycentric points)."""
    d = json.loads(Path(path).read_text())
    tri = canonical_triangles[np.asarray(d["triangle"])]
    return np.einsum("lc,lcd->ld", np.asarray(d["barycentric"]), canonical_vertices[tri])


@dataclass
class EmbeddingReport:
    """Quality figures of an embedding (millimetres)."""

    fit_residual_mm: np.ndarray  # (478,) distance of the similarity-aligned points to the fitted surface
    projection_mm: np.ndarray  # (478,) the same after the smooth deformation (what was projected)
    landmark68_mm: np.ndarray  # (68,) model landmarks68 vertex vs embedded canonical 68 point (neutral shape)


def compute_tracker_embedding(model: FaceModel, iterations: int = 8, ridge: float = 0.1
                              ) -> tuple[LandmarkEmbedding, EmbeddingReport]:
    """Embed the tracker's 478 points on ``model`` (see module docstring)."""
    from core.model.builtin import build_builtin_model

    if model.landmarks68 is None:
        raise ValueError(f"model {model.name!r} has no landmarks68; cannot align the canonical mesh")
    canon = build_builtin_model(tracker_neutral=False)   # the canonical mesh itself
    cv = canon.mean.astype(np.float64)
    c68 = canonical_landmarks68(cv, canon.triangles)
    inner = np.arange(17, 68)

    reg = model.regions
    face_tris = (np.flatnonzero(reg["face"][model.triangles].all(1)) if "face" in reg
                 else np.arange(len(model.triangles)))
    iris_tris = {}
    for side, first in (("right", 468), ("left", 473)):
        key = f"{side}_iris"
        if key in reg and reg[key][model.triangles].all(1).any():
            iris_tris[first] = np.flatnonzero(reg[key][model.triangles].all(1))
    groups = [(np.arange(478) if not iris_tris else np.arange(468), face_tris)]
    groups += [(np.arange(f, f + 5), t) for f, t in iris_tris.items()]

    B = np.concatenate([model.identity_basis, model.expression_basis]).astype(np.float64)
    Ki = len(B)
    coef = np.zeros(Ki)
    shape = model.mean.astype(np.float64)
    s, R, t = similarity_3d(c68[inner], shape[model.landmarks68[inner]])
    for it in range(iterations + 1):
        pts = s * cv @ R.T + t
        emb_t = np.zeros(len(pts), np.int32)
        emb_b = np.zeros((len(pts), 3), np.float32)
        dist = np.zeros(len(pts))
        for ids, tris in groups:
            ti, bary, d = closest_points_on_mesh(pts[ids], shape, model.triangles[tris])
            emb_t[ids], emb_b[ids], dist[ids] = tris[ti], bary, d
        if it == iterations:
            break
        # identity fit: embedded points -> aligned canonical points, landmarks68 -> canonical 68
        corner = model.triangles[emb_t]
        A_emb = np.einsum("lc,klcd->kld", emb_b, B[:, corner]).reshape(Ki, -1)
        base_emb = np.einsum("lc,lcd->ld", emb_b, model.mean[corner]).ravel()
        lm = model.landmarks68[inner]
        A_lm = B[:, lm].reshape(Ki, -1)
        target68 = s * c68[inner] @ R.T + t
        A = np.hstack([A_emb, 2.0 * A_lm]).T
        y = np.concatenate([pts.ravel() - base_emb, 2.0 * (target68.ravel() - model.mean[lm].ravel())])
        coef = np.linalg.solve(A.T @ A + ridge * np.eye(Ki), A.T @ y)
        shape = model.mean + np.tensordot(coef, B, axes=1)
        s, R, t = similarity_3d(np.vstack([cv, c68[inner]]),
                                np.vstack([np.einsum("lc,lcd->ld", emb_b, shape[corner]), shape[lm]]))
    fit_residual = dist.copy()
    # smooth pull onto the fitted surface
    adj = [set() for _ in range(len(cv))]
    for a, b, c in canon.triangles:
        adj[a] |= {b, c}
        adj[b] |= {a, c}
        adj[c] |= {a, b}
    for _ in range(12):
        corner = model.triangles[emb_t]
        off = np.einsum("lc,lcd->ld", emb_b, shape[corner]) - pts
        smooth = np.array([off[[i, *adj[i]]].mean(0) if adj[i] else off[i] for i in range(len(pts))])
        pts = pts + 0.5 * (smooth + off)
        for ids, tris in groups:
            ti, bary, d = closest_points_on_mesh(pts[ids], shape, model.triangles[tris])
            emb_t[ids], emb_b[ids], dist[ids] = tris[ti], bary, d
    emb = LandmarkEmbedding(emb_t, emb_b)
    # semantic check on the neutral: where do the canonical 68 points land on the model?
    c68_on_model = s * c68 @ R.T + t
    ti, bary, _ = closest_points_on_mesh(c68_on_model, shape, model.triangles[face_tris])
    tri = model.triangles[face_tris[ti]]
    emb68 = np.einsum("lc,lcd->ld", bary, model.mean[tri])
    lm_err = np.linalg.norm(emb68 - model.mean[model.landmarks68], axis=1) * 10.0
    return emb, EmbeddingReport(fit_residual_mm=fit_residual * 10.0, projection_mm=dist * 10.0, landmark68_mm=lm_err)


# -- cache ----------------------------------------------------------------------------
def model_hash(model: FaceModel) -> str:
    """A hash of what an embedding depends on (the model's arrays, the canonical 68 points, the
    method's version): the cache key."""
    h = hashlib.sha256(METHOD_VERSION.encode())
    for arr in (model.mean, model.triangles, model.identity_basis, model.landmarks68):
        a = np.ascontiguousarray(arr)
        h.update(str(a.shape).encode() + str(a.dtype).encode())
        h.update(a.tobytes())
    h.update(CANONICAL68_FILE.read_bytes())
    from core.model.canonical import read_canonical_mesh
    h.update(read_canonical_mesh().vertices.tobytes())
    return h.hexdigest()[:16]


def attach_tracker_embedding(model: FaceModel, use_cache: bool = True) -> FaceModel:
    """Set ``model.embedding`` (478 points), from the cache when possible. Returns the model."""
    path = cache_dir() / "embeddings" / f"{model.name}-{model_hash(model)}.npz"
    if use_cache and path.is_file():
        try:
            d = load_npz_checked(path, required=("triangles", "barycentric"))
            emb = LandmarkEmbedding(d["triangles"].astype(np.int32), d["barycentric"].astype(np.float32))
            if len(emb) == 478 and emb.triangles.max() < len(model.triangles):
                model.embedding = emb
                model.validate()
                return model
        except Exception:  # noqa: BLE001 (an unreadable cache is recomputed below)
            pass
    emb, report = compute_tracker_embedding(model)
    model.embedding = emb
    model.validate()
    save_npz_atomic(path, {"triangles": emb.triangles, "barycentric": emb.barycentric,
                           "projection_mm": report.projection_mm.astype(np.float32),
                           "fit_residual_mm": report.fit_residual_mm.astype(np.float32),
                           "landmark68_mm": report.landmark68_mm.astype(np.float32)})
    return model
