"""A reconstruction replayed over its video: consistency checks and posed meshes per frame."""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from core.errors import InputError
from core.model.face_model import FaceModel


def frames_to_use(frame_count: int, max_frames: Optional[int]) -> int:
    """Frames of a clip a command works on: all of them, or the first ``max_frames``."""
    return frame_count if max_frames is None else min(frame_count, int(max_frames))


def check_reconstruction_matches(rec, video_size: tuple[int, int], video_frames: int,
                                 max_frames: Optional[int], rec_where: str, video_where: str) -> int:
    """Check that reconstruction ``rec`` belongs to a video of ``video_size`` (H, W) and
    ``video_frames`` frames; return the number of frames to process.

    The reconstruction must cover the video frame for frame: the same frame count, or,
    with ``max_frames``, at least the frames used (a reconstruction of the first N frames
    works with ``--max-frames N``). Its image size, when recorded, must equal the video's.
    Raises InputError naming both files otherwise.
    """
    used = frames_to_use(video_frames, max_frames)
    rh, rw = (int(v) for v in rec.image_size)
    if (rh, rw) != (0, 0) and (rh, rw) != tuple(int(v) for v in video_size):
        raise InputError(f"{rec_where}: reconstruction was made on {rw}x{rh} frames but {video_where} "
                         f"is {video_size[1]}x{video_size[0]}; it belongs to another video")
    F = rec.num_frames
    if max_frames is None and F != video_frames:
        hint = f" (pass --max-frames {F} if it covers the first {F} frames)" if F < video_frames else ""
        raise InputError(f"{rec_where}: reconstruction has {F} frames but {video_where} has "
                         f"{video_frames}{hint}")
    if F < used:
        raise InputError(f"{rec_where}: reconstruction has {F} frames but {used} frames of "
                         f"{video_where} were asked for")
    return used


def check_model_matches(rec, model: FaceModel, rec_where: str) -> None:
    """The reconstruction's coefficients must fit ``model`` (InputError otherwise)."""
    ki, ke = int(np.asarray(rec.identity).shape[0]), int(np.asarray(rec.expression).shape[1])
    if ki != model.num_identity or ke != model.num_expressions:
        raise InputError(f"{rec_where}: reconstruction has {ki} identity and {ke} expression coefficients, "
                         f"but model {model.name!r} has {model.num_identity} and {model.num_expressions}; "
                         f"it was made with model {rec.model_spec!r}")
    index = getattr(rec, "corrective_index", None)
    if index is not None and index.shape[0] != model.num_vertices:
        raise InputError(f"{rec_where}: reconstruction's corrective deformation is for a mesh of {index.shape[0]} "
                         f"vertices, but model {model.name!r} has {model.num_vertices}; it was made with model "
                         f"{rec.model_spec!r}")


def render_vertex_mask(model: FaceModel) -> np.ndarray:
    """(N,) bool: the vertices QA renders show, the face and the eyeballs.

    The ICT model's ``narrow_face`` (no ears, neck, scalp) when the model has it, else
    its ``face`` region, plus ``eyeballs``; the mouth interior (teeth, gums, tongue) is
    left out: nothing in the fit constrains it, so its flow is not image evidence. A
    model without regions (the built-in mesh) is used whole.
    """
    regions = model.regions
    base = regions.get("narrow_face", regions.get("face"))
    if base is None:
        return np.ones(model.num_vertices, bool)
    keep = np.asarray(base, bool).copy()
    if "eyeballs" in regions:
        keep |= np.asarray(regions["eyeballs"], bool)
    return keep


class ClipMeshes:
    """Posed screen-space meshes of a reconstruction, one frame at a time.

    Renders use the part of ``model`` picked by :func:`render_vertex_mask`.
    screen(f) : (N, 3) float32 x_px, y_px, depth_px (larger = farther) of those vertices;
    triangles : (T, 3) indices into them; mean : (N, 3) their mean face (NMFC reference).
    """

    def __init__(self, rec, model: FaceModel):
        model = rec.face_model(model) if hasattr(rec, "face_model") else model   # a personalised fit's own
        self.rec = rec
        self.model = model
        self.keep = render_vertex_mask(model)
        index = np.full(model.num_vertices, -1, np.int64)
        index[self.keep] = np.arange(int(self.keep.sum()))
        tri = np.asarray(model.triangles)
        self.triangles = index[tri[self.keep[tri].all(1)]].astype(np.int32)
        self.mean = np.asarray(model.mean, np.float32)[self.keep]
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.keep.sum())

    def _posed_full(self, f: int) -> np.ndarray:
        """All model vertices of frame f in the image: (N_model, 3) float64."""
        if self._cached is None or self._cached[0] != f:
            self._cached = (f, self.rec.posed_vertices(self.model, f))
        return self._cached[1]

    def screen(self, f: int) -> np.ndarray:
        """The rendered vertices of frame ``f`` in its image: (N_kept, 3) float32 x_px, y_px, depth_px."""
        return self._posed_full(f)[self.keep].astype(np.float32)

    def frames(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Screen vertices of frames ``start`` .. ``stop - 1``, one (N_kept, 3) array each."""
        for f in range(start, stop):
            yield self.screen(f)

    def tracker_points(self, f: int) -> np.ndarray:
        """The model's tracker points (embedding) in frame f's image: (L, 2) pixels
        (an orthographic projection is affine, so projecting the embedded points equals
        embedding the projected vertices)."""
        return self.model.embedded_points(self._posed_full(f))[:, :2]

    def depth_range(self, stop: int, samples: int = 50) -> tuple[float, float]:
        """(near, far) screen depth over frames [0, stop), from up to ``samples`` frames spread
        over the clip, padded by 2% so that the rest stay inside: one PNCC depth scale per clip."""
        idx = np.unique(np.linspace(0, stop - 1, min(samples, stop)).astype(int))
        d = np.concatenate([self.screen(int(f))[:, 2] for f in idx])
        lo, hi = float(d.min()), float(d.max())
        pad = 0.02 * max(hi - lo, 1e-6)
        return lo - pad, hi + pad


def renderer_for(meshes: ClipMeshes, renderer=None) -> tuple:
    """A renderer set up for ``meshes`` (its topology and NMFC reference): ``renderer`` (an
    OffscreenRenderer on this thread or a RenderThread; its mesh is replaced) or, when None, a
    new OffscreenRenderer here (not on a Qt GUI thread). Returns (renderer, owned): release an
    owned one when done."""
    owned = renderer is None
    if owned:
        from core.render import OffscreenRenderer

        renderer = OffscreenRenderer()
    renderer.set_mesh(meshes.triangles, meshes.num_vertices, nmfc_mean=meshes.mean)
    return renderer, owned
