"""Viewport3D: the fitted face mesh in an interactive 3D view, rendered off the GUI thread.

Rendering happens on the widget's own render thread, in a moderngl standalone EGL
context (docs stack-notes pitfalls 1 and 15: EGL only ever on that thread, never on the
GUI thread); each frame is read back and painted as an image. The window then holds no
QOpenGLWidget: with one, Qt composites the whole window through OpenGL on every repaint
(11-17 ms each with software GL, even for a status-bar message, and several hundred ms
when the machine is loaded), which stalled the event loop during long jobs and slowed
every slider move. Requests are coalesced: the thread renders only the newest state.

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

import logging
import math
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

from core.jobs import NewestSlot

log = logging.getLogger(__name__)

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


class _Scene:
    """What one frame shows: a snapshot of the widget's state, handed to the render thread.

    Arrays are shared, not copied (the widget replaces them, never writes into them);
    the versions tell the thread which GL buffers must be rebuilt or re-uploaded.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Renderer:
    """The GL side: buffers, program and an offscreen framebuffer. Lives on the render thread."""

    def __init__(self):
        import moderngl

        self.ctx = moderngl.create_context(standalone=True, backend="egl")
        self.prog = self.ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG)
        self.fbo = None
        self.size = (0, 0)
        self.topology_version = self.mesh_version = self.texture_version = -1
        self.vbo = self.vao_tri = self.vao_edges = self.arrow_vbo = self.arrow_vao = None
        self.vao_lm = None
        self.lm_key = None
        self.tex = None

    def release(self) -> None:
        self.ctx.release()

    def _build_buffers(self, sc: _Scene) -> None:
        ctx = self.ctx
        for obj in (self.vbo, self.vao_tri, self.vao_edges, self.arrow_vbo, self.arrow_vao, self.vao_lm):
            if obj is not None:
                obj.release()
        n = sc.ref.shape[0]
        self.vbo = ctx.buffer(reserve=max(1, n) * 11 * 4, dynamic=True)
        fmt = (self.vbo, "3f 3f 3f 2f", "in_pos", "in_normal", "in_colour", "in_uv")
        ibo_tri = ctx.buffer(sc.tri.tobytes() or b"\0" * 12)
        ibo_edges = ctx.buffer(sc.edges.tobytes() or b"\0" * 8)
        self.vao_tri = ctx.vertex_array(self.prog, [fmt], index_buffer=ibo_tri, index_element_size=4)
        self.vao_edges = ctx.vertex_array(self.prog, [fmt], index_buffer=ibo_edges, index_element_size=4)
        self.arrow_vbo = ctx.buffer(reserve=max(1, 2 * n) * 11 * 4, dynamic=True)
        self.arrow_vao = ctx.vertex_array(self.prog, [(self.arrow_vbo, "3f 3f 3f 2f", "in_pos", "in_normal",
                                                       "in_colour", "in_uv")])
        self.vao_lm = None
        self.lm_key = None
        self.topology_version = sc.topology_version
        self.mesh_version = -1

    def _upload_mesh(self, sc: _Scene) -> None:
        V = sc.V
        n = V.shape[0]
        uv = np.zeros((n, 2), np.float32)
        if sc.img_pts is not None and sc.image is not None:
            h, w = sc.image.shape[:2]
            uv = (sc.img_pts + 0.5) / np.array([w, h], np.float32)
        data = np.concatenate([V, sc.normals, sc.colours, uv], axis=1).astype(np.float32)
        self.vbo.write(np.ascontiguousarray(data).tobytes())
        if sc.mode == "flow_arrows" and sc.flow is not None:
            mag = np.linalg.norm(sc.flow, axis=1)
            vmax = float(max(np.percentile(mag, 99), 1e-6))
            tip = V + sc.flow * (0.08 * sc.extent / vmax)  # longest arrow ~8% of the face
            seg = np.empty((2 * n, 11), np.float32)
            seg[0::2] = data
            seg[1::2] = data
            seg[1::2, :3] = tip
            self.arrow_vbo.write(seg.tobytes())
        self.mesh_version = sc.mesh_version

    def _upload_texture(self, sc: _Scene) -> None:
        img = np.ascontiguousarray(sc.image, np.uint8)
        h, w = img.shape[:2]
        if self.tex is None or self.tex.size != (w, h):
            if self.tex is not None:
                self.tex.release()
            self.tex = self.ctx.texture((w, h), 3, alignment=1)
            self.tex.filter = (self.ctx.LINEAR, self.ctx.LINEAR)
            self.tex.repeat_x = self.tex.repeat_y = False
        self.tex.write(img.tobytes())
        self.texture_version = sc.texture_version

    def render(self, sc: _Scene) -> np.ndarray:
        """The frame of ``sc`` as (h, w, 3) uint8 RGB, top row first."""
        import moderngl

        ctx = self.ctx
        w, h = sc.size
        if self.fbo is None or self.size != (w, h):
            if self.fbo is not None:
                self.fbo.release()
            self.fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 3)],
                                       depth_attachment=ctx.depth_renderbuffer((w, h)))
            self.size = (w, h)
        self.fbo.use()
        ctx.viewport = (0, 0, w, h)
        ctx.clear(0.15, 0.155, 0.17, 1.0, depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        if sc.V is not None and sc.tri.size:
            if self.topology_version != sc.topology_version or self.vbo is None:
                self._build_buffers(sc)
            if self.mesh_version != sc.mesh_version:
                self._upload_mesh(sc)
            if sc.image is not None and self.texture_version != sc.texture_version:
                self._upload_texture(sc)
            self._draw(sc)
        # GL's rows run bottom-up
        return np.frombuffer(self.fbo.read(components=3, alignment=1), np.uint8).reshape(h, w, 3)[::-1]

    def _draw(self, sc: _Scene) -> None:
        import moderngl

        prog, ctx = self.prog, self.ctx
        prog["mvp"].write(sc.mvp.T.astype("f4").tobytes())  # GLSL is column-major
        prog["normal_rot"].write(sc.view_rotation.T.astype("f4").tobytes())
        prog["z_bias"].value = 0.0
        mode = sc.mode
        if mode != "wireframe":
            shading = {"shaded": 0, "textured": 1, "nmfc": 2, "flow": 2, "flow_arrows": 0}[mode]
            if mode == "textured":
                if self.tex is None or sc.img_pts is None:
                    shading = 0
                else:
                    self.tex.use(0)
                    prog["tex"].value = 0
            prog["shading"].value = shading
            self.vao_tri.render(moderngl.TRIANGLES)
        if mode == "wireframe" or sc.show_wireframe:
            prog["shading"].value = 3
            prog["flat_colour"].value = (0.45, 0.85, 1.0) if mode == "wireframe" else (0.1, 0.1, 0.12)
            prog["z_bias"].value = 0.002
            self.vao_edges.render(moderngl.LINES)
        if mode == "flow_arrows" and sc.flow is not None:
            prog["shading"].value = 2
            prog["z_bias"].value = 0.004
            self.arrow_vao.render(moderngl.LINES)
        if sc.show_landmarks and sc.landmarks is not None and len(sc.landmarks):
            key = (sc.topology_version, sc.landmarks.tobytes())
            if self.vao_lm is None or self.lm_key != key:
                ibo = ctx.buffer(sc.landmarks.astype(np.int32).tobytes())
                self.vao_lm = ctx.vertex_array(prog, [(self.vbo, "3f 3f 3f 2f", "in_pos", "in_normal",
                                                       "in_colour", "in_uv")],
                                               index_buffer=ibo, index_element_size=4)
                self.lm_key = key
            ctx.point_size = 5.0 * sc.ratio
            prog["shading"].value = 3
            prog["flat_colour"].value = (0.25, 0.95, 0.35)
            prog["z_bias"].value = 0.01
            self.vao_lm.render(moderngl.POINTS)


class _RenderThread(threading.Thread):
    """Renders the newest posted scene; results go back through ``bridge.rendered``.

    A plain daemon thread: it owns the EGL context for its whole life (contexts are
    bound to the thread that made them), and a thread left running at exit cannot
    abort the interpreter the way a QThread can.
    """

    def __init__(self, bridge: "_Bridge"):
        super().__init__(name="Viewport3DRender", daemon=True)
        self.bridge = bridge
        self._slot = NewestSlot()

    def post(self, scene: _Scene, serial: int) -> None:
        self._slot.post((scene, serial))

    def stop(self, timeout_s: float = 3.0) -> None:
        self._slot.close()
        if self.is_alive():
            self.join(timeout_s)

    def run(self) -> None:
        try:
            renderer = _Renderer()
        except Exception as e:  # noqa: BLE001 (no GL: the rest of the app still works)
            self.bridge.failed.emit(f"3D viewport unavailable: {type(e).__name__}: {e}")
            return
        try:
            while (wanted := self._slot.take()) is not None:
                scene, serial = wanted
                self._slot.done()
                t0 = time.perf_counter()
                try:
                    image = renderer.render(scene)
                except Exception as e:  # noqa: BLE001 (a bad frame must not end the viewport)
                    log.exception("3D viewport render failed")
                    self.bridge.failed.emit(f"3D viewport render failed: {type(e).__name__}: {e}")
                    continue
                self.bridge.rendered.emit(image, serial, (time.perf_counter() - t0) * 1000.0)
        finally:
            renderer.release()


class _Bridge(QObject):
    """Carries the render thread's results to the GUI thread (queued signals)."""

    rendered = Signal(object, int, float)
    failed = Signal(str)


class Viewport3D(QWidget):
    """Signals: ``preset_changed(str)``, ``gl_failed(str)`` (no GL context could be made).

    ``frames_rendered`` counts frames put on screen; ``last_paint_ms`` is the render
    thread's time for the last one; :meth:`grab_image` returns it.
    """

    preset_changed = Signal(str)
    gl_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
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
        self._extent = 10.0
        self._centre = np.zeros(3)
        self._topology_version = 0
        self._mesh_version = 0
        self._texture_version = 0
        self.frames_rendered = 0
        self.last_paint_ms = 0.0
        self._frame: QImage | None = None
        self._serial = 0
        self._shown_serial = 0
        self._bridge = _Bridge(self)
        self._bridge.rendered.connect(self._on_rendered)
        self._bridge.failed.connect(self._on_failed)
        self._thread: _RenderThread | None = None

    # -- data ---------------------------------------------------------------------------
    def set_topology(self, triangles: np.ndarray, num_vertices: int, reference_colours: np.ndarray) -> None:
        tri = np.ascontiguousarray(triangles, np.int32)
        if not (tri.shape == self._tri.shape and np.array_equal(tri, self._tri)):
            e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
            e.sort(axis=1)
            self._edges = np.unique(e, axis=0).astype(np.int32)  # (the same model again: kept)
        self._tri = tri
        self._ref = np.asarray(reference_colours, np.float32).reshape(num_vertices, 3)
        self._V = None
        self._topology_version += 1
        self._request()

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
            self._texture_version += 1
        self._img_pts = None if image_points is None else np.asarray(image_points, np.float32)
        self._flow = None if flow is None else np.asarray(flow, np.float32)
        self._landmarks = None if landmarks is None else np.asarray(landmarks, np.int32)
        if first:
            lo, hi = self._V.min(0), self._V.max(0)
            self._centre = (lo + hi) / 2.0
            self._extent = float(max(np.max(hi - lo) * 0.62, 1e-3))
        self._mesh_version += 1
        self._request()

    def clear_mesh(self) -> None:
        self._V = None
        self._request()

    @property
    def has_mesh(self) -> bool:
        return self._V is not None

    # -- view state ---------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown viewport mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self._mesh_version += 1  # the vertex colours depend on the mode
        self._request()

    def set_overlays(self, wireframe: bool | None = None, landmarks: bool | None = None) -> None:
        if wireframe is not None:
            self.show_wireframe = bool(wireframe)
        if landmarks is not None:
            self.show_landmarks = bool(landmarks)
        self._request()

    def set_preset(self, preset: str) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown camera preset {preset!r}; expected one of {PRESETS}")
        self.preset = preset
        self._yaw = self._pitch = 0.0
        self._zoom = 1.0
        self._pan[:] = 0.0
        self.preset_changed.emit(preset)
        self._request()

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

    # -- rendering ------------------------------------------------------------------------
    def _vertex_colours(self) -> np.ndarray:
        n = self._V.shape[0]
        if self.mode == "nmfc":
            return self._ref
        if self.mode in ("flow", "flow_arrows"):
            if self._flow_colours is None:
                return np.full((n, 3), 0.35, np.float32)
            return self._flow_colours
        return np.zeros((n, 3), np.float32)

    def _request(self) -> None:
        """Ask the render thread for a frame of the current state (the newest request wins)."""
        if self.gl_error is not None or not self.isVisible():
            return  # (shown again: showEvent asks)
        ratio = self.devicePixelRatioF()
        size = (max(1, int(self.width() * ratio)), max(1, int(self.height() * ratio)))
        scene = _Scene(size=size, ratio=ratio, mvp=self.mvp(), view_rotation=self.view_rotation(),
                       mode=self.mode, show_wireframe=self.show_wireframe, show_landmarks=self.show_landmarks,
                       tri=self._tri, edges=self._edges, ref=self._ref, V=self._V, normals=self._normals,
                       colours=None if self._V is None else self._vertex_colours(), image=self._image,
                       img_pts=self._img_pts, flow=self._flow, landmarks=self._landmarks, extent=self._extent,
                       topology_version=self._topology_version, mesh_version=self._mesh_version,
                       texture_version=self._texture_version)
        if self._thread is None:
            self._thread = _RenderThread(self._bridge)
            self._thread.start()
        self._serial += 1
        self._thread.post(scene, self._serial)

    @property
    def up_to_date(self) -> bool:
        """True when the frame on screen shows the latest state (nothing left to render)."""
        return self._shown_serial == self._serial or self.gl_error is not None

    def _on_rendered(self, image: np.ndarray, serial: int, ms: float) -> None:
        self._shown_serial = max(self._shown_serial, serial)
        h, w = image.shape[:2]
        self._frame = QImage(np.ascontiguousarray(image).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._frame.setDevicePixelRatio(self.devicePixelRatioF())
        self.frames_rendered += 1
        self.last_paint_ms = ms
        self.update()

    def _on_failed(self, message: str) -> None:
        first = self.gl_error is None
        self.gl_error = message
        self.update()
        if first:
            self.gl_failed.emit(message)

    def grab_image(self) -> QImage:
        """The last rendered frame (a null QImage before the first)."""
        return QImage(self._frame) if self._frame is not None else QImage()

    def shutdown(self) -> None:
        """Stop the render thread (it releases its GL context). Safe to call twice."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        if self._frame is not None:
            p.drawImage(QRectF(0, 0, self.width(), self.height()), self._frame)
        else:
            p.fillRect(self.rect(), QColor(38, 40, 43))
        text = self.gl_error if self.gl_error is not None else (
            "The reconstructed 3D face appears here (Edit > Reconstruct, Ctrl+R)." if self._V is None else "")
        if text:
            p.setPen(QColor(230, 230, 230) if self.gl_error is not None else QColor(150, 150, 155))
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       text)
        p.end()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._request()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._request()

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
        self._request()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._drag = None

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        self._zoom = float(min(20.0, max(0.1, self._zoom * 1.15 ** steps)))
        self._request()
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.set_preset(self.preset)

    def orbit(self, yaw_deg: float, pitch_deg: float) -> None:
        """Orbit by angles (degrees), as a mouse drag would (for tests and scripts)."""
        self._yaw += math.radians(yaw_deg)
        self._pitch += math.radians(pitch_deg)
        self._request()
