"""Viewport3D: the fitted face mesh in an interactive OpenGL view (moderngl in Qt's own context).

GL rules (docs stack-notes pitfall 3): the moderngl context is made in
``initializeGL`` from the widget's own Qt context (never an EGL context on the GUI
thread), every ``paintGL`` binds ``defaultFramebufferObject()`` and re-enables the
depth test.

Data in (plain arrays, no face logic here):
    set_topology(triangles (T, 3) int, num_vertices, reference_colours (N, 3) float in [0, 1])
    set_mesh(vertices (N, 3) model space cm (y up, face looking down +z),
             rotation (3, 3) the fitted model->camera rotation (for the "camera" preset),
             image (H, W, 3) uint8 RGB or None, image_points (N, 2) pixels of each vertex in it,
             normals (N, 3), flow (N, 3) per-vertex displacement (cm, model space) or None
             and flow_colours (N, 3) uint8 its colour coding,
             landmarks (L,) vertex indices or None)

View space follows the project's camera convention (x right, y down, z away from
the viewer); orthographic projection. Mouse: left-drag orbits, right/middle-drag
(or Shift+left) pans, wheel zooms, double-click returns to the preset.
"""
from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtOpenGLWidgets import QOpenGLWidget

MODES = ("shaded", "textured", "nmfc", "wireframe", "flow", "flow_arrows")
MODE_LABELS = {"shaded": "Shaded", "textured": "Textured (frame)", "nmfc": "NMFC", "wireframe": "Wireframe",
               "flow": "3D flow (colour)", "flow_arrows": "3D flow (arrows)"}
PRESETS = ("camera", "front", "side", "top")

_FRONTAL = np.diag([1.0, -1.0, -1.0])


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def preset_rotation(preset: str, fitted_rotation: np.ndarray | None) -> np.ndarray:
    """Model -> view rotation of a camera preset (view: x right, y down, z away)."""
    if preset == "camera" and fitted_rotation is not None:
        return np.asarray(fitted_rotation, np.float64)
    if preset == "side":   # the face's left profile: looking along model -x
        return _FRONTAL @ _rot_y(math.radians(-90))
    if preset == "top":    # from above, face towards the bottom of the view
        return _FRONTAL @ _rot_x(math.radians(75))
    return _FRONTAL.copy()


_VERT = """
#version 330
uniform mat4 mvp;
uniform mat3 normal_rot;
uniform float z_bias;
in vec3 in_pos; in vec3 in_normal; in vec3 in_colour; in vec2 in_uv;
out vec3 v_normal; out vec3 v_colour; out vec2 v_uv;
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    gl_Position.z -= z_bias * gl_Position.w;
    v_normal = normal_rot * in_normal;
    v_colour = in_colour; v_uv = in_uv;
}
"""
_FRAG = """
#version 330
uniform int shading;      // 0 lit grey, 1 lit texture, 2 vertex colour, 3 flat colour
uniform vec3 flat_colour;
uniform sampler2D tex;
in vec3 v_normal; in vec3 v_colour; in vec2 v_uv;
out vec4 f_colour;
void main() {
    vec3 n = normalize(v_normal);
    vec3 l = normalize(vec3(-0.35, -0.45, -1.0));   // towards the viewer, from the upper left
    float d = abs(dot(n, l));                         // two-sided: inner parts stay visible
    float lit = 0.22 + 0.78 * d;
    if (shading == 0) f_colour = vec4(vec3(0.78, 0.74, 0.70) * lit, 1.0);
    else if (shading == 1) f_colour = vec4(texture(tex, v_uv).rgb, 1.0);
    else if (shading == 2) f_colour = vec4(v_colour, 1.0);
    else f_colour = vec4(flat_colour, 1.0);
}
"""


class Viewport3D(QOpenGLWidget):
    """Signals: ``preset_changed(str)``, ``gl_failed(str)`` (context could not be made)."""

    preset_changed = Signal(str)
    gl_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.ctx = None
        self.gl_error: str | None = None
        self.mode = "shaded"
        self.show_wireframe = False
        self.show_landmarks = True
        self.preset = "camera"
        self._yaw = 0.0
        self._pitch = 0.0
        self._zoom = 1.0
        self._pan = np.zeros(2)
        self._drag: tuple[str, QPointF] | None = None
        self._tri = np.zeros((0, 3), np.int32)
        self._edges = np.zeros((0, 2), np.int32)
        self._ref = np.zeros((0, 3), np.float32)
        self._V = None
        self._R = None
        self._image = None
        self._img_pts = None
        self._flow = None
        self._landmarks = None
        self._normals = None
        self._flow_colours = None
        self._dirty_topology = True
        self._dirty_mesh = True
        self._dirty_texture = False
        self._extent = 10.0
        self._centre = np.zeros(3)
        self.paint_count = 0
        self.last_paint_ms = 0.0
        # GL objects
        self._prog = self._vbo = self._vao_tri = self._vao_edges = self._vao_pts = None
        self._arrow_vbo = self._arrow_vao = None
        self._tex = None
        self._ibo_pts = None
        self._ibo_pts_n = 0
        self._vao_lm = None

    # -- data ---------------------------------------------------------------------------
    def set_topology(self, triangles: np.ndarray, num_vertices: int, reference_colours: np.ndarray) -> None:
        self._tri = np.ascontiguousarray(triangles, np.int32)
        e = np.concatenate([self._tri[:, [0, 1]], self._tri[:, [1, 2]], self._tri[:, [2, 0]]])
        e.sort(axis=1)
        self._edges = np.unique(e, axis=0).astype(np.int32)
        self._ref = np.asarray(reference_colours, np.float32).reshape(num_vertices, 3)
        self._V = None
        self._dirty_topology = True
        self.update()

    def set_mesh(self, vertices: np.ndarray, normals: np.ndarray, rotation: np.ndarray | None = None,
                 image: np.ndarray | None = None, image_points: np.ndarray | None = None,
                 flow: np.ndarray | None = None, flow_colours: np.ndarray | None = None,
                 landmarks: np.ndarray | None = None) -> None:
        """See the module docstring; ``normals`` (N, 3) unit vertex normals, ``flow_colours``
        (N, 3) uint8 the colour coding of ``flow``."""
        first = self._V is None
        self._V = np.asarray(vertices, np.float32)
        self._normals = np.asarray(normals, np.float32)
        self._flow_colours = None if flow_colours is None else np.asarray(flow_colours, np.float32) / 255.0
        self._R = None if rotation is None else np.asarray(rotation, np.float64)
        if image is not None and image is not self._image:
            self._image = image
            self._dirty_texture = True
        self._img_pts = None if image_points is None else np.asarray(image_points, np.float32)
        self._flow = None if flow is None else np.asarray(flow, np.float32)
        self._landmarks = None if landmarks is None else np.asarray(landmarks, np.int32)
        if first:
            lo, hi = self._V.min(0), self._V.max(0)
            self._centre = (lo + hi) / 2.0
            self._extent = float(max(np.max(hi - lo) * 0.62, 1e-3))
        self._dirty_mesh = True
        self.update()

    def clear_mesh(self) -> None:
        self._V = None
        self.update()

    @property
    def has_mesh(self) -> bool:
        return self._V is not None

    # -- view state ---------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown viewport mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self._dirty_mesh = True
        self.update()

    def set_overlays(self, wireframe: bool | None = None, landmarks: bool | None = None) -> None:
        if wireframe is not None:
            self.show_wireframe = bool(wireframe)
        if landmarks is not None:
            self.show_landmarks = bool(landmarks)
        self.update()

    def set_preset(self, preset: str) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown camera preset {preset!r}; expected one of {PRESETS}")
        self.preset = preset
        self._yaw = self._pitch = 0.0
        self._zoom = 1.0
        self._pan[:] = 0.0
        self.preset_changed.emit(preset)
        self.update()

    def view_rotation(self) -> np.ndarray:
        """Current model -> view rotation (preset, then the user's orbit)."""
        base = preset_rotation(self.preset, self._R)
        return _rot_x(self._pitch) @ _rot_y(self._yaw) @ base

    def mvp(self) -> np.ndarray:
        """4x4 model -> clip matrix (row-major)."""
        R = self.view_rotation()
        w, h = max(1, self.width()), max(1, self.height())
        aspect = w / h
        half_h = self._extent / self._zoom
        half_w = half_h * aspect
        if aspect < 1.0:  # portrait widget: keep the whole face across
            half_w = self._extent / self._zoom
            half_h = half_w / aspect
        S = np.diag([1.0 / half_w, -1.0 / half_h, 1.0 / (2.5 * self._extent), 1.0])
        M = np.eye(4)
        M[:3, :3] = R
        M[:3, 3] = -R @ self._centre
        P = S @ M
        P[0, 3] += self._pan[0]
        P[1, 3] += self._pan[1]
        return P

    # -- GL -----------------------------------------------------------------------------
    def initializeGL(self) -> None:  # noqa: N802 (Qt API)
        import moderngl

        try:
            self.ctx = moderngl.create_context()
            self._prog = self.ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG)
        except Exception as e:  # noqa: BLE001 (no GL: the rest of the app still works)
            self.ctx = None
            self.gl_error = f"3D viewport unavailable: {type(e).__name__}: {e}"
            self.gl_failed.emit(self.gl_error)
            return
        self._dirty_topology = True

    def _build_buffers(self) -> None:
        ctx = self.ctx
        for obj in (self._vbo, self._vao_tri, self._vao_edges, self._vao_pts, self._arrow_vbo, self._arrow_vao):
            if obj is not None:
                obj.release()
        n = self._ref.shape[0]
        self._vbo = ctx.buffer(reserve=max(1, n) * 11 * 4, dynamic=True)
        fmt = (self._vbo, "3f 3f 3f 2f", "in_pos", "in_normal", "in_colour", "in_uv")
        self._ibo_tri = ctx.buffer(self._tri.tobytes() or b"\0" * 12)
        self._ibo_edges = ctx.buffer(self._edges.tobytes() or b"\0" * 8)
        self._vao_tri = ctx.vertex_array(self._prog, [fmt], index_buffer=self._ibo_tri, index_element_size=4)
        self._vao_edges = ctx.vertex_array(self._prog, [fmt], index_buffer=self._ibo_edges, index_element_size=4)
        self._vao_pts = ctx.vertex_array(self._prog, [fmt])
        self._arrow_vbo = ctx.buffer(reserve=max(1, 2 * n) * 11 * 4, dynamic=True)
        self._arrow_vao = ctx.vertex_array(self._prog, [(self._arrow_vbo, "3f 3f 3f 2f", "in_pos", "in_normal",
                                                         "in_colour", "in_uv")])
        self._ibo_pts = None
        self._ibo_pts_n = 0
        self._dirty_topology = False
        self._dirty_mesh = True

    def _vertex_colours(self) -> np.ndarray:
        n = self._V.shape[0]
        if self.mode == "nmfc":
            return self._ref
        if self.mode in ("flow", "flow_arrows"):
            if self._flow_colours is None:
                return np.full((n, 3), 0.35, np.float32)
            return self._flow_colours
        return np.zeros((n, 3), np.float32)

    def _upload_mesh(self) -> None:
        V = self._V
        n = V.shape[0]
        normals = self._normals
        uv = np.zeros((n, 2), np.float32)
        if self._img_pts is not None and self._image is not None:
            h, w = self._image.shape[:2]
            uv = (self._img_pts + 0.5) / np.array([w, h], np.float32)
        data = np.concatenate([V, normals, self._vertex_colours(), uv], axis=1).astype(np.float32)
        self._vbo.write(np.ascontiguousarray(data).tobytes())
        if self.mode == "flow_arrows" and self._flow is not None:
            mag = np.linalg.norm(self._flow, axis=1)
            vmax = float(max(np.percentile(mag, 99), 1e-6))
            tip = V + self._flow * (0.08 * self._extent / vmax)  # longest arrow ~8% of the face
            seg = np.empty((2 * n, 11), np.float32)
            seg[0::2] = data
            seg[1::2] = data
            seg[1::2, :3] = tip
            self._arrow_vbo.write(seg.tobytes())
        self._dirty_mesh = False

    def _upload_texture(self) -> None:
        img = np.ascontiguousarray(self._image, np.uint8)
        h, w = img.shape[:2]
        if self._tex is None or self._tex.size != (w, h):
            if self._tex is not None:
                self._tex.release()
            self._tex = self.ctx.texture((w, h), 3, alignment=1)
            self._tex.filter = (self.ctx.LINEAR, self.ctx.LINEAR)
            self._tex.repeat_x = self._tex.repeat_y = False
        self._tex.write(img.tobytes())
        self._dirty_texture = False

    def paintGL(self) -> None:  # noqa: N802 (Qt API)
        if self.ctx is None:
            return
        t0 = time.perf_counter()
        import moderngl

        ctx = self.ctx
        fbo = ctx.detect_framebuffer(self.defaultFramebufferObject())
        fbo.use()
        ratio = self.devicePixelRatioF()
        ctx.viewport = (0, 0, int(self.width() * ratio), int(self.height() * ratio))
        ctx.clear(0.15, 0.155, 0.17, 1.0, depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST)  # Qt resets GL state between paints
        ctx.disable(moderngl.CULL_FACE)
        if self._V is None or self._tri.size == 0:
            return
        if self._dirty_topology or self._vbo is None:
            self._build_buffers()
        if self._dirty_mesh:
            self._upload_mesh()
        if self._dirty_texture and self._image is not None:
            self._upload_texture()
        prog = self._prog
        prog["mvp"].write(self.mvp().T.astype("f4").tobytes())  # GLSL is column-major
        prog["normal_rot"].write(self.view_rotation().T.astype("f4").tobytes())
        prog["z_bias"].value = 0.0
        mode = self.mode
        if mode != "wireframe":
            shading = {"shaded": 0, "textured": 1, "nmfc": 2, "flow": 2, "flow_arrows": 0}[mode]
            if mode == "textured":
                if self._tex is None or self._img_pts is None:
                    shading = 0
                else:
                    self._tex.use(0)
                    prog["tex"].value = 0
            prog["shading"].value = shading
            self._vao_tri.render(moderngl.TRIANGLES)
        if mode == "wireframe" or self.show_wireframe:
            prog["shading"].value = 3
            prog["flat_colour"].value = (0.45, 0.85, 1.0) if mode == "wireframe" else (0.1, 0.1, 0.12)
            prog["z_bias"].value = 0.002
            self._vao_edges.render(moderngl.LINES)
        if mode == "flow_arrows" and self._flow is not None:
            prog["shading"].value = 2
            prog["z_bias"].value = 0.004
            self._arrow_vao.render(moderngl.LINES)
        if self.show_landmarks and self._landmarks is not None and len(self._landmarks):
            if self._ibo_pts is None or self._ibo_pts_n != len(self._landmarks):
                self._ibo_pts = ctx.buffer(self._landmarks.astype(np.int32).tobytes())
                self._ibo_pts_n = len(self._landmarks)
                self._vao_lm = ctx.vertex_array(prog, [(self._vbo, "3f 3f 3f 2f", "in_pos", "in_normal",
                                                        "in_colour", "in_uv")],
                                                index_buffer=self._ibo_pts, index_element_size=4)
            ctx.point_size = 5.0 * ratio
            prog["shading"].value = 3
            prog["flat_colour"].value = (0.25, 0.95, 0.35)
            prog["z_bias"].value = 0.01
            self._vao_lm.render(moderngl.POINTS)
        self.paint_count += 1
        self.last_paint_ms = (time.perf_counter() - t0) * 1000.0

    # -- mouse --------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        b = event.button()
        pan = b in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton) or (
            b == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._drag = ("pan" if pan else "orbit", event.position())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._drag is None:
            return
        kind, last = self._drag
        p = event.position()
        dx, dy = p.x() - last.x(), p.y() - last.y()
        self._drag = (kind, p)
        if kind == "orbit":
            self._yaw -= math.radians(dx * 0.5)
            self._pitch = max(-math.pi / 2, min(math.pi / 2, self._pitch + math.radians(dy * 0.5)))
        else:
            self._pan += np.array([2.0 * dx / max(1, self.width()), -2.0 * dy / max(1, self.height())])
        self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._drag = None

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        self._zoom = float(min(20.0, max(0.1, self._zoom * 1.15 ** steps)))
        self.update()
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.set_preset(self.preset)

    def orbit(self, yaw_deg: float, pitch_deg: float) -> None:
        """Orbit by angles (degrees), as a mouse drag would (for tests and scripts)."""
        self._yaw += math.radians(yaw_deg)
        self._pitch += math.radians(pitch_deg)
        self.update()
