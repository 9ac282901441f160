"""What the editor shows for one frame of a reconstruction, as plain arrays (no Qt).

:class:`FrameScene` turns a reconstruction, its face model, the tracker's result and the
(edited) expressions of a frame into

- the video overlays: the posed mesh's edges, the fit-error points (tracked landmarks
  coloured by their distance to the fitted mesh) and the 3D flow's image motion as line
  segments (:meth:`FrameScene.overlays`);
- the 3D viewport's mesh: model-space vertices, the fitted rotation, each vertex's pixel in
  the frame (for texturing) and the 3D flow with its colours (:meth:`FrameScene.viewport_mesh`).

Coordinates: image pixels (x right, y down) for overlays; model space (cm, y up) for the
viewport mesh. Frames with no tracked face (their fit is borrowed from the nearest fitted
frame) get no overlays: drawing them would suggest a face that is not there.
Colours: RGB uint8. Flow colours use the clip's scale (``core.flow.clip_vertex_flow_scales``),
so a frame's colours compare across the clip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.flow import clip_vertex_flow_scales, flow_pair
from core.flow.colour import flow3d_to_rgb
from core.render.overlay import heat_colours
from core.render.viewport import mesh_edges

#: the overlay shows at most this many mesh edges (a dense model's are thinned evenly)
MAX_MESH_EDGES = 6000
#: flow arrows drawn over the video (every k-th vertex)
MAX_FLOW_ARROWS = 800
#: the fit-error heat is red at this many pixels
ERROR_RED_PX = 8.0
#: the image flow arrows are drawn this many times their length
ARROW_GAIN = 3.0


@dataclass
class FrameOverlays:
    """Video overlays of one frame; None where not asked for or not available.

    mesh_segments : (E, 2, 2) pixel segments of the posed mesh's edges
    error_points : (L, 2) tracked landmarks, error_colours (L, 3) uint8 by fit error
    flow_segments : (M, 2, 2) from a vertex along its image motion, flow_colours (M, 3) uint8
    """

    mesh_segments: np.ndarray | None = None
    error_points: np.ndarray | None = None
    error_colours: np.ndarray | None = None
    flow_segments: np.ndarray | None = None
    flow_colours: np.ndarray | None = None


@dataclass
class ViewportMesh:
    """The 3D viewport's mesh of one frame.

    vertices : (N, 3) model space, cm; rotation : (3, 3) the fitted model -> camera rotation
    image_points : (N, 2) pixels of each (fitted) vertex in the frame
    flow : (N, 3) cm, the displacement to the shown flow pair's other frame, or None
    flow_colours : (N, 3) uint8 its colour coding, or None
    landmarks : (L,) vertex indices of the model's 68 landmarks
    """

    vertices: np.ndarray
    rotation: np.ndarray
    image_points: np.ndarray
    flow: np.ndarray | None
    flow_colours: np.ndarray | None
    landmarks: np.ndarray


class FrameScene:
    """The overlays and viewport mesh of a reconstruction's frames (see the module docstring).

    rec : core.fitting.Reconstruction; model : the FaceModel it was fitted with;
    track : the TrackResult it was fitted to (for the fit-error points), or None.
    """

    def __init__(self, rec, model, track=None):
        self.rec, self.model, self.track = rec, model, track
        self._edges: np.ndarray | None = None
        self._flow_scales: tuple[float, float] | None = None

    @property
    def edges(self) -> np.ndarray:
        """(E, 2) the mesh edges the overlay draws (at most MAX_MESH_EDGES)."""
        if self._edges is None:
            e = mesh_edges(np.asarray(self.model.triangles))
            self._edges = e[:: max(1, len(e) // MAX_MESH_EDGES)]
        return self._edges

    def flow_scales(self) -> tuple[float, float]:
        """The clip's flow colour scales (model cm, image px), computed once."""
        if self._flow_scales is None:
            self._flow_scales = clip_vertex_flow_scales(self.rec, self.model)
        return self._flow_scales

    def has_face(self, f: int) -> bool:
        """True when frame ``f`` had a tracked face (its fit is its own)."""
        return 0 <= f < self.rec.num_frames and bool(self.rec.valid[f])

    def overlays(self, f: int, expressions: np.ndarray, mesh: bool = True, error: bool = True,
                 flow: bool = True) -> FrameOverlays:
        """Overlays of frame ``f`` with ``expressions`` (F, Ke) (the edited ones); empty for a
        frame without a tracked face."""
        out = FrameOverlays()
        if not self.has_face(f):
            return out
        rec, model = self.rec, self.model
        P = rec.posed_vertices(model, f, expressions[f])
        if mesh:
            out.mesh_segments = P[self.edges][:, :, :2]
        tr = self.track
        if error and tr is not None and f < tr.num_frames and tr.valid[f] and model.embedding is not None:
            pts = model.embedded_points(rec.posed_vertices(model, f))[:, :2]   # the fit, not the edit
            obs = tr.landmarks[f, :len(pts), :2]
            out.error_points = obs
            out.error_colours = heat_colours(np.linalg.norm(obs - pts, axis=1), ERROR_RED_PX)
        if flow and rec.num_frames > 1:
            a, b = flow_pair(rec.repeated, f)
            g = b if a == f else a
            Q = rec.posed_vertices(model, g, expressions[g])
            disp = (Q - P) * (1 if g > f else -1)
            idx = np.arange(0, len(P), max(1, len(P) // MAX_FLOW_ARROWS))
            out.flow_segments = np.stack([P[idx, :2], P[idx, :2] + ARROW_GAIN * disp[idx, :2]], axis=1)
            out.flow_colours = flow3d_to_rgb(disp[idx], self.flow_scales()[1])
        return out

    def viewport_mesh(self, f: int, expressions: np.ndarray, with_flow: bool = False) -> ViewportMesh:
        """The viewport's mesh of frame ``f`` with ``expressions`` (F, Ke); ``with_flow`` adds the
        3D flow to the next new picture (``flow_pair``) and its colours."""
        rec, model = self.rec, self.model
        V = rec.vertices(model, f, expressions[f])
        flow = colours = None
        if with_flow and rec.num_frames > 1:
            a, b = flow_pair(rec.repeated, f)
            flow = rec.vertices(model, b, expressions[b]) - rec.vertices(model, a, expressions[a])
            colours = flow3d_to_rgb(flow, self.flow_scales()[0])
        return ViewportMesh(vertices=V, rotation=rec.rotation[f], image_points=rec.posed_vertices(model, f)[:, :2],
                            flow=flow, flow_colours=colours, landmarks=np.asarray(model.landmarks68))
