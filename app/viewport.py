"""ViewportController: the 3D viewport's state (camera, mesh, mode) and its render thread.

The widget (:class:`widgets.viewport3d.Viewport3D`) shows images and reports mouse intent;
this controller keeps an :class:`~core.render.viewport.OrbitView` and the mesh, builds a
:class:`~core.render.viewport.ViewportScene` for every change and has it rendered by
:class:`~core.render.viewport.ViewportRenderThread` (the project's one renderer, on a
thread that owns its EGL context). Only the newest scene is rendered.

Data in (plain arrays, no face logic here):
    set_topology(triangles (T, 3) int, num_vertices, nmfc_mean (N, 3) the model's mean face)
    set_mesh(vertices (N, 3) model space cm (y up, face looking down +z),
             rotation (3, 3) the fitted model->camera rotation (for the "camera" preset),
             image (H, W, 3) uint8 RGB or None, image_points (N, 2) pixels of each vertex in it,
             flow (N, 3) per-vertex displacement (cm, model space) or None
             and flow_colours (N, 3) uint8 its colour coding,
             landmarks (L,) vertex indices or None)
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, QRectF, Signal
from PySide6.QtGui import QImage

from core.render.viewport import (
    MODE_LABELS, MODE_TIPS, MODES, PRESETS, PROJECTIONS, OrbitView, ViewportRenderThread, ViewportScene, mesh_edges,
)
from widgets.viewport3d import Viewport3D

__all__ = ["MODES", "MODE_LABELS", "MODE_TIPS", "PRESETS", "PROJECTIONS", "ViewportController"]

EMPTY_HINT = "The reconstructed 3D face appears here (Edit > Reconstruct, Ctrl+R)."


class ViewportController(QObject):
    """Signals: ``preset_changed(str)``, ``view_moved()`` (the user orbited, panned or zoomed
    away from the preset), ``gl_failed(str)`` (no GL context could be made).

    ``frames_rendered`` counts frames put on screen; ``last_paint_ms`` is the render
    thread's time for the last one; :meth:`grab_image` returns it.
    """

    preset_changed = Signal(str)
    view_moved = Signal()
    gl_failed = Signal(str)
    _rendered = Signal(object, int, float)   # from the render thread
    _failed = Signal(str)

    def __init__(self, widget: Viewport3D | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.widget = widget if widget is not None else Viewport3D()
        self.gl_error: str | None = None
        self.mode = "shaded"
        self.show_wireframe = False
        self.show_landmarks = True
        self.view = OrbitView()
        self._topology = (0, np.zeros((0, 3), np.int32), 0, None)  # (version, triangles, N, nmfc mean)
        self._edges = np.zeros((0, 2), np.int32)
        self._V = None
        self._R = None
        self._image = None
        self._img_pts = None
        self._flow = None
        self._flow_colours = None
        self._landmarks = None
        self.frames_rendered = 0
        self.last_paint_ms = 0.0
        self._serial = 0
        self._shown_serial = 0
        self._mesh_rects: dict[int, QRectF | None] = {}  # serial -> the mesh's box on screen
        self._thread: ViewportRenderThread | None = None
        self._rendered.connect(self._on_rendered)
        self._failed.connect(self._on_failed)
        w = self.widget
        w.orbit_requested.connect(lambda dy, dp: self.orbit(dy, dp))
        w.pan_requested.connect(self._on_pan)
        w.zoom_requested.connect(self._on_zoom)
        w.reset_requested.connect(lambda: self.set_preset(self.view.preset))
        w.resized.connect(self._request)
        w.set_message(EMPTY_HINT)

    # -- data ---------------------------------------------------------------------------
    @property
    def preset(self) -> str:
        return self.view.preset

    @preset.setter
    def preset(self, value: str) -> None:
        self.view.reset(value)

    def set_topology(self, triangles: np.ndarray, num_vertices: int, nmfc_mean: np.ndarray) -> None:
        """A new mesh topology (see the module docstring); the next mesh is framed anew."""
        tri = np.ascontiguousarray(triangles, np.int32)
        old = self._topology[1]
        if not (tri.shape == old.shape and np.array_equal(tri, old)):
            self._edges = mesh_edges(tri)  # (the same model again: kept)
        self._topology = (self._topology[0] + 1, tri, int(num_vertices), np.asarray(nmfc_mean, np.float32))
        self._V = None
        self._request()

    def set_mesh(self, vertices: np.ndarray, rotation: np.ndarray | None = None,
                 image: np.ndarray | None = None, image_points: np.ndarray | None = None,
                 flow: np.ndarray | None = None, flow_colours: np.ndarray | None = None,
                 landmarks: np.ndarray | None = None) -> None:
        """This frame's mesh and what goes with it (see the module docstring)."""
        first = self._V is None
        self._V = np.asarray(vertices, np.float32)
        self._R = None if rotation is None else np.asarray(rotation, np.float64)
        if image is not None:
            self._image = image
        self._img_pts = None if image_points is None else np.asarray(image_points, np.float32)
        self._flow = None if flow is None else np.asarray(flow, np.float32)
        self._flow_colours = flow_colours
        self._landmarks = None if landmarks is None else np.asarray(landmarks, np.int32)
        if first:
            self.view.frame_mesh(self._V)
            self.widget.set_message("" if self.gl_error is None else self.gl_error, self.gl_error is not None)
        self._request()

    def clear_mesh(self) -> None:
        self._V = None
        if self.gl_error is None:
            self.widget.set_message(EMPTY_HINT)
        self._request()

    @property
    def has_mesh(self) -> bool:
        return self._V is not None

    # -- view state ---------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown viewport mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self._request()

    def set_overlays(self, wireframe: bool | None = None, landmarks: bool | None = None) -> None:
        if wireframe is not None:
            self.show_wireframe = bool(wireframe)
        if landmarks is not None:
            self.show_landmarks = bool(landmarks)
        self._request()

    def set_projection(self, projection: str) -> None:
        if projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {projection!r}; expected one of {PROJECTIONS}")
        self.view.projection = projection
        self._request()

    def set_preset(self, preset: str) -> None:
        self.view.reset(preset)
        self.preset_changed.emit(preset)
        self._request()

    def view_rotation(self) -> np.ndarray:
        """(3, 3) current model -> view rotation (preset, then the user's orbit)."""
        return self.view.rotation(self._R)

    def orbit(self, yaw_deg: float, pitch_deg: float) -> None:
        """Orbit by angles in degrees (a mouse drag, or a script)."""
        self.view.orbit(math.radians(yaw_deg), math.radians(pitch_deg))
        self._moved()

    def _on_pan(self, dx: float, dy: float) -> None:
        self.view.pan = self.view.pan + np.array([dx, dy])
        self._moved()

    def _on_zoom(self, factor: float) -> None:
        self.view.zoom_by(factor)
        self._moved()

    def _moved(self) -> None:
        self._request()
        self.view_moved.emit()

    # -- rendering ------------------------------------------------------------------------
    def _request(self) -> None:
        """Ask the render thread for a frame of the current state (the newest request wins)."""
        if self.gl_error is not None or not self.widget.isVisible():
            return  # (shown again: the widget's resized() asks)
        w, h, ratio = self.widget.pixel_size()
        scene = ViewportScene(size=(w, h), mode=self.mode, vertices=self._V, camera=self.view.camera(w, h, self._R),
                              light=self.view.light_direction(self._R), extent=self.view.extent,
                              edges=self._edges, show_wireframe=self.show_wireframe,
                              show_landmarks=self.show_landmarks, image=self._image, image_points=self._img_pts,
                              flow=self._flow, flow_colours=self._flow_colours, landmarks=self._landmarks,
                              point_scale=ratio)
        if self._thread is None:
            self._thread = ViewportRenderThread(self._rendered.emit, self._failed.emit)
        self._serial += 1
        self._mesh_rects[self._serial] = _screen_box(scene, ratio)
        self._thread.post(self._topology, scene, self._serial)

    @property
    def up_to_date(self) -> bool:
        """True when the frame on screen shows the latest state (nothing left to render)."""
        return self._shown_serial == self._serial or self.gl_error is not None

    def _on_rendered(self, image: np.ndarray, serial: int, ms: float) -> None:
        self._shown_serial = max(self._shown_serial, serial)
        # the legend keeps clear of the mesh in the frame being shown (newer requests wait)
        rect = self._mesh_rects.get(serial)
        self._mesh_rects = {k: v for k, v in self._mesh_rects.items() if k > serial}
        self.widget.set_mesh_rect(rect)
        self.widget.set_image(np.ascontiguousarray(image))
        self.frames_rendered += 1
        self.last_paint_ms = ms

    def _on_failed(self, message: str) -> None:
        first = self.gl_error is None
        self.gl_error = message
        self.widget.set_message(message, error=True)
        if first:
            self.gl_failed.emit(message)

    def grab_image(self) -> QImage:
        """The last rendered frame (a null QImage before the first)."""
        return self.widget.image()

    def shutdown(self) -> None:
        """Stop the render thread (it releases its GL context). Safe to call twice."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None


def _screen_box(scene: ViewportScene, ratio: float) -> QRectF | None:
    """The mesh's bounding box on screen in widget (logical) pixels, or None with no mesh."""
    if scene.vertices is None or len(scene.vertices) == 0:
        return None
    w, h = scene.size
    xy = scene.camera.project(scene.vertices, w, h)[:, :2] / ratio
    lo, hi = xy.min(0), xy.max(0)
    return QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
