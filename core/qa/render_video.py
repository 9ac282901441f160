"""QA render videos of a reconstructed clip, one output frame per input frame.

Modes:
  overlay   the mesh wireframe, the model's 68 landmarks and, per tracker point, the
            reprojection error |projected model point - tracked point| as heat colour
            (blue 0 .. red >= the clip's 99th percentile, with a legend), over the frame.
            Needs the TrackResult of the clip; frames without a tracked face show no heat.
  shaded    the fitted mesh, smooth-shaded, blended over the frame with opacity
            ``alpha`` (alpha 1 on a black background: the mesh alone).

Frames without a fitted face (``Reconstruction.valid`` False: their fit is borrowed from the
nearest fitted frame) show no mesh in any mode: the frame (black in nmfc, pncc and shaded with
alpha 1) labelled "no face".
  nmfc      the normalised mean face coordinate encoding (black background).
  pncc      the PNCC encoding (Eq. 6.2) with one depth range for the whole clip.
  textured  the face texture of the first fitted frame carried by the mesh to every frame
            (the warp a reconstruction implies), over the frame: where the fit follows the
            face the result matches the frame; drift and misfits show as doubled features.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from core.jobs import CancelToken, ProgressFn, check, report
from core.video.writer import OUTPUT_MAX_SIDE
from core.qa.clip import ClipMeshes, renderer_for
from core.qa.panels import blend_over, label, paste, wireframe_alpha
from core.render.encodings import pncc_from_depth, to_uint8
from core.render.overlay import draw_landmarks, draw_reprojection_error, draw_wireframe, heat_legend

MODES = ("overlay", "shaded", "nmfc", "pncc", "textured")


@dataclass
class RenderVideoResult:
    """What :func:`write_render_video` wrote: frames, the mode and whether the audio was kept."""

    frames_written: int
    mode: str
    audio_kept: bool
    error_scale_px: float = float("nan")   # overlay: the heat colour maximum (source pixels)
    size: tuple[int, int] = (0, 0)         # (H, W) of the frames written


def reprojection_errors(meshes: ClipMeshes, track, frames: int) -> np.ndarray:
    """(frames, L) pixel distance between the model's tracker points and the tracked ones;
    NaN where the frame has no tracked face."""
    L = len(meshes.model.embedding)
    err = np.full((frames, L), np.nan)
    for f in range(frames):
        if track.valid[f]:
            err[f] = np.linalg.norm(meshes.tracker_points(f) - track.landmarks[f, :L, :2], axis=1)
    return err


def overlay_frame(frame: np.ndarray, meshes: ClipMeshes, f: int, track, vmax: float, scale: float = 1.0
                  ) -> np.ndarray:
    """The ``overlay`` mode's picture of frame ``f`` (H, W, 3) uint8 RGB, without the legend:
    the posed mesh's wireframe, the model's 68 landmarks (white) and each tracker point's
    reprojection error as heat (blue 0 .. red >= ``vmax`` source px; ``track`` a TrackResult),
    or "no face tracked" where the frame has none. ``scale``: the frame's size over the
    source's (a frame rendered scaled down; the points and the heat scale follow it). Also the
    batch report's thumbnail."""
    img = draw_wireframe(frame, meshes.screen(f) * np.float32(scale), meshes.triangles, colour=(0, 255, 0),
                         alpha=max(0.1, wireframe_alpha(len(meshes.triangles))))
    img = draw_landmarks(img, np.asarray(meshes.rec.landmarks68[f]) * scale, colour=(255, 255, 255), radius=1.5)
    if f < track.num_frames and track.valid[f]:
        L = len(meshes.model.embedding)
        img, _ = draw_reprojection_error(img, track.landmarks[f, :L, :2] * scale, meshes.tracker_points(f) * scale,
                                         vmax=vmax * scale, radius=1.5)
    else:
        img = label(img, "no face tracked", (6, frame.shape[0] - 10))
    return img


def write_render_video(source, meshes: ClipMeshes, out_path, frames: int, mode: str, track=None,
                       alpha: float = 0.6, renderer=None, progress: Optional[ProgressFn] = None,
                       cancel: Optional[CancelToken] = None, max_side: int | None = OUTPUT_MAX_SIDE
                       ) -> RenderVideoResult:
    """Write ``frames`` frames of the QA video ``mode`` (see the module docstring).

    source : a core.video VideoSource; track : TrackResult (needed for "overlay");
    renderer : an OffscreenRenderer on this thread or a RenderThread, or None to make an
    OffscreenRenderer here (not on a Qt GUI thread).
    max_side : frames larger than this on their long side are rendered scaled down to it (a
    16000x16000 still took 35 s a frame at its own size); None renders at the source's size.
    """
    from core.video import VideoWriter

    if mode not in MODES:
        raise ValueError(f"unknown render mode {mode!r}; expected one of {MODES}")
    if mode == "overlay" and track is None:
        raise ValueError("mode 'overlay' needs the clip's TrackResult")
    H0, W0 = source.size
    k = min(1.0, max_side / max(H0, W0)) if max_side else 1.0
    H, W = (max(2, round(H0 * k)), max(2, round(W0 * k))) if k < 1 else (H0, W0)
    size = (W, H)

    def shrink(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA) if k < 1 else img

    renderer, owned = renderer_for(meshes, renderer)
    vmax = float("nan")
    try:
        if mode == "overlay":
            err = reprojection_errors(meshes, track, frames)
            vmax = float(np.nanpercentile(err, 99)) if np.isfinite(err).any() else 1.0
            legend = heat_legend(vmax, height=max(60, H // 3), width=60)
        elif mode == "pncc":
            depth_range = tuple(k * d for d in meshes.depth_range(frames))
        elif mode == "textured":
            valid = np.flatnonzero(np.asarray(meshes.rec.valid[:frames]))
            ref = int(valid[0]) if valid.size else 0
            ref_frame = shrink(source.read(ref))
            ref_pixels = meshes.screen(ref)[:, :2] * k
        with VideoWriter(out_path, fps=source.fps, audio_from=source.path or None) as writer:
            fitted = np.asarray(meshes.rec.valid, bool)
            times = source.timestamps  # (a variable frame rate keeps its timing)
            for f, frame in source.frames(0, frames):
                check(cancel)
                frame = shrink(frame)
                if not fitted[f]:
                    # no face in this frame: its fit is only borrowed from the nearest fitted frame
                    # (Reconstruction.valid), so no mesh is drawn; the frame (or black, where the
                    # mode shows the mesh alone) says so
                    blank = mode in ("nmfc", "pncc") or (mode == "shaded" and alpha >= 1)
                    img = label(np.zeros_like(frame) if blank else frame, "no face", (6, H - 10))
                    if mode == "overlay":
                        img = paste(img, legend, "top-right", max_fraction=0.4)
                    writer.write(img, t=float(times[f]))
                    report(progress, f + 1, frames, mode)
                    continue
                v = meshes.screen(f) * np.float32(k)  # (x, y and depth: one scale keeps the order)
                if mode == "overlay":
                    img = paste(overlay_frame(frame, meshes, f, track, vmax, scale=k), legend, "top-right",
                                max_fraction=0.4)
                elif mode == "shaded":
                    out = renderer.render(v, size, "shaded")
                    base = frame if alpha < 1 else np.zeros_like(frame)
                    img = blend_over(base, out.image, out.mask, alpha)
                elif mode == "nmfc":
                    img = renderer.render(v, size, "nmfc").image
                elif mode == "pncc":
                    out = renderer.render(v, size, "none", buffers=True, depth_range=depth_range)
                    img = to_uint8(pncc_from_depth(out.depth, out.mask, depth_range))
                else:  # textured
                    out = renderer.render(v, size, "textured", texture=ref_frame, source_pixels=ref_pixels)
                    img = blend_over(frame, out.image, out.mask, 1.0)
                writer.write(img, t=float(times[f]))
                report(progress, f + 1, frames, mode)
        return RenderVideoResult(writer.frames_written, mode, writer.audio_kept, vmax, (H, W))
    finally:
        if owned:
            renderer.release()
