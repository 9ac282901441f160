"""The 3D viewport's camera and what one viewport frame shows, rendered by the one renderer.

The app's 3D viewport (widgets/viewport3d.py) keeps only interaction and painting: its
camera is an :class:`OrbitView` and each frame is a :class:`ViewportScene` drawn by
:func:`render_viewport` with :class:`~core.render.renderer.OffscreenRenderer` on the
viewport's render thread, so the app and the command line shade with the same code.

Conventions: model space in cm (right-handed, y up, the face looking down +z). A *view
rotation* R maps model to the project's camera convention (x right, y down, z away from
the viewer); the GL eye space of :class:`~core.render.views.ViewCamera` is then
``diag(1, -1, -1) @ R``. Angles in radians.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from core.jobs import NewestSlot
from core.render.renderer import Lighting, OffscreenRenderer, Overlay
from core.render.views import ViewCamera, orthographic, perspective

#: what the viewport can show
MODES = ("shaded", "textured", "nmfc", "wireframe", "flow", "flow_arrows")
#: short names (the viewport's mode box is narrow when docked) and what each one shows
MODE_LABELS = {"shaded": "Shaded", "textured": "Textured", "nmfc": "NMFC", "wireframe": "Wireframe",
               "flow": "Flow colour", "flow_arrows": "Flow arrows"}
MODE_TIPS = {"shaded": "The fitted mesh, lit grey",
             "textured": "The fitted mesh with the video frame projected onto it",
             "nmfc": "Normalised mean face coordinates: each surface point coloured by its place on the mean face",
             "wireframe": "The mesh's edges only",
             "flow": "The 3D facial flow to the next frame, colour-coded by direction and size",
             "flow_arrows": "The 3D facial flow to the next frame as arrows"}
PRESETS = ("camera", "front", "side", "top")
PROJECTIONS = ("orthographic", "perspective")
BACKGROUND = (38, 40, 43)

_FRONTAL = np.diag([1.0, -1.0, -1.0])   # model (y up, looking down +z) -> camera (y down, z away)
_GL_EYE = np.diag([1.0, -1.0, -1.0])    # camera convention -> GL eye space (y up, looking down -z)
#: towards the light in the camera convention: above-left of the viewer (a headlight)
log = logging.getLogger(__name__)
_LIGHT_VIEW = np.array([-0.35, -0.45, -1.0])


def rot_x(a: float) -> np.ndarray:
    """(3, 3) rotation by ``a`` radians about x."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """(3, 3) rotation by ``a`` radians about y."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def preset_rotation(preset: str, fitted_rotation: np.ndarray | None) -> np.ndarray:
    """(3, 3) model -> view rotation of a camera preset (view: x right, y down, z away)."""
    if preset == "camera" and fitted_rotation is not None:
        return np.asarray(fitted_rotation, np.float64)
    if preset == "side":   # the face's left profile: looking along model -x
        return _FRONTAL @ rot_y(math.radians(-90))
    if preset == "top":    # from above, face towards the bottom of the view
        return _FRONTAL @ rot_x(math.radians(75))
    return _FRONTAL.copy()


@dataclass
class OrbitView:
    """A preset camera plus the user's orbit, pan and zoom around a mesh.

    preset : one of PRESETS ("camera": the fitted camera of the frame)
    yaw, pitch : orbit angles applied after the preset (radians)
    zoom : > 1 magnifies
    pan : (2,) shift in normalised device units (x right, y up)
    projection : "orthographic" (what the fit assumes) or "perspective"
    centre : (3,) the model-space point the view turns around; extent : half size shown (cm)
    """

    preset: str = "camera"
    yaw: float = 0.0
    pitch: float = 0.0
    zoom: float = 1.0
    pan: np.ndarray = field(default_factory=lambda: np.zeros(2))
    projection: str = "orthographic"
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    extent: float = 10.0

    def reset(self, preset: str | None = None) -> None:
        """Back to a preset (the current one by default) with no orbit, pan or zoom."""
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"unknown camera preset {preset!r}; expected one of {PRESETS}")
            self.preset = preset
        self.yaw = self.pitch = 0.0
        self.zoom = 1.0
        self.pan = np.zeros(2)

    @property
    def moved(self) -> bool:
        """True when the user orbited, panned or zoomed away from the preset."""
        return bool(self.yaw or self.pitch or self.zoom != 1.0 or np.any(self.pan))

    def frame_mesh(self, vertices: np.ndarray) -> None:
        """Centre on a mesh's bounding box ((N, 3) model space) and show all of it."""
        v = np.asarray(vertices, np.float64)
        lo, hi = v.min(0), v.max(0)
        self.centre = (lo + hi) / 2.0
        self.extent = float(max(np.max(hi - lo) * 0.62, 1e-3))

    def orbit(self, d_yaw: float, d_pitch: float) -> None:
        """Turn by angles (radians); the pitch stops at straight above or below."""
        self.yaw += d_yaw
        self.pitch = float(np.clip(self.pitch + d_pitch, -math.pi / 2, math.pi / 2))

    def zoom_by(self, factor: float) -> None:
        """Magnify by ``factor`` (kept within 0.1x to 20x)."""
        self.zoom = float(np.clip(self.zoom * factor, 0.1, 20.0))

    def rotation(self, fitted_rotation: np.ndarray | None = None) -> np.ndarray:
        """(3, 3) model -> view rotation: the preset, then the user's orbit."""
        return rot_x(self.pitch) @ rot_y(self.yaw) @ preset_rotation(self.preset, fitted_rotation)

    def camera(self, width: int, height: int, fitted_rotation: np.ndarray | None = None) -> ViewCamera:
        """The GL view and projection for a ``width`` x ``height`` image."""
        R = _GL_EYE @ self.rotation(fitted_rotation)
        aspect = max(1, width) / max(1, height)
        half_h = self.extent / self.zoom
        half_w = half_h * aspect
        if aspect < 1.0:  # a portrait view keeps the whole face across
            half_w = self.extent / self.zoom
            half_h = half_w / aspect
        view = np.eye(4)
        view[:3, :3] = R
        view[:3, 3] = -R @ self.centre
        e = self.extent
        if self.projection == "perspective":
            # the camera 4 face sizes away, its field of view showing what orthographic shows
            # at the face's centre (zoom narrows the field, like a zoom lens)
            dist = 4.0 * e
            view[2, 3] -= dist
            proj = perspective(2.0 * math.atan(half_h / dist), half_w / half_h, dist - 3.0 * e, dist + 3.0 * e)
        else:
            proj = orthographic(half_w, half_h, -3.0 * e, 3.0 * e)
        shift = np.eye(4)
        shift[0, 3], shift[1, 3] = self.pan
        return ViewCamera(view=view, projection=shift @ proj)

    def light_direction(self, fitted_rotation: np.ndarray | None = None) -> np.ndarray:
        """(3,) model-space direction towards a light fixed to the viewer (above left)."""
        d = self.rotation(fitted_rotation).T @ _LIGHT_VIEW
        return d / np.linalg.norm(d)


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """(E, 2) int32 unique undirected edges of (T, 3) triangles, each as (low, high)."""
    t = np.asarray(triangles)
    e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0).astype(np.int32)


@dataclass
class ViewportScene:
    """Everything one viewport frame shows.

    size : (W, H) pixels; point_scale : device pixels per logical pixel
    mode : one of MODES
    vertices : (N, 3) model-space mesh (cm) or None (nothing to show)
    camera : the view; light : (3,) model-space direction towards the light
    edges : (E, 2) mesh edges (wireframe)
    image : (H, W, 3) uint8 RGB frame and image_points (N, 2) pixels of each vertex in it
        (mode "textured")
    flow : (N, 3) model-space displacement (cm) and flow_colours (N, 3) uint8 its colour
        coding (modes "flow" and "flow_arrows")
    landmarks : (L,) vertex indices drawn as points
    """

    size: tuple[int, int]
    mode: str
    vertices: np.ndarray | None
    camera: ViewCamera
    light: np.ndarray
    extent: float = 10.0
    edges: np.ndarray | None = None
    show_wireframe: bool = False
    show_landmarks: bool = True
    image: np.ndarray | None = None
    image_points: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_colours: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    point_scale: float = 1.0


def flow_arrow_segments(vertices: np.ndarray, flow: np.ndarray, extent: float) -> np.ndarray:
    """(2N, 3) line segments from each vertex along its flow, the longest ~8% of the face."""
    mag = np.linalg.norm(flow, axis=1)
    vmax = float(max(np.percentile(mag, 99), 1e-6)) if len(mag) else 1.0
    seg = np.empty((2 * len(vertices), 3), np.float32)
    seg[0::2] = vertices
    seg[1::2] = vertices + flow * (0.08 * extent / vmax)
    return seg


def render_viewport(renderer: OffscreenRenderer, scene: ViewportScene) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of ``scene``; the renderer's mesh (``set_mesh``) must be the
    scene's topology. The background is BACKGROUND where nothing is drawn."""
    w, h = scene.size
    V = scene.vertices
    if V is None:
        return np.full((h, w, 3), BACKGROUND, np.uint8)
    mode = scene.mode
    flow_rgb = None if scene.flow_colours is None else np.asarray(scene.flow_colours, np.float32) / 255.0
    overlays = []
    if (mode == "wireframe" or scene.show_wireframe) and scene.edges is not None:
        colour = (0.45, 0.85, 1.0) if mode == "wireframe" else (0.1, 0.1, 0.12)
        overlays.append(Overlay("lines", V[scene.edges.reshape(-1)], colour, depth_bias=0.002))
    if mode == "flow_arrows" and scene.flow is not None:
        cols = np.repeat(flow_rgb, 2, axis=0) if flow_rgb is not None else (1.0, 1.0, 1.0)
        overlays.append(Overlay("lines", flow_arrow_segments(V, scene.flow, scene.extent), cols, depth_bias=0.004))
    if scene.show_landmarks and scene.landmarks is not None and len(scene.landmarks):
        overlays.append(Overlay("points", V[scene.landmarks], (0.25, 0.95, 0.35), depth_bias=0.01,
                                size=5.0 * scene.point_scale))
    kw = dict(view=scene.camera, background=BACKGROUND, overlays=overlays,
              lighting=Lighting(direction=tuple(scene.light)))
    if mode == "textured" and scene.image is not None and scene.image_points is not None:
        out = renderer.render(V, (w, h), "textured", texture=scene.image, source_pixels=scene.image_points, **kw)
    elif mode == "nmfc":
        out = renderer.render(V, (w, h), "nmfc", **kw)
    elif mode == "flow" and flow_rgb is not None:
        out = renderer.render(V, (w, h), "colour", colours=flow_rgb, **kw)
    elif mode == "wireframe":
        # a hidden-line wireframe: the surface in the background colour hides the back edges
        bg = np.broadcast_to(np.asarray(BACKGROUND, np.float32) / 255.0, V.shape)
        out = renderer.render(V, (w, h), "colour", colours=bg, **kw)
    else:
        out = renderer.render(V, (w, h), "shaded", **kw)
    return out.image


class ViewportRenderThread:
    """A thread that owns an OffscreenRenderer and renders the newest posted scene.

    ``post(topology, scene, serial)`` replaces any scene still waiting (only the newest is
    rendered); ``topology`` is ``(version, triangles (T, 3), N, nmfc_mean (N, 3))`` and is
    uploaded when its version changes. Results go to ``on_frame(image, serial, ms)`` and
    failures to ``on_error(message)``, both called on the render thread (a GUI forwards
    them with a queued signal). The EGL context lives and dies on this thread.
    """

    def __init__(self, on_frame, on_error, name: str = "viewport-render"):
        self._on_frame, self._on_error = on_frame, on_error
        self._slot = NewestSlot()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def post(self, topology: tuple, scene: ViewportScene, serial: int) -> None:
        """Render ``scene`` next (replacing any scene not yet started)."""
        self._slot.post((topology, scene, serial))

    def stop(self, timeout_s: float = 3.0) -> None:
        """End the thread (it releases its GL context); waits up to ``timeout_s``."""
        self._slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            renderer = OffscreenRenderer()
        except Exception as e:  # noqa: BLE001 (no GL: the rest of the app still works)
            self._on_error(f"3D viewport unavailable: {type(e).__name__}: {e}")
            return
        version = -1
        try:
            while (wanted := self._slot.take()) is not None:
                topology, scene, serial = wanted
                self._slot.done()
                t0 = time.perf_counter()
                try:
                    if scene.vertices is not None and topology[0] != version:
                        version, tri, n, mean = topology
                        renderer.set_mesh(tri, n, nmfc_mean=mean)
                    image = render_viewport(renderer, scene)
                except Exception as e:  # noqa: BLE001 (a bad frame must not end the viewport)
                    log.exception("3D viewport render failed")
                    self._on_error(f"3D viewport render failed: {type(e).__name__}: {e}")
                    continue
                self._on_frame(image, serial, (time.perf_counter() - t0) * 1000.0)
        finally:
            renderer.release()
