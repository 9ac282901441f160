"""Reconstruction: the result of 4D (or per-frame) fitting for a clip of F frames.

Every frame's mesh is rebuilt exactly from the model spec and the coefficients:
``load_model(model_spec).vertices(identity, expression[f])`` in model space (cm,
y up, face looking down +z), and placed in the image by the scaled orthographic
camera ``p = scale[f] * rotation[f][:2] @ X + translation[f]`` (pixels, origin
top-left, y down). The built-in model's per-subject shape is its identity
coefficients (its identity basis is the subject-shape space). A clip fitted with its
frames may also carry a corrective deformation learned from the clip
(core/fitting/corrective.py): per-frame offsets of M control points, spread to the
vertices by fixed weights, vertex v moving by
``sum_j corrective_weight[v, j] * corrective[f, corrective_index[v, j]]`` (cm, model space);
:meth:`Reconstruction.vertices` includes it. :meth:`Reconstruction.posed_vertices` is the one
implementation of "the face of frame f placed in the image" (the editor's overlays and
preview, the QA renders, mesh exports and the reenactment warp all use it).

File format: version 2 adds the three optional corrective arrays and is written only when
they are present (so files without one stay readable by older versions); version-1
files load unchanged. The optional ``repeated`` array (frames that repeat their
predecessor's picture, so the fit copied it) is read when present; files without it (older
ones) derive it from exact equality of consecutive fits, which is how the fitter copies.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.camera import OrthoCamera, OrthoCameras
from core.errors import InputError
from core.npz_io import load_npz_checked, save_npz_atomic

FORMAT = "facestudio.reconstruction"
VERSION = 2
#: the version written for a reconstruction without a corrective deformation
VERSION_WITHOUT_CORRECTIVE = 1

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
    corrective : (F, M, 3) float16 or None   per-frame corrective offsets of M control points (cm)
    corrective_index : (N, k) int32 or None  for each model vertex, the control points it follows
    corrective_weight : (N, k) float32 or None  and their weights (0 = the vertex does not move)
    repeated : (F,) bool or None   frames whose picture repeats the previous frame's (the fit copies
                                   it; the flow into them is zero): found by the image-motion stage;
                                   None = all False
    identity_source : str          what the identity was fitted to: "landmarks" (the tracker's
                                   points) or "skin motion" (core/fitting/texture_identity.py)
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
    corrective: np.ndarray | None = None
    corrective_index: np.ndarray | None = None
    corrective_weight: np.ndarray | None = None
    repeated: np.ndarray | None = None
    personal_mean: np.ndarray | None = None
    personal_expression: np.ndarray | None = None
    point_offsets: np.ndarray | None = None
    identity_source: str = "landmarks"

    def __post_init__(self) -> None:
        F = int(self.expression.shape[0])
        self.repeated = np.zeros(F, bool) if self.repeated is None else np.asarray(self.repeated, bool)
        if self.repeated.shape != (F,):
            raise ValueError(f"repeated has shape {self.repeated.shape}, expected ({F},)")

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    def camera(self, frame: int) -> OrthoCamera:
        """Frame ``frame``'s fitted camera (float64)."""
        return OrthoCamera(float(self.scale[frame]), np.asarray(self.rotation[frame], np.float64),
                           np.asarray(self.translation[frame], np.float64))

    @property
    def cameras(self) -> OrthoCameras:
        return OrthoCameras(self.scale.astype(np.float64), self.rotation.astype(np.float64),
                            self.translation.astype(np.float64))

    @property
    def has_corrective(self) -> bool:
        return self.corrective is not None

    def _corrective(self, sel) -> np.ndarray:
        """Vertex displacements (..., N, 3) of frames ``sel`` (int, slice or index array)."""
        from core.fitting.corrective import apply_corrective

        return apply_corrective(self.corrective[sel], self.corrective_index, self.corrective_weight)

    @property
    def is_personalised(self) -> bool:
        return self.personal_mean is not None

    def face_model(self, model):
        """The model the coefficients belong to: ``model`` itself, or, for a personalised fit, a
        copy with this subject's rest face and expression basis (kept for later calls)."""
        if not self.is_personalised:
            return model
        cached = getattr(self, "_face_model", None)
        if cached is not None and cached[0] is model:
            return cached[1]
        import dataclasses

        if (model.mean.shape != self.personal_mean.shape
                or model.expression_basis.shape != self.personal_expression.shape):
            raise InputError(f"{self.source or 'reconstruction'}: personalised for a model of "
                             f"{len(self.personal_mean)} vertices, not {model.name!r} ({model.num_vertices})")
        personal = dataclasses.replace(model, name=f"{model.name}-personalised",
                                       mean=np.asarray(self.personal_mean, np.float32),
                                       expression_basis=np.asarray(self.personal_expression, np.float32))
        object.__setattr__(self, "_face_model", (model, personal))
        return personal

    def vertices(self, model, frame: int, expression: np.ndarray | None = None) -> np.ndarray:
        """Model-space mesh of one frame, corrective included: (N, 3) float32. ``expression``
        (Ke,) replaces the fitted one (an edit); the frame's corrective still applies, so an
        edit changes the face only by what the edit's blendshapes move. A personalised fit
        uses its subject's model (:meth:`face_model`)."""
        e = self.expression[frame] if expression is None else expression
        v = np.asarray(self.face_model(model).vertices(self.identity, e), np.float32)
        if self.has_corrective:
            v += self._corrective(frame)
        return v

    def vertices_batch(self, model, frames=None) -> np.ndarray:
        """Model-space meshes of ``frames`` (index array or slice; default all), corrective
        included: (len(frames), N, 3) float32."""
        sel = slice(None) if frames is None else frames
        v = self.face_model(model).vertices_batch(self.identity, self.expression[sel])
        if self.has_corrective:
            v += self._corrective(sel)
        return v

    def tracker_points(self, model, frames=None, corrective: bool = True) -> np.ndarray:
        """(len(frames), L, 2) pixels: the fit's tracker points in the image (the embedded
        surface points of each frame's mesh plus the neutral calibration's offsets; with or
        without the corrective), to compare with the tracker's landmarks."""
        sel = slice(None) if frames is None else frames
        fm = self.face_model(model)
        if corrective and self.has_corrective:
            V = self.vertices_batch(model, sel)
        else:
            V = fm.vertices_batch(self.identity, self.expression[sel])
        X = fm.embedded_points(V.astype(np.float64))
        if self.point_offsets is not None:
            X = X + np.asarray(self.point_offsets, np.float64)[None]
        cams = self.cameras
        R, sc, t = cams.rotation[sel], cams.scale[sel], cams.translation[sel]
        return sc[:, None, None] * np.einsum("fab,flb->fla", R[:, :2], X) + t[:, None]

    def posed_vertices(self, model, frame: int, expression: np.ndarray | None = None,
                       camera: OrthoCamera | None = None) -> np.ndarray:
        """The face of frame ``frame`` placed in the image: (N, 3) float64 x_px, y_px, depth_px
        (pixels, origin top-left, y down, depth away from the viewer), corrective included.

        ``expression`` (Ke,) replaces the fitted expression (an edit, a driven face) and
        ``camera`` the fitted camera (a driven head pose; an image scaled for a preview:
        ``rec.camera(f).scaled(k)``); the frame's identity and corrective stay.
        """
        cam = self.camera(frame) if camera is None else camera
        return cam.project(self.vertices(model, frame, expression).astype(np.float64))

    # -- arrays <-> object (shared with core.project) -------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to a ``.npz`` or a project (``from_arrays`` reads them back); metadata as JSON
        in ``meta``."""
        version = VERSION if self.has_corrective else VERSION_WITHOUT_CORRECTIVE
        meta = dict(format=FORMAT, version=version, model_name=self.model_name, model_spec=self.model_spec,
                    fps=float(self.fps), image_size=[int(v) for v in self.image_size], source=str(self.source),
                    method=self.method, settings=self.settings, identity_source=self.identity_source)
        out = dict(
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
            repeated=np.asarray(self.repeated, bool),  # (older readers ignore it)
        )
        if self.has_corrective:
            out["corrective"] = np.asarray(self.corrective, np.float32)
            out["corrective_index"] = np.asarray(self.corrective_index, np.int32)
            out["corrective_weight"] = np.asarray(self.corrective_weight, np.float32)
        if self.point_offsets is not None:
            out["point_offsets"] = np.asarray(self.point_offsets, np.float32)
        if self.is_personalised:   # (older readers ignore them and show the generic model)
            out["personal_mean"] = np.asarray(self.personal_mean, np.float32)
            out["personal_expression"] = np.asarray(self.personal_expression, np.float32)
        return out

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
        corr = [data.get(k) for k in ("corrective", "corrective_index", "corrective_weight")]
        co, ci, cw = corr
        if any(c is not None for c in corr) and any(c is None for c in corr):
            raise InputError(f"{where}: reconstruction has only some of the corrective arrays "
                             "('corrective', 'corrective_index', 'corrective_weight')")
        if co is not None:
            if (co.ndim != 3 or co.shape[0] != F or co.shape[2] != 3 or ci.ndim != 2 or cw.shape != ci.shape
                    or (ci.size and (ci.min() < 0 or ci.max() >= co.shape[1]))):
                raise InputError(f"{where}: reconstruction corrective arrays are inconsistent (offsets {co.shape}, "
                                 f"index {ci.shape}, weight {cw.shape}; expected ({F}, M, 3), (N, k) into M "
                                 "points, (N, k))")
        pm, pe = data.get("personal_mean"), data.get("personal_expression")
        if (pm is None) != (pe is None):
            raise InputError(f"{where}: reconstruction has only one of 'personal_mean' and 'personal_expression'")
        if pm is not None and (pm.ndim != 2 or pm.shape[1] != 3 or pe.shape != (Ke, pm.shape[0], 3)
                               or not np.isfinite(pm).all() or not np.isfinite(pe).all()):
            raise InputError(f"{where}: reconstruction personalised model arrays are inconsistent "
                             f"(mean {pm.shape}, expressions {pe.shape}; expected (N, 3), ({Ke}, N, 3), finite)")
        po = data.get("point_offsets")
        if po is not None and (po.ndim != 2 or po.shape[1] != 3 or not np.isfinite(po).all()):
            raise InputError(f"{where}: reconstruction array 'point_offsets' has shape {po.shape}, "
                             "expected finite (L, 3)")
        repeated = data.get("repeated")
        if repeated is not None and repeated.shape != (F,):
            raise InputError(f"{where}: reconstruction array 'repeated' has shape {repeated.shape}, expected ({F},)")
        if repeated is None:  # written before the fit recorded it: the fitter copies a repeated frame exactly
            repeated = _exact_repeats(data["expression"], data["scale"], data["translation"])
        for k in ("identity", "expression", "rotation", "translation", "scale", "landmarks68",
                  *(("corrective", "corrective_weight") if co is not None else ())):
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
            identity_source=str(meta.get("identity_source", "landmarks")),
            corrective=None if co is None else np.asarray(co, np.float32),
            corrective_index=None if ci is None else np.asarray(ci, np.int32),
            corrective_weight=None if cw is None else np.asarray(cw, np.float32),
            repeated=np.asarray(repeated, bool),
            personal_mean=None if pm is None else np.asarray(pm, np.float32),
            personal_expression=None if pe is None else np.asarray(pe, np.float32),
            point_offsets=None if po is None else np.asarray(po, np.float32),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Atomic, pickle-free ``.npz``."""
        save_npz_atomic(Path(path), self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Reconstruction":
        """Read a ``.npz`` written by :meth:`save`; InputError naming the file when it is not one."""
        path = Path(path)
        return cls.from_arrays(load_npz_checked(path), str(path))


def _exact_repeats(expression: np.ndarray, scale: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(F,) bool: frames whose fit equals the previous frame's exactly (how the fitter copies a
    repeated picture): ``Reconstruction.repeated`` of a file written before it was stored.
    expression (F, Ke), scale (F,), translation (F, 2)."""
    F = len(expression)
    out = np.zeros(F, bool)
    if F > 1:
        out[1:] = (np.all(expression[1:] == expression[:-1], axis=1) & (scale[1:] == scale[:-1])
                   & np.all(translation[1:] == translation[:-1], axis=1))
    return out
