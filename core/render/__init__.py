"""Offscreen rendering (moderngl on EGL): shaded, textured, NMFC, PNCC, triangle-id +
barycentric + depth buffers, and QA overlays.

Use :class:`RenderThread` from any process that also shows Qt widgets; an
:class:`OffscreenRenderer` must stay on the one (non-GUI) thread that created it.
"""
from core.render.geometry import nmfc_reference, triangulate
from core.render.renderer import Lighting, OffscreenRenderer, Overlay, RenderOutput
from core.render.thread import RenderThread
from core.render.views import ViewCamera, look_at, orthographic, perspective

__all__ = ["Lighting", "OffscreenRenderer", "Overlay", "RenderOutput", "RenderThread", "ViewCamera",
           "look_at", "nmfc_reference", "orthographic", "perspective", "triangulate"]
