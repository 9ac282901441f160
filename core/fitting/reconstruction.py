"""Reconstruction: the result of 4D (or per-frame) fitting for a clip of F frames.

Every frame's mesh is rebuilt exactly from the model spec and the coefficients:
``load_model(model_spec).vertices(identity, expression[f])`` in model space (cm,
y up, face looking down +z), and placed in the image by the scaled orthographic
camera ``p = scale[f] * rotation[f][:2] @ X + translation[f]`` (pixels, origin
top-left, y down). The built-in model's per-subject shape is its identity
coefficients (its identity basis is the subject-shape space), so nothing else is
needed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.camera import OrthoCameras
from core.errors import InputError
from core.npz_io import load_npz_checked, save_npz_atomic

FORMAT = "facestudio.reconstruction"
VERSION = 1

_ARRAYS = ("identity", "expression", "expression_names", "rotation", "translation", "scale",
           "landmarks68", "fit_error_px", "valid", "segment")


@dataclass
class Reconstruction:
    """Per-clip fit.

    model_name : str          FaceModel.name
    model_spec : str          what ``core.model.registry.load_model`` takes ("builtin", "ict", a path)
    identity : (Ki,) float32  identity coefficients (std units)
    expression : (F, Ke) float32   expression activations, named by ``expression_names``
    expression_names : (Ke,) str
    rotation : (F, 3, 3) float32   model -> camera
    translation : (F, 2) float32   pixels
    scale : (F,) float32           pixels per cm
    landmarks68 : (F, 68, 2) float32   the model's iBUG-68 vertices projected (pixels)
    fit_error_px : (F,) float32    mean reprojection error over the fitted points (NaN: not fitted)
    valid : (F,) bool              frames with a fitted face (others copy the nearest fitted frame)
    segment : (F,) int32           track segment, -1 where invalid
    fps : float, image_size : (H, W), source : str, method : "video" | "per-frame",
    settings : dict                the FitSettings used
    """

    model_name: str
    model_spec: str
    identity: np.ndarray
    expression: np.ndarray
    expression_names: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    landmarks68: np.ndarray
    fit_error_px: np.ndarray
    valid: np.ndarray
    segment: np.ndarray
    fps: float = 30.0
    image_size: tuple[int, int] = (0, 0)
    source: str = ""
    method: str = "video"
    settings: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def cameras(self) -> OrthoCameras:
        return OrthoCameras(self.scale.astype(np.float64), self.rotation.astype(np.float64),
                            self.translation.astype(np.float64))

    def vertices(self, model, frame: int) -> np.ndarray:
        """Model-space mesh of one frame: (N, 3) float32."""
        return model.vertices(self.identity, self.expression[frame])

    def image_vertices(self, model, frame: int) -> np.ndarray:
        """Mesh of one frame in image space: (N, 3) x_px, y_px, depth_px."""
        return self.cameras.project(self.vertices(model, frame).astype(np.float64), frame)

    # -- arrays <-> object (shared with core.project) -------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = dict(format=FORMAT, version=VERSION, model_name=self.model_name, model_spec=self.model_spec,
                    fps=float(self.fps), image_size=[int(v) for v in self.image_size], source=str(self.source),
                    method=self.method, settings=self.settings)
        return dict(
            identity=np.asarray(self.identity, np.float32),
            expression=np.asarray(self.expression, np.float32),
            expression_names=np.asarray(self.expression_names, dtype=str),
            rotation=np.asarray(self.rotation, np.float32),
            translation=np.asarray(self.translation, np.float32),
            scale=np.asarray(self.scale, np.float32),
            landmarks68=np.asarray(self.landmarks68, np.float32),
            fit_error_px=np.asarray(self.fit_error_px, np.float32),
            valid=np.asarray(self.valid, bool),
            segment=np.asarray(self.segment, np.int32),
            meta=np.asarray(json.dumps(meta)),
        )

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], where: str) -> "Reconstruction":
        """Build and check; InputError naming ``where`` on missing, inconsistent or non-finite data."""
        missing = [k for k in (*_ARRAYS, "meta") if k not in data]
        if missing:
            raise InputError(f"{where}: not a reconstruction (missing arrays {', '.join(missing)})")
        try:
            meta = json.loads(str(data["meta"]))
        except ValueError as e:
            raise InputError(f"{where}: reconstruction metadata is not valid JSON ({e})") from e
        if meta.get("format") != FORMAT:
            raise InputError(f"{where}: not a FaceStudio reconstruction (format {meta.get('format')!r})")
        if int(meta.get("version", -1)) > VERSION:
            raise InputError(f"{where}: reconstruction format version {meta.get('version')} is newer than "
                             f"this program supports ({VERSION}); update FaceStudio")
        F, Ke = data["expression"].shape if data["expression"].ndim == 2 else (-1, -1)
        expect = dict(expression_names=(Ke,), rotation=(F, 3, 3), translation=(F, 2), scale=(F,),
                      landmarks68=(F, 68, 2), fit_error_px=(F,), valid=(F,), segment=(F,))
        if F < 0 or data["identity"].ndim != 1:
            raise InputError(f"{where}: reconstruction arrays have wrong shapes "
                             f"(expression {data['expression'].shape}, identity {data['identity'].shape})")
        for k, shp in expect.items():
            if data[k].shape != shp:
                raise InputError(f"{where}: reconstruction array {k!r} has shape {data[k].shape}, expected {shp}")
        for k in ("identity", "expression", "rotation", "translation", "scale", "landmarks68"):
            if not np.isfinite(data[k]).all():
                raise InputError(f"{where}: reconstruction array {k!r} contains NaN or infinite values")
        return cls(
            model_name=str(meta.get("model_name", "")), model_spec=str(meta.get("model_spec", "")),
            identity=data["identity"], expression=data["expression"],
            expression_names=data["expression_names"].astype(str), rotation=data["rotation"],
            translation=data["translation"], scale=data["scale"], landmarks68=data["landmarks68"],
            fit_error_px=data["fit_error_px"], valid=data["valid"].astype(bool),
            segment=data["segment"].astype(np.int32), fps=float(meta.get("fps", 30.0)),
            image_size=tuple(int(v) for v in meta.get("image_size", (0, 0))), source=str(meta.get("source", "")),
            method=str(meta.get("method", "video")), settings=dict(meta.get("settings", {})),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Atomic, pickle-free ``.npz``."""
        save_npz_atomic(Path(path), self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Reconstruction":
        path = Path(path)
        return cls.from_arrays(load_npz_checked(path), str(path))
