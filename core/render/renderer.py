"""Offscreen mesh renderer: moderngl on EGL, results as numpy arrays.

THREADING: an ``OffscreenRenderer`` owns an EGL context that is current on the
thread that created it. Create it and use it from ONE worker thread, never from
the Qt GUI thread (an EGL context current there breaks every later
QOpenGLWidget, see stack-notes.md pitfall 1). The GUI and anything sharing a
process with Qt widgets should use :class:`core.render.thread.RenderThread`,
which owns a renderer in its own thread and takes requests through a queue.
The constructor refuses the main thread once Qt widgets are loaded.

Inputs
------
* Screen space (default): ``vertices (N, 3)`` = x, y in pixels and depth from
  ``core.camera.project`` (origin top-left, x right, y down, **pixel centres at
  integer coordinates**: pixel (row r, col c) covers x in [c-0.5, c+0.5]; depth grows
  away from the viewer). The projection is orthographic, so barycentrics in the
  image equal barycentrics on the surface.
* View camera (``view=ViewCamera``): ``vertices`` in world space and GL-style
  view/projection matrices (perspective or orthographic), for 3D viewports and
  textured views from other angles. Depth is then the eye-space distance.

One draw call renders into up to three targets (RGBA8 colour; RGBA32F packed
triangle id + 2 barycentrics + depth; RGBA32F interpolated per-vertex attribute), with
a program variant compiled per set of targets so only the requested ones are written
and read back. Flat NMFC with ids is a per-triangle palette lookup of the id buffer
(a second target costs more on llvmpipe than the lookup). Buffers match pixel
centres: barycentrics agree with exact ones at the pixel centre to ~5e-4.
The index buffer and the NMFC reference coordinates are uploaded once per mesh
(``set_mesh``); a frame only re-uploads vertex positions (plus normals, texture
coordinates or attributes when the mode needs them).
"""
from __future__ import annotations

import functools
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from core.render.encodings import to_uint8
from core.render.geometry import VertexNormals, nmfc_reference, nmfc_triangle_colours
from core.render.views import ViewCamera

SHADER_DIR = Path(__file__).resolve().parents[2] / "resources" / "shaders"

#: Colour modes. "none" renders only the buffers (ids, barycentrics, depth, attribute).
MODES = {"shaded": 0, "shaded_flat": 1, "textured": 2, "nmfc": 3, "none": 4}

# Flips NDC y so that framebuffer row 0 is the top image row (see mesh.vert).
_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])


@dataclass
class Lighting:
    """Lambert + Blinn-Phong specular, one directional light.

    direction : (3,) towards the light, in the lighting space: screen space for
    screen-space input (x right, y down, depth away, so the default light is above-left,
    in front of the face), world space with a ``ViewCamera``.
    """

    direction: tuple[float, float, float] = (-0.35, -0.5, -1.0)
    albedo: tuple[float, float, float] = (0.78, 0.74, 0.70)
    ambient: float = 0.22
    specular: float = 0.25
    shininess: float = 24.0


@dataclass
class RenderOutput:
    """What one render returns; outputs not requested are None.

    mask : (H, W) bool   foreground
    image : (H, W, 3) uint8 RGB   shaded / textured / NMFC colour (background colour off the mesh)
    triangle_id : (H, W) int32   visible triangle, -1 on background
    attribute : (H, W, 3) float32   per-vertex attribute interpolated with the barycentrics (0 on background)
    barycentric : (H, W, 3) float32   weights of the visible triangle's corners (0 on background)
    depth : (H, W) float32   input depth units (screen space) or eye distance (ViewCamera); +inf on background

    ``barycentric`` and ``depth`` are unpacked from the id target on first access (it
    holds id, b0, b1, depth per pixel), so callers that only need ids pay nothing for them.
    """

    mask: np.ndarray
    image: np.ndarray | None = None
    triangle_id: np.ndarray | None = None
    attribute: np.ndarray | None = None
    packed_ids: np.ndarray | None = field(default=None, repr=False)   # (H, W, 4) float32

    @functools.cached_property
    def barycentric(self) -> np.ndarray | None:
        if self.packed_ids is None:
            return None
        p = self.packed_ids
        bary = np.zeros(p.shape[:2] + (3,), np.float32)
        bary[..., :2] = p[..., 1:3]
        np.subtract(1.0, p[..., 1] + p[..., 2], out=bary[..., 2], where=self.mask)
        return bary

    @functools.cached_property
    def depth(self) -> np.ndarray | None:
        if self.packed_ids is None:
            return None
        return np.where(self.mask, self.packed_ids[..., 3], np.float32(np.inf))


@dataclass
class _Mesh:
    triangles: np.ndarray
    num_vertices: int
    normals: VertexNormals
    has_nmfc: bool
    buffers: dict
    nmfc_colours: np.ndarray                   # (T, 3) uint8, flat NMFC colour per triangle
    vaos: dict = field(default_factory=dict)   # one vertex array per program variant


def _qt_widgets_loaded() -> bool:
    return any(name in sys.modules for name in ("PySide6.QtWidgets", "PySide6.QtOpenGLWidgets",
                                               "PyQt5.QtWidgets", "PyQt6.QtWidgets"))


class OffscreenRenderer:
    """moderngl/EGL rasteriser. Single-threaded: see the module docstring."""

    def __init__(self, allow_main_thread: bool = False):
        import moderngl

        if (threading.current_thread() is threading.main_thread() and _qt_widgets_loaded()
                and not allow_main_thread):
            raise RuntimeError("OffscreenRenderer: refusing to create an EGL context on the main "
                               "thread of a process that uses Qt widgets (it breaks QOpenGLWidget); "
                               "use core.render.thread.RenderThread")
        self._moderngl = moderngl
        self.ctx = moderngl.create_context(standalone=True, backend="egl")
        self.thread_id = threading.get_ident()
        self._sources = {k: (SHADER_DIR / f"mesh.{k}").read_text() for k in ("vert", "geom", "frag")}
        self._programs: dict[tuple[bool, bool, bool], object] = {}
        self._attachments: dict[tuple[int, int], dict] = {}
        self._framebuffers: dict[tuple, object] = {}
        self._textures: dict[tuple[int, int], object] = {}
        self._mesh: _Mesh | None = None

    @property
    def gl_renderer(self) -> str:
        return self.ctx.info["GL_RENDERER"]

    def _check_thread(self) -> None:
        if threading.get_ident() != self.thread_id:
            raise RuntimeError("OffscreenRenderer used from a thread other than the one that created it")

    # -- mesh ------------------------------------------------------------------
    def set_mesh(self, triangles: np.ndarray, num_vertices: int,
                 nmfc_mean: np.ndarray | None = None) -> None:
        """Upload a topology (static index buffer) and its NMFC reference.

        triangles : (T, 3) int   indices into the (N, 3) vertex arrays given to ``render``
        num_vertices : N
        nmfc_mean : (N, 3) the model's mean face (model space); NMFC colours are its
            coordinates normalised by the bounding box of the vertices ``triangles`` use.
            Required for mode "nmfc".
        """
        self._check_thread()
        tri = np.ascontiguousarray(triangles, dtype=np.int32)
        if tri.ndim != 2 or tri.shape[1] != 3 or tri.min() < 0 or tri.max() >= num_vertices:
            raise ValueError(f"triangles must be (T, 3) indices below {num_vertices}")
        if self._mesh is not None:
            self._release_mesh()
        n = int(num_vertices)
        ctx = self.ctx
        bufs = {
            "pos": ctx.buffer(reserve=n * 12, dynamic=True),
            "ref": ctx.buffer(reserve=n * 12),
            "normal": ctx.buffer(reserve=n * 12, dynamic=True),
            "uv": ctx.buffer(reserve=n * 8, dynamic=True),
            "attr": ctx.buffer(reserve=n * 12, dynamic=True),
            "index": ctx.buffer(tri.tobytes()),
        }
        ref = np.zeros((n, 3), np.float32) if nmfc_mean is None else nmfc_reference(nmfc_mean, tri)
        bufs["ref"].write(ref.tobytes())
        self._mesh = _Mesh(tri, n, VertexNormals(tri, n), nmfc_mean is not None, bufs,
                           to_uint8(nmfc_triangle_colours(ref, tri)))

    def _vao(self, outputs: tuple[bool, bool, bool], geometry: bool = True):
        mesh = self._mesh
        key = outputs + (geometry,)
        vao = mesh.vaos.get(key)
        if vao is None:
            prog = self._program(outputs, geometry)
            bufs = mesh.buffers
            # Attributes a variant does not use are optimised out of its program.
            layout = [(bufs[b], fmt, name) for b, fmt, name in (
                ("pos", "3f", "in_pos"), ("ref", "3f", "in_ref"), ("normal", "3f", "in_normal"),
                ("uv", "2f", "in_uv"), ("attr", "3f", "in_attr")) if name in prog]
            vao = self.ctx.vertex_array(prog, layout, index_buffer=bufs["index"], index_element_size=4)
            mesh.vaos[key] = vao
        return vao

    def _release_mesh(self) -> None:
        for vao in self._mesh.vaos.values():
            vao.release()
        for b in self._mesh.buffers.values():
            b.release()
        self._mesh = None

    # -- programs and targets ------------------------------------------------------
    def _program(self, outputs: tuple[bool, bool, bool], geometry: bool = True):
        """Program writing (colour, ids, attribute) targets, in that order of locations.
        Without ``geometry`` there is no geometry stage (no ids, no flat per-triangle data),
        which llvmpipe runs noticeably faster."""
        key = outputs + (geometry,)
        prog = self._programs.get(key)
        if prog is None:
            if not geometry and outputs[1]:
                raise ValueError("triangle ids need the geometry stage")
            head = ["#version 330 core"] + ([] if geometry else ["#define NO_GEOMETRY"])
            loc = 0
            for want, name in zip(outputs, ("COLOR", "IDS", "ATTR")):
                if want:
                    head += [f"#define WANT_{name}", f"#define LOC_{name} {loc}"]
                    loc += 1
            head = "\n".join(head) + "\n"
            src = self._sources
            prog = self.ctx.program(vertex_shader=head + src["vert"], fragment_shader=head + src["frag"],
                                    geometry_shader=head + src["geom"] if geometry else None)
            if "u_texture" in prog:
                prog["u_texture"].value = 0
            self._programs[key] = prog
        return prog

    def _framebuffer(self, width: int, height: int, outputs: tuple[bool, bool, bool]):
        key = (width, height) + outputs
        fbo = self._framebuffers.get(key)
        if fbo is None:
            att = self._attachments.get((width, height))
            if att is None:
                size = (width, height)
                att = {"color": self.ctx.texture(size, 4, dtype="f1"),
                       "ids": self.ctx.texture(size, 4, dtype="f4"),
                       "attr": self.ctx.texture(size, 4, dtype="f4"),
                       "depth": self.ctx.depth_renderbuffer(size)}
                self._attachments[(width, height)] = att
            colours = [att[k] for want, k in zip(outputs, ("color", "ids", "attr")) if want]
            fbo = self.ctx.framebuffer(colours, att["depth"])
            self._framebuffers[key] = fbo
        return fbo

    def _get_texture(self, image: np.ndarray):
        h, w = image.shape[:2]
        tex = self._textures.get((w, h))
        if tex is None:
            tex = self.ctx.texture((w, h), 3, dtype="f1")
            tex.filter = (self._moderngl.LINEAR, self._moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = False
            self._textures[(w, h)] = tex
        tex.write(np.ascontiguousarray(image, dtype=np.uint8))
        return tex

    # -- rendering ---------------------------------------------------------------------
    def render(self, vertices: np.ndarray, size: tuple[int, int], mode: str = "nmfc", *,
               buffers: bool = False, view: ViewCamera | None = None,
               texture: np.ndarray | None = None, source_pixels: np.ndarray | None = None,
               attribute: np.ndarray | None = None, lighting: Lighting | None = None,
               depth_range: tuple[float, float] | None = None,
               background: tuple[int, int, int] = (0, 0, 0), supersample: int = 1) -> RenderOutput:
        """Rasterise the current mesh.

        vertices : (N, 3) screen space (x_px, y_px, depth), or world space with ``view``
        size : (W, H) output size in pixels
        mode : "shaded" (smooth normals), "shaded_flat", "textured", "nmfc" or "none"
        buffers : also read triangle id, barycentrics and depth
        texture, source_pixels : for "textured": an RGB uint8 (Hs, Ws, 3) image and, per
            vertex, the (N, 2) pixel position to sample it at (x right, y down, pixel
            centres at integers), e.g. the projection of the same vertices in the source
            frame. Sampling is bilinear; texture coordinates are interpolated with the
            surface barycentrics, so each triangle is an exact affine warp (orthographic).
        attribute : (N, 3) float values interpolated into ``RenderOutput.attribute``
        depth_range : (near, far) of the screen-space depth (default: the vertices'
            range, padded); geometry outside is clipped.
        supersample : k > 1 renders the colour image at k times the size and averages it
            down (anti-aliasing for shaded views); not allowed with ``buffers``.
        """
        self._check_thread()
        if self._mesh is None:
            raise RuntimeError("OffscreenRenderer.render: call set_mesh first")
        if mode not in MODES:
            raise ValueError(f"unknown render mode {mode!r}; expected one of {sorted(MODES)}")
        mesh = self._mesh
        v = np.ascontiguousarray(vertices, dtype=np.float32)
        if v.shape != (mesh.num_vertices, 3):
            raise ValueError(f"vertices must be ({mesh.num_vertices}, 3), got {v.shape}")
        width, height = int(size[0]), int(size[1])
        k = int(supersample)
        if k > 1:
            if buffers or attribute is not None:
                raise ValueError("supersample applies to the colour image only")
            if view is None:
                v = v.copy()
                v[:, :2] = (v[:, :2] + 0.5) * k - 0.5
            out = self.render(v, (width * k, height * k), mode, view=view, texture=texture,
                              source_pixels=source_pixels, lighting=lighting,
                              depth_range=depth_range, background=background)
            image = cv2.resize(out.image, (width, height), interpolation=cv2.INTER_AREA)
            mask = cv2.resize(out.mask.astype(np.uint8) * 255, (width, height),
                              interpolation=cv2.INTER_AREA) >= 128
            return RenderOutput(mask=mask, image=image)

        # NMFC is flat per triangle, so with the id buffer at hand it is a palette lookup:
        # cheaper than a second render target on a software rasteriser.
        nmfc_from_ids = mode == "nmfc" and buffers
        outputs = (mode != "none" and not nmfc_from_ids, bool(buffers), attribute is not None)
        if not any(outputs):
            outputs = (False, True, False)   # a mask alone comes from the id target
        geometry = outputs[1] or mode in ("shaded_flat", "nmfc")
        prog = self._program(outputs, geometry)
        vao = self._vao(outputs, geometry)

        def set_uniform(name, value):
            if name in prog:
                prog[name].value = value

        mesh.buffers["pos"].write(v)
        if view is None:
            set_uniform("u_use_view", 0)
            set_uniform("u_size", (float(width), float(height)))
            if depth_range is None:
                lo, hi = float(v[:, 2].min()), float(v[:, 2].max())
                pad = max(1e-3 * (hi - lo), 1e-3 * max(abs(lo), abs(hi)), 1e-4)
                depth_range = (lo - pad, hi + pad)
            set_uniform("u_depth_range", tuple(float(x) for x in depth_range))
            eye = (0.0, 0.0, -1.0, 0.0)  # the viewer looks along +depth
        else:
            set_uniform("u_use_view", 1)
            prog["u_view"].write(np.asarray(view.view, np.float32).T.tobytes())
            prog["u_proj"].write(np.asarray(_FLIP_Y @ view.projection, np.float32).T.tobytes())
            if view.is_perspective():
                eye = tuple(view.eye_position()) + (1.0,)
            else:
                eye = tuple(np.linalg.inv(view.view)[:3, 2]) + (0.0,)
        set_uniform("u_mode", MODES[mode])

        if mode in ("shaded", "shaded_flat"):
            light = lighting or Lighting()
            d = np.asarray(light.direction, np.float64)
            set_uniform("u_light", tuple(d / np.linalg.norm(d)))
            set_uniform("u_eye", eye)
            set_uniform("u_albedo", tuple(float(a) for a in light.albedo))
            set_uniform("u_ambient", float(light.ambient))
            set_uniform("u_specular", float(light.specular))
            set_uniform("u_shininess", float(light.shininess))
            if mode == "shaded":
                mesh.buffers["normal"].write(mesh.normals(v))
        elif mode == "textured":
            if texture is None or source_pixels is None:
                raise ValueError("mode 'textured' needs texture and source_pixels")
            tex = np.asarray(texture)
            if tex.ndim != 3 or tex.shape[2] != 3 or tex.dtype != np.uint8:
                raise ValueError(f"texture must be an RGB uint8 (H, W, 3) image, got {tex.shape} {tex.dtype}")
            src_px = np.asarray(source_pixels, np.float64)
            if src_px.shape != (mesh.num_vertices, 2):
                raise ValueError(f"source_pixels must be ({mesh.num_vertices}, 2), got {src_px.shape}")
            uv = np.empty((mesh.num_vertices, 2), np.float32)
            uv[:, 0] = (src_px[:, 0] + 0.5) / tex.shape[1]
            uv[:, 1] = (src_px[:, 1] + 0.5) / tex.shape[0]  # texture row 0 = image row 0
            mesh.buffers["uv"].write(uv)
            self._get_texture(tex).use(0)
        elif mode == "nmfc" and not mesh.has_nmfc:
            raise ValueError("mode 'nmfc' needs set_mesh(..., nmfc_mean=...)")

        if attribute is not None:
            a = np.ascontiguousarray(attribute, dtype=np.float32)
            if a.shape != (mesh.num_vertices, 3):
                raise ValueError(f"attribute must be ({mesh.num_vertices}, 3), got {a.shape}")
            mesh.buffers["attr"].write(a)

        fbo = self._framebuffer(width, height, outputs)
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.enable_only(self._moderngl.DEPTH_TEST)
        vao.render(self._moderngl.TRIANGLES)

        att = self._attachments[(width, height)]
        out = RenderOutput(mask=None)
        if outputs[1]:
            ids = np.frombuffer(att["ids"].read(), np.float32).reshape(height, width, 4)
            out.mask = ids[..., 0] > 0
            if buffers:
                out.triangle_id = ids[..., 0].astype(np.int32) - 1
                out.packed_ids = ids
        if outputs[2]:
            at = np.frombuffer(att["attr"].read(), np.float32).reshape(height, width, 4)
            out.attribute = np.ascontiguousarray(at[..., :3])   # 0 off the mesh (cleared)
            if out.mask is None:
                out.mask = at[..., 3] > 0
        if nmfc_from_ids:
            # One 4-byte gather per pixel (RGBA packed in a uint32) is ~10x faster than
            # fancy-indexing an (T, 3) uint8 palette; id -1 wraps to the background row.
            rgba = np.zeros((len(mesh.nmfc_colours) + 1, 4), np.uint8)
            rgba[:-1, :3] = mesh.nmfc_colours
            rgba[-1, :3] = np.asarray(background, np.uint8)
            packed = np.take(rgba.view(np.uint32).ravel(), out.triangle_id, mode="wrap")
            out.image = np.ascontiguousarray(packed.view(np.uint8).reshape(height, width, 4)[..., :3])
        if outputs[0]:
            if out.mask is None:
                out.mask = np.frombuffer(att["color"].read(), np.uint8).reshape(height, width, 4)[..., 3] > 0
            # glReadPixels drops alpha itself, much faster than a strided numpy copy
            out.image = np.empty((height, width, 3), np.uint8)
            fbo.read_into(out.image, components=3, attachment=0)
            if any(background):
                out.image[~out.mask] = np.asarray(background, np.uint8)
        return out

    def render_frames(self, frames: Iterable[np.ndarray], size: tuple[int, int],
                      mode: str = "nmfc", **kwargs) -> Iterator[RenderOutput]:
        """Stream a clip: ``frames`` yields (N, 3) vertices per frame; one RenderOutput per frame.

        The topology stays on the GPU; only the per-frame vertices are uploaded.
        """
        for v in frames:
            yield self.render(v, size, mode, **kwargs)

    def release(self) -> None:
        """Free GL objects and the context (call from the owning thread)."""
        self._check_thread()
        if self._mesh is not None:
            self._release_mesh()
        self.ctx.release()
