"""The face model restricted to the fitted points: a model-agnostic landmark basis.

Fitting never touches the full mesh. It works on L points of the model surface
(the tracker's 478 points through the model's landmark embedding, or the 68
iBUG vertices), each a fixed linear combination of model vertices, so the
model's mean and bases restrict to those points exactly:

    X_l(i, e) = mean_l + sum_k i_k identity_l[k] + sum_j e_j expression_l[j]

Model space: centimetres, y up, face looking down +z (see core/model/face_model.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.model.face_model import FaceModel


@dataclass
class LandmarkBasis:
    """Model shape at L points.

    mean : (L, 3) float64   cm
    identity : (Ki, L, 3) float64   one std per unit coefficient
    expression : (Ke, L, 3) float64   one full activation per unit coefficient
    """

    mean: np.ndarray
    identity: np.ndarray
    expression: np.ndarray

    @property
    def num_points(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_identity(self) -> int:
        return int(self.identity.shape[0])

    @property
    def num_expressions(self) -> int:
        return int(self.expression.shape[0])

    def points(self, identity: np.ndarray | None, expression: np.ndarray | None) -> np.ndarray:
        """Shape at the L points. identity (Ki,) or None; expression (Ke,) or (F, Ke) or None.

        Returns (L, 3) or (F, L, 3) float64.
        """
        X = self.mean
        if identity is not None and self.num_identity:
            X = X + np.tensordot(np.asarray(identity, np.float64), self.identity, axes=1)
        if expression is None or not self.num_expressions:
            return X.copy() if X is self.mean else X
        E = np.asarray(expression, np.float64)
        flat = self.expression.reshape(self.num_expressions, -1)
        if E.ndim == 1:
            return X + (E @ flat).reshape(X.shape)
        return X[None] + (E @ flat).reshape(E.shape[0], *X.shape)

    def subset(self, idx: np.ndarray) -> "LandmarkBasis":
        """The basis restricted to points ``idx`` (int array or bool mask)."""
        return LandmarkBasis(self.mean[idx], self.identity[:, idx], self.expression[:, idx])

    def shifted(self, offsets: np.ndarray | None) -> "LandmarkBasis":
        """The basis with its mean moved by per-point ``offsets`` (L, 3) cm (a fit's neutral
        calibration, ``VideoFit.point_offsets``); itself when there are none."""
        if offsets is None:
            return self
        return LandmarkBasis(self.mean + offsets, self.identity, self.expression)


def basis_from_vertices(model: FaceModel, vertex_ids: np.ndarray) -> LandmarkBasis:
    """Basis at model vertices ``vertex_ids`` (L,) int."""
    v = np.asarray(vertex_ids, dtype=np.int64)
    return LandmarkBasis(
        mean=np.asarray(model.mean[v], np.float64),
        identity=np.asarray(model.identity_basis[:, v], np.float64),
        expression=np.asarray(model.expression_basis[:, v], np.float64),
    )


def basis_from_embedding(model: FaceModel) -> LandmarkBasis:
    """Basis at the tracker's points: each point is the barycentric combination of
    the three vertices of its embedding triangle (same weights for mean and bases,
    which is exact because the model is linear)."""
    if model.embedding is None:
        raise ValueError(f"model {model.name!r} has no landmark embedding for the tracker's points")
    tri = np.asarray(model.triangles)[np.asarray(model.embedding.triangles)]  # (L, 3)
    bary = np.asarray(model.embedding.barycentric, np.float64)  # (L, 3)

    def combine(a: np.ndarray) -> np.ndarray:  # (..., N, 3) -> (..., L, 3)
        return np.einsum("...lkc,lk->...lc", np.asarray(a, np.float64)[..., tri, :], bary)

    return LandmarkBasis(combine(model.mean), combine(model.identity_basis), combine(model.expression_basis))


def basis_landmarks68(model: FaceModel) -> LandmarkBasis:
    """Basis at the model's 68 iBUG/Multi-PIE vertices."""
    if model.landmarks68 is None:
        raise ValueError(f"model {model.name!r} has no 68-point landmark table")
    return basis_from_vertices(model, model.landmarks68)
