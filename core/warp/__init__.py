"""The mesh-driven image warp, shared by expression editing (``core.edits``) and reenactment
(``core.reenact``), and the face renderer interface both render through.

- ``interface``: ``FaceRenderer`` (a Protocol), ``FrameRequest`` (what a renderer gets for one
  frame) and ``FrameResult`` (the frame and its stage timings);
- ``face``: ``ProjectedFace`` (a face in one image) and ``target_face`` / ``driven_face``;
- ``renderer``: ``WarpRenderer``, the warp's FaceRenderer; ``settings``: ``WarpSettings``;
- ``dense`` (the backward map), ``rigid`` (the head's motion beyond the face), ``fields``
  (push-pull fill), ``raster`` (triangle ids, affines, sampling), ``mouth``, ``interior``
  (ICT's teeth for a still) and ``eyes`` (the fills), ``landmarks`` (MediaPipe's eye and lip
  topology, eye coordinates, gaze).
"""
from core.warp.face import ProjectedFace, driven_face, target_face
from core.warp.interface import FaceRenderer, FrameRequest, FrameResult
from core.warp.renderer import WarpRenderer
from core.warp.settings import WarpSettings

__all__ = ["FaceRenderer", "FrameRequest", "FrameResult", "ProjectedFace", "WarpRenderer", "WarpSettings",
           "driven_face", "target_face"]
