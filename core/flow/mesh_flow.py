"""Dense 3D facial flow from two posed meshes of one topology (DeepFaceFlow Eq. 6.1).

For each foreground pixel of frame t the renderer gives the visible triangle j and
the pixel's barycentrics b in it; the flow is the same surface point moved to frame
t+k:  F(x, y) = [V_{t+k}(j)] b - [V_t(j)] b = [V_{t+k}(j) - V_t(j)] b.

Units: screen space of ``core.camera.project`` -- x, y in pixels (so F[..., :2] is the
optical flow t -> t+k, image y down) and z in depth units (pixels too, larger = farther).
Only points visible in frame t are tracked; background pixels are 0 and masked out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from core.flow.colour import FLOW_PERCENTILE, magnitude_scale
from core.jobs import CancelToken, ProgressFn, check, report


@dataclass
class DenseFlow:
    """flow : (H, W, 3) float32 (dx_px, dy_px, d_depth), 0 off the mask; mask : (H, W) bool."""

    flow: np.ndarray
    mask: np.ndarray

    @property
    def optical_flow(self) -> np.ndarray:
        """(H, W, 2) float32, the x, y part: a 2D optical flow t -> t+k in pixels."""
        return self.flow[..., :2]


def flow_from_buffers(triangle_id: np.ndarray, barycentric: np.ndarray, triangles: np.ndarray,
                      vertices_t: np.ndarray, vertices_tk: np.ndarray) -> DenseFlow:
    """Eq. 6.1 on CPU from frame t's id/barycentric buffers.

    triangle_id : (H, W) int, -1 background; barycentric : (H, W, 3);
    triangles : (T, 3); vertices_t, vertices_tk : (N, 3) posed screen-space meshes.
    """
    h, w = triangle_id.shape
    disp = np.asarray(vertices_tk, np.float32) - np.asarray(vertices_t, np.float32)
    ids = np.asarray(triangle_id).reshape(-1)
    fg = ids >= 0
    # Gathers over the foreground pixels only; np.take along axis 0 is several times
    # faster than fancy indexing of rows.
    pix = np.flatnonzero(fg)
    corners = np.take(np.asarray(triangles), np.take(ids, pix), axis=0)      # (M, 3)
    b = np.take(np.asarray(barycentric, np.float32).reshape(-1, 3), pix, axis=0)
    d = np.take(disp, corners, axis=0)                                       # (M, 3, 3)
    flow = np.zeros((h * w, 3), np.float32)
    flow[pix] = d[:, 0] * b[:, :1] + d[:, 1] * b[:, 1:2] + d[:, 2] * b[:, 2:3]
    return DenseFlow(flow.reshape(h, w, 3), fg.reshape(h, w))


def dense_flow(renderer, vertices_t: np.ndarray, vertices_tk: np.ndarray,
               size: tuple[int, int]) -> DenseFlow:
    """Eq. 6.1 in one render pass: the per-vertex displacement V_{t+k} - V_t is a vertex
    attribute of mesh t, which the rasteriser interpolates with exactly the barycentrics
    of the visible triangle (orthographic: screen-space = surface barycentrics).

    renderer : an OffscreenRenderer (on its own thread) or a RenderThread with the
    topology already set (``set_mesh``). size : (W, H).
    """
    vt = np.asarray(vertices_t, np.float32)
    disp = np.asarray(vertices_tk, np.float32) - vt
    out = renderer.render(vt, size, "none", attribute=disp)
    return DenseFlow(out.attribute, out.mask)   # the renderer leaves the background at 0


def clip_flow(renderer, frames: Iterable[np.ndarray], size: tuple[int, int], step: int = 1,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
              total: int = 0) -> Iterator[tuple[int, DenseFlow]]:
    """Stream the flow t -> t+step over a clip.

    frames : iterable of (N, 3) posed screen-space meshes (one per frame, streamed).
    Yields (t, DenseFlow) for t = 0 .. F-1-step. ``total`` (frame count, if known) is
    only for progress reports.
    """
    window: list[np.ndarray] = []
    t = 0
    for v in frames:
        check(cancel)
        window.append(np.asarray(v, np.float32))
        if len(window) > step:
            yield t, dense_flow(renderer, window[0], window[step], size)
            window.pop(0)
            t += 1
            report(progress, t, total, "flow")


def vertex_displacement(vertices_t: np.ndarray, vertices_tk: np.ndarray) -> np.ndarray:
    """Per-vertex 3D displacement for the 3D viewport. (N, 3) or (F, N, 3) -> same shape.

    Pass model-space shapes (``FaceModel.vertices``; centimetres, y up, face looking down
    +z) to see the non-rigid motion only, i.e. expression without head pose; pass posed
    screen-space vertices to get the camera-space motion that the dense flow shows
    (pixels, y down, depth away).
    """
    return (np.asarray(vertices_tk, np.float32) - np.asarray(vertices_t, np.float32))


def flow_pair(repeated: np.ndarray, frame: int, max_ahead: int = 3) -> tuple[int, int]:
    """Frames (a, b), a < b, whose flow is shown at ``frame`` of a clip of F frames.

    Normally (frame, frame+1). When frame+1 repeats frame's picture the flow would be a
    black (still) image that reads as broken, so b is the next frame with a new picture,
    at most ``max_ahead`` frames on. At the clip's end the flow into ``frame`` is shown.
    Returns (frame, frame) for a one-frame clip. ``repeated``: (F,) bool,
    ``Reconstruction.repeated``.
    """
    F = len(repeated)
    if F < 2:
        return frame, frame
    if frame >= F - 1:
        a = frame - 1
        while a > 0 and repeated[a + 1] and frame - a < max_ahead:
            a -= 1
        return a, frame
    b = frame + 1
    while b < F - 1 and repeated[b] and b - frame < max_ahead:
        b += 1
    return frame, b


def clip_vertex_flow_scales(rec, model, samples: int = 24, percentile: float = FLOW_PERCENTILE
                            ) -> tuple[float, float]:
    """The per-clip colour normalisations of a reconstruction's vertex flow, as shown at a frame
    (``flow_pair``): (model space, cm; image space, px of the posed mesh incl. depth).

    From the fitted meshes (corrective included) of up to ``samples`` frames spread over the
    clip; ``rec`` a ``core.fitting.Reconstruction`` fitted with ``model``. Fitted, not edited:
    the scale stays put while an edit changes, so a stronger edit shows brighter. (0, 0) for a
    one-frame clip.
    """
    F = rec.num_frames
    if F < 2:
        return 0.0, 0.0
    pairs = sorted({flow_pair(rec.repeated, int(f)) for f in np.linspace(0, F - 1, min(samples, F)).astype(int)})
    frames = np.unique(np.array(pairs).ravel())
    at = {int(f): k for k, f in enumerate(frames)}
    V = rec.vertices_batch(model, frames).astype(np.float64)                    # (K, N, 3) cm
    P = np.stack([rec.camera(int(f)).project(V[k]) for k, f in enumerate(frames)])  # (K, N, 3) px
    model_mag, image_mag = [], []
    for a, b in pairs:
        model_mag.append(np.linalg.norm(V[at[b]] - V[at[a]], axis=1))
        image_mag.append(np.linalg.norm(P[at[b]] - P[at[a]], axis=1))
    return (max(magnitude_scale(np.concatenate(model_mag), percentile), 1e-6),
            max(magnitude_scale(np.concatenate(image_mag), percentile), 1e-6))
