"""The face renderer interface: what a renderer gets for one output frame and what it returns.

The warp renderer (``core.warp.renderer.WarpRenderer``) implements it now; a neural renderer
(``core/neural``, next) will implement the same. Callers (the edit preview, offline and live
reenactment) build a :class:`FrameRequest` per output frame and keep one renderer per output
stream (a renderer may keep caches keyed by ``target_key``, so it is not shared between
threads). Nothing here says where the work runs: a renderer picks its own device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Protocol, runtime_checkable

import numpy as np

from core.warp.face import ProjectedFace


@dataclass
class FrameRequest:
    """One output frame to render.

    target_frame : (H, W, 3) uint8 RGB   the picture of the target the output is made from
    target : ProjectedFace   the target's face as fitted in ``target_frame``
    driven : ProjectedFace   the face to show, in the same image (same size, pixels)
    target_key : identifies ``target_frame`` for caches (a still: a constant; None: no caching)
    reference : the driven side's own face in the picture ``target_frame`` shows (self
        reenactment: the source's fit of that frame), or None (the target itself): what the
        head's motion is measured against (``core.warp.rigid.head_motion``)
    """

    target_frame: np.ndarray
    target: ProjectedFace
    driven: ProjectedFace
    target_key: Hashable | None = None
    reference: ProjectedFace | None = None


@dataclass
class FrameResult:
    """A rendered frame.

    image : (H, W, 3) uint8 RGB, the size of the request's ``target_frame``
    stage_ms : milliseconds per stage of this frame, in the order run (the warp: warp, sample,
        mouth, eyes; a renderer names its own stages)
    mouth_filled : whether a mouth interior the target never showed was composited in (a
        renderer without such a stage leaves it False)
    """

    image: np.ndarray
    stage_ms: dict[str, float] = field(default_factory=dict)
    mouth_filled: bool = False


@runtime_checkable
class FaceRenderer(Protocol):
    """Renders driven faces into target frames, one frame per call (see the module docstring)."""

    #: a short name for reports and benchmarks ("warp", "neural")
    name: str

    def render(self, request: FrameRequest) -> FrameResult:
        """The output frame for ``request``."""
        ...
