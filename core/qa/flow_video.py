"""The dense-flow QA video and flow arrays of a reconstructed clip (thesis ch. 6).

Each output frame t (t = 0 .. F-1-step) is, left to right:
  [video frame t | mesh t over the frame (wireframe + the model's 68 landmarks) |
   3D flow t -> t+step (Eq. 6.5 HSV, with legend) | 2D flow (Middlebury wheel, with legend)].
The video has F - step frames: frame t needs meshes t and t+step. Audio is copied from
the source (trimmed to the video's length).

Normalisation (``core.flow.colour``): by default one per clip, the ``FLOW_PERCENTILE``-th
percentile of |F| (3D) and of |F_xy| (2D) over the foreground pixels of all frames: a first
pass renders every flow (sampled on a 4-pixel grid to bound memory) and the second renders
again and writes the video (rendering the flow costs less than keeping a clip of flows in
memory); faster motion saturates (3D: full value; 2D: darkened colour). ``normalisation=
"frame"`` takes the same percentile of each frame's own flow instead (every frame as bright as
the next: for looking at one frame's pattern, not for comparing frames).

Flow arrays (``npz_path``): ``flow`` (F-step, h, w, 3) float16 (dx_px, dy_px, d_depth_px
of the source image, x right, y down, depth away from the viewer), ``mask`` (F-step, h, w)
bool, ``stride`` (int): the arrays hold every stride-th pixel of every stride-th row
(flow[t, i, j] is the flow at image pixel (row i*stride, col j*stride); values stay in
full-resolution pixels). stride is 1 unless the float16 flow would exceed
``NPZ_BUDGET_BYTES``, then the smallest integer that fits. Also ``step``, ``frames``
(the t of each row), ``max_magnitude_3d`` and ``max_magnitude_2d``. Written atomically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from core.flow import NORMALISATIONS, clip_flow, dense_flow, flow2d_to_rgb, flow3d_to_rgb, legend_2d, legend_3d
from core.flow.colour import magnitude_scale
from core.jobs import CancelToken, ProgressFn, check, report
from core.npz_io import save_npz_atomic
from core.qa.clip import ClipMeshes, renderer_for
from core.qa.panels import label, paste, side_by_side, wireframe_alpha
from core.render.overlay import draw_landmarks, draw_wireframe

#: Largest float16 flow array kept at full resolution for ``--npz`` (bytes in memory).
NPZ_BUDGET_BYTES = 256 << 20
#: Sampling grid of the first pass (pixels).
SAMPLE_GRID = 4


@dataclass
class FlowVideoResult:
    """What :func:`write_flow_video` wrote: frames, the flow step, the colour scales, the arrays' stride,
    audio."""

    frames_written: int
    step: int
    max_magnitude_3d: float     # px per step, the clip's colour normalisation
    max_magnitude_2d: float
    npz_stride: int             # 0 when no npz was written
    audio_kept: bool
    normalisation: str = "clip"  # or "frame": each frame coloured by its own (core.flow.colour)


def npz_stride(n: int, height: int, width: int, budget: int = NPZ_BUDGET_BYTES) -> int:
    """Smallest pixel stride s such that n float16 flows of (H/s, W/s, 3) fit in ``budget``."""
    full = n * height * width * 3 * 2
    return max(1, math.ceil(math.sqrt(full / budget)))


def flow_magnitude_scale(renderer, meshes: ClipMeshes, size: tuple[int, int], frames: int, step: int,
                         stride: int = 0, progress: Optional[ProgressFn] = None,
                         cancel: Optional[CancelToken] = None):
    """First pass: the clip's 3D and 2D colour normalisations, and (stride > 0) the
    subsampled flow arrays. size (W, H). Returns (rmax3, rmax2, flows or None, masks or None)."""
    n = frames - step
    m3, m2 = [], []
    flows = masks = None
    if stride:
        W, H = size
        hs, ws = len(range(0, H, stride)), len(range(0, W, stride))
        flows = np.zeros((n, hs, ws, 3), np.float16)
        masks = np.zeros((n, hs, ws), bool)
    g = SAMPLE_GRID
    for t, f in clip_flow(renderer, meshes.frames(0, frames), size, step, cancel=cancel):
        sub, sm = f.flow[::g, ::g], f.mask[::g, ::g]
        v = sub[sm]
        m3.append(np.linalg.norm(v, axis=1))
        m2.append(np.linalg.norm(v[:, :2], axis=1))
        if stride:
            flows[t] = f.flow[::stride, ::stride]
            masks[t] = f.mask[::stride, ::stride]
        report(progress, t + 1, 2 * n, "flow scale")
    return magnitude_scale(np.concatenate(m3)), magnitude_scale(np.concatenate(m2)), flows, masks


def flow_panels(frame: np.ndarray, v_t: np.ndarray, landmarks68: np.ndarray, triangles: np.ndarray,
                flow: np.ndarray, mask: np.ndarray, rmax3: float, rmax2: float,
                legends: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One side-by-side QA frame (H, 4W, 3) from frame t, its posed mesh v_t (N, 3), the
    model's 68 landmarks (68, 2) and the flow t -> t+k (H, W, 3) with its mask (H, W)."""
    mesh = draw_wireframe(frame, v_t, triangles, colour=(0, 255, 0),
                          alpha=max(0.1, wireframe_alpha(len(triangles))))
    mesh = draw_landmarks(mesh, landmarks68, colour=(255, 40, 40), radius=2.0)
    leg3, leg2 = legends if legends is not None else (legend_3d(96), legend_2d(96))
    f3 = paste(flow3d_to_rgb(flow, rmax3, mask), leg3, "bottom-right", max_fraction=0.45)
    f3 = label(f3, f"max |F| {rmax3:.2f} px", (6, 38), 0.4)
    f2 = paste(flow2d_to_rgb(flow, rmax2, mask), leg2, "bottom-right", max_fraction=0.22)
    f2 = label(f2, f"max |F_xy| {rmax2:.2f} px", (6, 38), 0.4)
    return side_by_side([frame, mesh, f3, f2], ["frame", "mesh", "3D flow (Eq. 6.5)", "2D flow"])


def write_flow_video(source, meshes: ClipMeshes, out_path, frames: int, step: int = 1,
                     npz_path=None, renderer=None, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None, normalisation: str = "clip") -> FlowVideoResult:
    """Write the side-by-side flow video (and optionally the flow arrays) of ``frames``
    frames of ``source`` (a core.video VideoSource) reconstructed as ``meshes``.

    renderer : an OffscreenRenderer on this thread or a RenderThread (its mesh is
    replaced); None makes an OffscreenRenderer here (not on a Qt GUI thread).
    normalisation : "clip" (default) or "frame" (module docstring).
    """
    from core.video import VideoWriter

    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if frames <= step:
        raise ValueError(f"the flow over {step} frame(s) needs more than {step} frames, got {frames}")
    H, W = source.size
    size = (W, H)
    n = frames - step
    stride = npz_stride(n, H, W) if npz_path is not None else 0
    renderer, owned = renderer_for(meshes, renderer)
    try:
        r3, r2, flows, masks = flow_magnitude_scale(renderer, meshes, size, frames, step, stride,
                                                    progress, cancel)
        if npz_path is not None:
            save_npz_atomic(Path(npz_path), dict(
                flow=flows, mask=masks, stride=np.asarray(stride), step=np.asarray(step),
                frames=np.arange(n, dtype=np.int32), max_magnitude_3d=np.asarray(r3, np.float32),
                max_magnitude_2d=np.asarray(r2, np.float32)))
            del flows, masks
        legends = (legend_3d(96), legend_2d(96))
        lm68 = np.asarray(meshes.rec.landmarks68)
        window = [meshes.screen(t) for t in range(step)]
        times = source.timestamps  # (a variable frame rate keeps its timing)
        with VideoWriter(out_path, fps=source.fps, audio_from=source.path or None) as writer:
            for t, frame in source.frames(0, n):
                check(cancel)
                window.append(meshes.screen(t + step))
                f = dense_flow(renderer, window[0], window[step], size)
                s3, s2 = r3, r2
                if normalisation == "frame":
                    v = f.flow[f.mask]
                    s3 = magnitude_scale(np.linalg.norm(v, axis=1))
                    s2 = magnitude_scale(np.linalg.norm(v[:, :2], axis=1))
                writer.write(flow_panels(frame, window[0], lm68[t], meshes.triangles, f.flow, f.mask,
                                         s3, s2, legends), t=float(times[t]))
                window.pop(0)
                report(progress, n + t + 1, 2 * n, "flow video")
        return FlowVideoResult(writer.frames_written, step, r3, r2, stride, writer.audio_kept, normalisation)
    finally:
        if owned:
            renderer.release()
