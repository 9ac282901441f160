"""FaceModel: a linear 3D morphable face model (mean + identity + expression bases).

Model space: right-handed, centimetres, the face looks down +z, y up.
A shape is ``mean + sum_k identity[k] * identity_basis[k] + sum_j expression[j] * expression_basis[j]``.
Identity coefficients are in units of standard deviations when ``identity_std`` is
folded into the basis (``identity_basis[k]`` already has the size of one std);
``identity_std`` is kept for display (sliders at +-k sigma) and priors.
Expression weights are blendshape activations, normally in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError


@dataclass
class LandmarkEmbedding:
    """Ties tracker points to the model surface.

    triangles : (L,) int32   index into ``FaceModel.triangles``
    barycentric : (L, 3) float32   weights of that triangle's 3 vertices (sum to 1)
    """

    triangles: np.ndarray
    barycentric: np.ndarray

    def __len__(self) -> int:
        return int(self.triangles.shape[0])


@dataclass
class FaceModel:
    """A linear face model. See module docstring for conventions.

    name : str
    mean : (N, 3) float32
    identity_basis : (Ki, N, 3) float32   (one std per unit coefficient)
    identity_std : (Ki,) float32
    expression_basis : (Ke, N, 3) float32
    expression_names : (Ke,) str   ARKit names where they exist
    triangles : (T, 3) int32   counter-clockwise seen from outside
    uv : (N, 2) float32 or None   texture coordinates in [0, 1], v up
    regions : dict[str, (N,) bool]   e.g. "face", "lips", "left_eye", "mouth_interior"
    landmarks68 : (68,) int32   vertex ids of the iBUG/Multi-PIE 68 points
    embedding : LandmarkEmbedding or None   the tracker's 478 points on this surface
    expression_bounds : (Ke, 2) float32   box constraints used by fitting
    """

    name: str
    mean: np.ndarray
    identity_basis: np.ndarray
    identity_std: np.ndarray
    expression_basis: np.ndarray
    expression_names: np.ndarray
    triangles: np.ndarray
    uv: np.ndarray | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks68: np.ndarray | None = None
    embedding: LandmarkEmbedding | None = None
    expression_bounds: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()
        if self.expression_bounds is None:
            self.expression_bounds = np.tile(np.array([0.0, 1.0], np.float32), (self.num_expressions, 1))

    # -- sizes ---------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_identity(self) -> int:
        return int(self.identity_basis.shape[0])

    @property
    def num_expressions(self) -> int:
        return int(self.expression_basis.shape[0])

    def expression_index(self, name: str) -> int:
        """The index of the expression component called ``name``; KeyError when the model has none."""
        idx = np.flatnonzero(np.asarray(self.expression_names) == name)
        if idx.size == 0:
            raise KeyError(f"model {self.name!r} has no expression {name!r}")
        return int(idx[0])

    # -- validation ----------------------------------------------------------
    def validate(self) -> None:
        """Check shapes, finiteness and index ranges; raise InputError naming the problem."""
        def bad(msg: str) -> InputError:
            return InputError(f"face model {self.name!r}: {msg}")

        m = np.asarray(self.mean)
        if m.ndim != 2 or m.shape[1] != 3 or m.shape[0] < 3:
            raise bad(f"mean must be (N, 3), got {m.shape}")
        N = m.shape[0]
        for label, basis in (("identity_basis", self.identity_basis), ("expression_basis", self.expression_basis)):
            b = np.asarray(basis)
            if b.ndim != 3 or b.shape[1:] != (N, 3):
                raise bad(f"{label} must be (K, {N}, 3), got {b.shape}")
            if not np.isfinite(b).all():
                raise bad(f"{label} contains NaN or infinite values")
        if not np.isfinite(m).all():
            raise bad("mean contains NaN or infinite values")
        if np.asarray(self.identity_std).shape != (self.identity_basis.shape[0],):
            raise bad(f"identity_std must be ({self.identity_basis.shape[0]},)")
        if len(self.expression_names) != self.expression_basis.shape[0]:
            raise bad("expression_names and expression_basis differ in length")
        t = np.asarray(self.triangles)
        if t.ndim != 2 or t.shape[1] != 3 or t.size == 0:
            raise bad(f"triangles must be (T, 3), got {t.shape}")
        if t.min() < 0 or t.max() >= N:
            raise bad(f"triangle indices out of range [0, {N})")
        if self.uv is not None and np.asarray(self.uv).shape != (N, 2):
            raise bad(f"uv must be ({N}, 2), got {np.asarray(self.uv).shape}")
        for k, mask in self.regions.items():
            if np.asarray(mask).shape != (N,):
                raise bad(f"region {k!r} mask must be ({N},)")
        if self.landmarks68 is not None:
            l68 = np.asarray(self.landmarks68)
            if l68.shape != (68,) or l68.min() < 0 or l68.max() >= N:
                raise bad("landmarks68 must be 68 vertex indices in range")
        if self.embedding is not None:
            e = self.embedding
            if e.triangles.min() < 0 or e.triangles.max() >= t.shape[0]:
                raise bad("landmark embedding triangle index out of range")
            if e.barycentric.shape != (len(e), 3):
                raise bad("landmark embedding barycentric must be (L, 3)")

    # -- evaluation ------------------------------------------------------------
    def vertices(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """One shape. identity (Ki,), expression (Ke,) -> (N, 3) float32 (None = zeros)."""
        v = self.mean.astype(np.float32, copy=True)
        if identity is not None and len(identity):
            v += np.tensordot(np.asarray(identity, np.float32), self.identity_basis, axes=1)
        if expression is not None and len(expression):
            v += np.tensordot(np.asarray(expression, np.float32), self.expression_basis, axes=1)
        return v

    def vertices_batch(self, identity: np.ndarray | None, expressions: np.ndarray) -> np.ndarray:
        """Many frames, one identity. identity (Ki,) or None, expressions (F, Ke) -> (F, N, 3) float32."""
        base = self.vertices(identity, None)
        E = np.asarray(expressions, np.float32)
        flat = self.expression_basis.reshape(self.num_expressions, -1)
        return base[None] + (E @ flat).reshape(E.shape[0], self.num_vertices, 3)

    def vertices_torch(self, identity, expressions):
        """Torch version of :meth:`vertices_batch` (differentiable; runs on the inputs' device).

        identity : (Ki,) tensor or None, expressions : (F, Ke) tensor -> (F, N, 3) tensor.
        """
        import torch

        dev = expressions.device
        dtype = expressions.dtype
        cache = getattr(self, "_torch_cache", None)
        if cache is None or cache[0] != (dev, dtype):
            cache = ((dev, dtype),
                     torch.as_tensor(self.mean, dtype=dtype, device=dev),
                     torch.as_tensor(self.identity_basis.reshape(self.num_identity, -1), dtype=dtype, device=dev),
                     torch.as_tensor(self.expression_basis.reshape(self.num_expressions, -1), dtype=dtype, device=dev))
            object.__setattr__(self, "_torch_cache", cache)
        _, mean, idb, exb = cache
        base = mean.reshape(-1)
        if identity is not None and identity.numel():
            base = base + identity @ idb
        out = base[None] + expressions @ exb
        return out.reshape(expressions.shape[0], self.num_vertices, 3)

    def embedded_points(self, vertices: np.ndarray) -> np.ndarray:
        """Tracker points on a posed or unposed surface.

        vertices : (..., N, 3) -> (..., L, 3) using ``embedding``.
        """
        if self.embedding is None:
            raise ValueError(f"model {self.name!r} has no landmark embedding")
        tri = self.triangles[self.embedding.triangles]  # (L, 3)
        corners = vertices[..., tri, :]  # (..., L, 3, 3)
        return np.einsum("...lkc,lk->...lc", corners, self.embedding.barycentric)

    # -- views -------------------------------------------------------------------
    def subset(self, vertex_mask: np.ndarray, name: str | None = None) -> "FaceModel":
        """A model on the kept vertices (``vertex_mask`` (N,) bool).

        Triangles with a dropped corner are removed; triangles, landmarks68 and the
        embedding are remapped. Raises InputError if a landmark or an embedded
        point would be lost.
        """
        keep = np.asarray(vertex_mask, bool)
        if keep.shape != (self.num_vertices,):
            raise InputError(f"model {self.name!r}: subset mask must be ({self.num_vertices},)")
        new_index = np.full(self.num_vertices, -1, np.int64)
        new_index[keep] = np.arange(int(keep.sum()))
        tri_keep = keep[self.triangles].all(1)
        tri_index = np.full(len(self.triangles), -1, np.int64)
        tri_index[tri_keep] = np.arange(int(tri_keep.sum()))
        l68 = None
        if self.landmarks68 is not None:
            if not keep[self.landmarks68].all():
                raise InputError(f"model {self.name!r}: subset drops some of the 68 landmark vertices")
            l68 = new_index[self.landmarks68].astype(np.int32)
        emb = None
        if self.embedding is not None:
            if not tri_keep[self.embedding.triangles].all():
                raise InputError(f"model {self.name!r}: subset drops triangles the landmark embedding uses")
            emb = LandmarkEmbedding(tri_index[self.embedding.triangles].astype(np.int32),
                                    self.embedding.barycentric.copy())
        return FaceModel(
            name=name or f"{self.name}-subset", mean=self.mean[keep], identity_basis=self.identity_basis[:, keep],
            identity_std=self.identity_std.copy(), expression_basis=self.expression_basis[:, keep],
            expression_names=np.asarray(self.expression_names).copy(),
            triangles=new_index[self.triangles[tri_keep]].astype(np.int32),
            uv=None if self.uv is None else self.uv[keep],
            regions={k: np.asarray(m)[keep] for k, m in self.regions.items()},
            landmarks68=l68, embedding=emb,
            expression_bounds=None if self.expression_bounds is None else self.expression_bounds.copy())

    def face_only(self) -> "FaceModel":
        """The face with mouth interior and eyeballs (for fast fitting and rendering); the model
        itself when it has no ``face`` region or the face is everything."""
        if "face" not in self.regions:
            return self
        keep = np.asarray(self.regions["face"], bool).copy()
        for extra in ("mouth_interior", "eyeballs", "left_eye", "right_eye"):
            if extra in self.regions:
                keep |= np.asarray(self.regions[extra], bool)
        if keep.all():
            return self
        return self.subset(keep, name=f"{self.name}-face")
