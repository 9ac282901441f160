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

One draw call renders into up to four targets (RGBA8 colour; RG32UI triangle id + 1 and
two unorm16 barycentrics; RG32F + R32F interpolated per-vertex attribute, its mask read
from the depth buffer), with a program variant compiled per set of targets so only the
requested ones are written and read back. On llvmpipe the fragment stage costs by the
bytes it writes per pixel, hence the 8-byte id target (the former RGBA32F id/bary/depth
target cost ~25% more CPU) and the 12-byte attribute (~20% less CPU than one RGBA32F).
The depth output is not read back but interpolated from the barycentrics when asked for;
flat NMFC is a per-triangle palette lookup of the id buffer rather than a colour target.
Buffers match pixel centres: barycentrics agree with exact ones at the pixel centre to
~5e-4 (the 16-bit storage adds at most 1.2e-5).
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
from core.render.memory import retain_freed_memory
from core.render.views import ViewCamera

SHADER_DIR = Path(__file__).resolve().parents[2] / "resources" / "shaders"

#: Colour modes. "none" renders only the buffers (ids, barycentrics, depth, attribute);
#: "colour" shows a per-vertex colour (``colours``), e.g. the 3D flow's coding.
MODES = {"shaded": 0, "shaded_flat": 1, "textured": 2, "nmfc": 3, "none": 4, "colour": 5}

# The id target stores b0, b1 as unorm16 over [BARY_LOW, BARY_LOW + BARY_SPAN] (mesh.frag).
BARY_LOW, BARY_SPAN = -0.25, 1.5
# unorm16 code -> barycentric, a 256 kB table: one gather per pixel is the fastest decoding.
_BARY_DECODE = (np.arange(65536) * (BARY_SPAN / 65535.0) + BARY_LOW).astype(np.float32)
_BARY_DECODE[0] = 0.0   # background

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
class Overlay:
    """Lines or points drawn over the mesh in the colour image (wireframe, arrows, landmarks).

    kind : "lines" (consecutive position pairs are segments) or "points"
    positions : (M, 3) float   in the same space as the mesh vertices (screen or world)
    colours : (M, 3) or (3,) float in [0, 1]
    depth_bias : float   pulled towards the viewer by this much of the NDC depth range (2),
        so lines lying on the surface are not hidden by it; 1.0 draws over everything
    size : float   point diameter in pixels (points only)
    """

    kind: str
    positions: np.ndarray
    colours: np.ndarray | tuple = (1.0, 1.0, 1.0)
    depth_bias: float = 0.002
    size: float = 4.0


@dataclass
class RenderOutput:
    """What one render returns; outputs not requested are None.

    mask : (H, W) bool   foreground
    image : (H, W, 3) uint8 RGB   shaded / textured / NMFC colour (background colour off the mesh)
    triangle_id : (H, W) int32   visible triangle, -1 on background
    attribute : (H, W, 3) float32   per-vertex attribute interpolated with the barycentrics (0 on background)
    barycentric : (H, W, 3) float32   weights of the visible triangle's corners (0 on background)
    depth : (H, W) float32   input depth units (screen space) or eye distance (ViewCamera); +inf on background

    The GPU writes only the triangle id and two 16-bit barycentrics per pixel.
    ``barycentric`` is unpacked from ``packed_barycentric`` (b0 | b1 << 16, unorm16 over
    [BARY_LOW, BARY_LOW + BARY_SPAN]) on first access, and ``depth`` interpolated then
    from the corners' depths (``vertex_depth``; the rasteriser interpolates depth with the
    same barycentrics), so callers that only need ids pay nothing for them.
    """

    mask: np.ndarray
    image: np.ndarray | None = None
    triangle_id: np.ndarray | None = None
    attribute: np.ndarray | None = None
    packed_barycentric: np.ndarray | None = field(default=None, repr=False)   # (H, W) uint32
    vertex_depth: np.ndarray | None = field(default=None, repr=False)         # (N,) float32
    triangles: np.ndarray | None = field(default=None, repr=False)            # (T, 3) int32

    @functools.cached_property
    def barycentric(self) -> np.ndarray | None:
        if self.packed_barycentric is None:
            return None
        h, w = self.mask.shape
        # b0 | b1 << 16 seen as two uint16 in native byte order (GL's too); code 0 is the
        # background and decodes to 0.
        halves = self.packed_barycentric.view(np.uint16).reshape(h, w, 2)
        lo, hi = (1, 0) if sys.byteorder == "big" else (0, 1)
        b0 = np.take(_BARY_DECODE, halves[..., lo])
        b1 = np.take(_BARY_DECODE, halves[..., hi])
        b2 = self.mask.astype(np.float32)
        b2 -= b0
        b2 -= b1
        return cv2.merge([b0, b1, b2])   # (H, W, 3) float32

    @functools.cached_property
    def depth(self) -> np.ndarray | None:
        if self.packed_barycentric is None or self.vertex_depth is None:
            return None
        fg = self.mask.reshape(-1)
        pix = np.flatnonzero(fg)
        corners = np.take(self.triangles, np.take(self.triangle_id.reshape(-1), pix), axis=0)  # (M, 3)
        z = np.take(self.vertex_depth, corners)                                                # (M, 3)
        b = np.take(self.barycentric.reshape(-1, 3), pix, axis=0)
        depth = np.full(fg.shape, np.inf, np.float32)
        depth[pix] = z[:, 0] * b[:, 0] + z[:, 1] * b[:, 1] + z[:, 2] * b[:, 2]
        return depth.reshape(self.mask.shape)


@dataclass
class _Mesh:
    triangles: np.ndarray
    num_vertices: int
    normals: VertexNormals
    has_nmfc: bool
    buffers: dict
    nmfc_palette: np.ndarray                   # (T + 1,) uint32 RGBA: j triangle j, T background
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
        retain_freed_memory()   # per-frame output arrays: reuse heap instead of page faults
        self.ctx = moderngl.create_context(standalone=True, backend="egl")
        self.thread_id = threading.get_ident()
        self._sources = {k: (SHADER_DIR / f"mesh.{k}").read_text() for k in ("vert", "geom", "frag")}
        self._overlay_prog = None
        self._overlay_vbo = None
        self._programs: dict[tuple[bool, bool, bool], object] = {}
        self._attachments: dict[tuple[int, int], dict] = {}
        self._framebuffers: dict[tuple, object] = {}
        self._textures: dict[tuple[int, int], object] = {}
        self._mesh: _Mesh | None = None
        self._scratch_buffers: dict[str, np.ndarray] = {}
        self.last_readback_bytes = 0   # bytes read from the GPU by the last render (benchmarks)

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
        palette = np.zeros((len(tri) + 1, 4), np.uint8)
        palette[:-1, :3] = to_uint8(nmfc_triangle_colours(ref, tri))
        self._mesh = _Mesh(tri, n, VertexNormals(tri, n), nmfc_mean is not None, bufs,
                           palette.view(np.uint32).ravel())

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
                    if name == "ATTR":   # x, y and z go to two targets
                        head.append(f"#define LOC_ATTR_Z {loc}")
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
                       "ids": self.ctx.texture(size, 2, dtype="u4"),
                       "attr_xy": self.ctx.texture(size, 2, dtype="f4"),
                       "attr_z": self.ctx.texture(size, 1, dtype="f4"),
                       "depth": self.ctx.depth_texture(size)}   # read as the attribute pass's mask
                self._attachments[(width, height)] = att
            names = (["color"], ["ids"], ["attr_xy", "attr_z"])
            colours = [att[k] for want, ks in zip(outputs, names) if want for k in ks]
            fbo = self.ctx.framebuffer(colours, att["depth"])
            self._framebuffers[key] = fbo
        return fbo

    def _scratch(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """A readback buffer reused across frames (fresh large arrays cost page faults).
        Only for data copied out before render() returns."""
        buf = self._scratch_buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._scratch_buffers[name] = np.empty(shape, dtype)
        return buf

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
    @staticmethod
    def pass_layout(mode: str, buffers: bool, attribute: bool,
                    overlays: bool = False) -> tuple[tuple[bool, bool, bool], bool]:
        """Which targets one render writes, ((colour, ids, attribute), geometry stage).

        NMFC is flat per triangle, so it is a palette lookup of the id buffer: cheaper on a
        software rasteriser than a colour target, alone or as a second one. With overlays
        (lines and points drawn into the colour image) NMFC goes to a colour target.
        """
        nmfc_via_ids = mode == "nmfc" and not overlays
        outputs = (mode != "none" and not nmfc_via_ids, bool(buffers) or nmfc_via_ids, bool(attribute))
        if not any(outputs):
            outputs = (False, True, False)   # a mask alone comes from the id target
        return outputs, outputs[1] or mode in ("shaded_flat", "nmfc")

    def render(self, vertices: np.ndarray, size: tuple[int, int], mode: str = "nmfc", *,
               buffers: bool = False, view: ViewCamera | None = None,
               texture: np.ndarray | None = None, source_pixels: np.ndarray | None = None,
               attribute: np.ndarray | None = None, lighting: Lighting | None = None,
               depth_range: tuple[float, float] | None = None,
               background: tuple[int, int, int] = (0, 0, 0), supersample: int = 1,
               colours: np.ndarray | None = None, overlays: Iterable[Overlay] = ()) -> RenderOutput:
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
        colours : (N, 3) float in [0, 1], the per-vertex colours of mode "colour"
        overlays : lines and points drawn over the mesh in the colour image (modes with a
            colour image only); see :class:`Overlay`
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
                              depth_range=depth_range, background=background, colours=colours,
                              overlays=[Overlay(o.kind, o.positions, o.colours, o.depth_bias, o.size * k)
                                        for o in overlays])
            image = cv2.resize(out.image, (width, height), interpolation=cv2.INTER_AREA)
            mask = cv2.resize(out.mask.astype(np.uint8) * 255, (width, height),
                              interpolation=cv2.INTER_AREA) >= 128
            return RenderOutput(mask=mask, image=image)

        overlays = list(overlays)
        nmfc_from_ids = mode == "nmfc" and not overlays
        outputs, geometry = self.pass_layout(mode, buffers, attribute is not None, bool(overlays))
        prog = self._program(outputs, geometry)
        vao = self._vao(outputs, geometry)

        def set_uniform(name, value):
            if name in prog:
                prog[name].value = value

        mesh.buffers["pos"].write(v)
        vertex_depth = None
        if view is None:
            set_uniform("u_use_view", 0)
            set_uniform("u_size", (float(width), float(height)))
            if depth_range is None:
                lo, hi = float(v[:, 2].min()), float(v[:, 2].max())
                pad = max(1e-3 * (hi - lo), 1e-3 * max(abs(lo), abs(hi)), 1e-4)
                depth_range = (lo - pad, hi + pad)
            set_uniform("u_depth_range", tuple(float(x) for x in depth_range))
            eye = (0.0, 0.0, -1.0, 0.0)  # the viewer looks along +depth
            if buffers:
                vertex_depth = v[:, 2].copy()   # v may be the caller's array
        else:
            set_uniform("u_use_view", 1)
            prog["u_view"].write(np.asarray(view.view, np.float32).T.tobytes())
            if buffers:   # eye distance -z_eye, as the vertex stage computes it
                vm = np.asarray(view.view, np.float32)
                vertex_depth = -(v @ vm[2, :3] + vm[2, 3])
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
        elif mode == "colour":
            if attribute is not None:
                raise ValueError("mode 'colour' and an attribute output share one vertex buffer")
            c = np.ascontiguousarray(colours, dtype=np.float32) if colours is not None else None
            if c is None or c.shape != (mesh.num_vertices, 3):
                raise ValueError(f"mode 'colour' needs colours of shape ({mesh.num_vertices}, 3)")
            mesh.buffers["attr"].write(c)
        if overlays and not outputs[0]:
            raise ValueError(f"overlays are drawn into the colour image; mode {mode!r} has none")

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
        if overlays:
            self._draw_overlays(overlays, view, (width, height), prog, fbo)

        att = self._attachments[(width, height)]
        out = RenderOutput(mask=None)
        self.last_readback_bytes = 0
        if outputs[1]:
            packed = self._scratch("ids", (height, width, 2), np.uint32)
            att["ids"].read_into(packed)
            self.last_readback_bytes += packed.nbytes
            triangle_id = np.ascontiguousarray(packed[..., 0]).view(np.int32)
            triangle_id -= 1   # stored id + 1: background 0 -> -1
            out.mask = triangle_id >= 0
            if buffers:
                out.triangle_id = triangle_id
                out.packed_barycentric = np.ascontiguousarray(packed[..., 1])
                out.vertex_depth = vertex_depth
                out.triangles = mesh.triangles
            if nmfc_from_ids:
                palette = mesh.nmfc_palette
                if any(background):
                    palette = palette.copy()
                    palette[-1:].view(np.uint8)[:3] = np.asarray(background, np.uint8)
                # one 4-byte gather per pixel; id -1 indexes the background entry (last)
                rgba = palette[triangle_id].view(np.uint8).reshape(height, width, 4)
                out.image = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        if outputs[2]:
            xy = self._scratch("attr_xy", (height, width, 2), np.float32)
            z = self._scratch("attr_z", (height, width), np.float32)
            att["attr_xy"].read_into(xy)
            att["attr_z"].read_into(z)
            self.last_readback_bytes += xy.nbytes + z.nbytes
            out.attribute = cv2.merge([xy, z])   # (H, W, 3); 0 off the mesh (cleared)
            if out.mask is None:
                # Covered pixels are exactly those whose depth passed the test (< the cleared 1).
                d = self._scratch("depth", (height, width), np.float32)
                att["depth"].read_into(d)
                self.last_readback_bytes += d.nbytes
                out.mask = d < 1.0
        if outputs[0]:
            if out.mask is None:
                out.mask = np.frombuffer(att["color"].read(), np.uint8).reshape(height, width, 4)[..., 3] > 0
                self.last_readback_bytes += width * height * 4
            # glReadPixels drops alpha itself, much faster than a strided numpy copy
            out.image = np.empty((height, width, 3), np.uint8)
            fbo.read_into(out.image, components=3, attachment=0)
            self.last_readback_bytes += out.image.nbytes
            if any(background):
                out.image[~out.mask] = np.asarray(background, np.uint8)
        return out

    def _draw_overlays(self, overlays: list[Overlay], view: ViewCamera | None, size: tuple[int, int],
                       mesh_prog, fbo) -> None:
        """Draw lines and points into the colour target of ``fbo`` (only that target)."""
        mgl = self._moderngl
        if self._overlay_prog is None:
            src = {k: (SHADER_DIR / f"overlay.{k}").read_text() for k in ("vert", "frag")}
            self._overlay_prog = self.ctx.program(vertex_shader="#version 330 core\n" + src["vert"],
                                                  fragment_shader="#version 330 core\n" + src["frag"])
        prog = self._overlay_prog
        if view is None:
            prog["u_use_view"].value = 0
            prog["u_size"].value = (float(size[0]), float(size[1]))
            prog["u_depth_range"].value = mesh_prog["u_depth_range"].value
        else:
            prog["u_use_view"].value = 1
            prog["u_view"].write(np.asarray(view.view, np.float32).T.tobytes())
            prog["u_proj"].write(np.asarray(_FLIP_Y @ view.projection, np.float32).T.tobytes())
        # (colour attachment 0 only: the ids / attribute targets keep the mesh's values)
        colour_only = self.ctx.framebuffer([fbo.color_attachments[0]], fbo.depth_attachment)
        colour_only.use()
        self.ctx.enable(mgl.DEPTH_TEST | mgl.PROGRAM_POINT_SIZE)
        for o in overlays:
            pos = np.ascontiguousarray(o.positions, np.float32).reshape(-1, 3)
            if not len(pos):
                continue
            col = np.broadcast_to(np.asarray(o.colours, np.float32), pos.shape)
            data = np.ascontiguousarray(np.concatenate([pos, col], axis=1), np.float32)
            if self._overlay_vbo is None or self._overlay_vbo.size < data.nbytes:
                if self._overlay_vbo is not None:
                    self._overlay_vbo.release()
                self._overlay_vbo = self.ctx.buffer(reserve=max(data.nbytes, 1 << 16), dynamic=True)
            self._overlay_vbo.write(data)
            prog["u_depth_bias"].value = float(o.depth_bias)
            prog["u_point_size"].value = float(o.size)
            vao = self.ctx.vertex_array(prog, [(self._overlay_vbo, "3f 3f", "in_pos", "in_colour")])
            vao.render(mgl.LINES if o.kind == "lines" else mgl.POINTS, vertices=len(pos))
            vao.release()
        colour_only.release()
        fbo.use()

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
        if self._overlay_vbo is not None:
            self._overlay_vbo.release()
        self.ctx.release()
