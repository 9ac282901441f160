"""Offline reenactment: source clip + target (photo or clip) -> output frames / mp4.

    pipe = ReenactmentPipeline(model, TransferSettings(mode="head"))
    stats = pipe.export("source.mp4", "target.jpg", "out.mp4", progress=ConsoleProgress("reenact"))

Steps: track and fit the source and the target (core.tracking, core.fitting),
transfer the source's attributes onto the target (``transfer_sequence``), then render
every output frame into its target frame: the warp (``core.warp.WarpRenderer``), or the
renderer a ``renderer_factory`` makes of that warp (``core.neural.renderer.renderer_factory``: the
neural renderer, whose hybrid network corrects the warp). The output has the
source's length and frame rate and the target's frame size; a target clip shorter
than the source loops. Progress and cancel follow core/jobs.py.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from core.errors import InputError
from core.fitting.settings import FitSettings
from core.jobs import CancelToken, ProgressFn, check, report, sub_progress
from core.model.face_model import FaceModel
from core.reenact.faces import FIT_SETTINGS, FittedFace, from_reconstruction
from core.reenact.still import WORK_MAX_SIDE, load_working_still
from core.reenact.transfer import FaceSequence, TransferSettings, transfer_sequence
from core.tracking.result import TrackResult
from core.warp import FaceRenderer, FrameRequest, WarpRenderer, WarpSettings
from core.warp.mouth import MouthBank


def is_still(spec) -> bool:
    """True when ``spec`` names a single image file (a still target)."""
    from pathlib import Path

    from core.video.images import IMAGE_EXTS

    p = Path(str(spec))
    return p.suffix.lower() in IMAGE_EXTS and p.is_file()


def read_frames(spec, count: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a video, image or folder, from frame 0 (``count`` at most)."""
    from core.video import open_source

    with open_source(spec) as src:
        for _, frame in src.frames(0, count):
            yield frame


@dataclass
class ReenactResult:
    """What an export did: frames written, seconds per stage, output path; for a still
    target, how it was worked on (``target_work``: ``WorkingStill.describe()``) and the size of
    the output frames (H, W)."""

    frames: int = 0
    seconds: dict = field(default_factory=dict)
    output: str = ""
    target_work: str = ""
    target_reduced: bool = False
    output_size: tuple[int, int] = (0, 0)


#: makes the renderer of an output stream from that stream's warp renderer (the neural
#: renderer: ``core.neural.renderer.renderer_factory``); None renders with the warp itself
RendererFactory = Callable[[WarpRenderer], FaceRenderer]


class ReenactmentPipeline:
    """Source reconstruction + target reconstruction -> reenacted frames."""

    def __init__(self, model: FaceModel, transfer: TransferSettings | None = None,
                 warp: WarpSettings | None = None, model_spec: str = "builtin",
                 renderer_factory: RendererFactory | None = None):
        self.model = model
        self.model_spec = model_spec
        self.transfer = transfer or TransferSettings()
        self.warp = warp or WarpSettings()
        self.renderer_factory = renderer_factory

    # -- preparation ------------------------------------------------------------
    def prepare(self, spec, track: TrackResult | None = None, max_frames: int | None = None,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                settings: FitSettings | None = None) -> FittedFace:
        """Track (unless ``track`` is given) and fit one input (``core.fitting.clip.reconstruct_clip``;
        ``settings`` default: the reenactment's landmark fit, ``core.reenact.faces.FIT_SETTINGS``)."""
        from core.fitting.clip import reconstruct_clip

        clip = reconstruct_clip(spec, self.model, settings or FIT_SETTINGS, max_frames=max_frames, track=track,
                                model_spec=self.model_spec, progress=progress, cancel=cancel)
        return from_reconstruction(clip.reconstruction, clip.track, self.model, str(spec))

    def drive(self, source: FittedFace, target: FittedFace) -> tuple[FaceSequence, np.ndarray]:
        """Driven target states for every source frame and the target frame each one shows."""
        F = source.num_frames
        target_frames = np.arange(F) % target.num_frames
        driven = transfer_sequence(source.seq, target.seq, self.transfer, self.model.expression_names,
                                   self.model.expression_bounds, target_frames=target_frames)
        return driven, target_frames

    def mouth_bank(self, target: FittedFace, frames: Iterator[np.ndarray] | None) -> MouthBank | None:
        """Mouth interiors of a target clip (None for a still)."""
        if target.num_frames < 2 or frames is None:
            return None
        bank = MouthBank()
        step = max(1, target.num_frames // 120)
        for j, frame in enumerate(frames):
            if j % step == 0 and target.track.valid[j]:
                bank.add(frame, target.track.landmarks[j, :, :2])
        bank.finish()
        return bank

    # -- rendering --------------------------------------------------------------
    def render_frames(self, source: FittedFace, target: FittedFace, target_spec,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                      still: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Yield the output frames (H, W, 3) RGB uint8, one per source frame.

        still : the still target's picture as it was tracked (a ``WorkingStill`` image); None
        reads it from ``target_spec``."""
        driven, target_frames = self.drive(source, target)
        bank = None
        if self.warp.mouth_fill and target.num_frames > 1:
            bank = self.mouth_bank(target, read_frames(target_spec, target.num_frames))
        renderer = WarpRenderer(self.model, self.warp, mouth_bank=bank)
        if self.renderer_factory is not None:
            renderer = self.renderer_factory(renderer)
        F = len(driven)
        cached_j, cached_face, cached_ref = None, None, None
        # self mode: the source's own fit of the frame the target shows is the reference of the
        # head's motion (core.warp.rigid.head_motion); the target is then a picture of the source.
        # The driven face is the identity's owner (self mode: the source) driven to the state
        self_mode = self.transfer.mode == "self"
        owner = source if self_mode else target
        if still is None and target.num_frames == 1:
            still = next(read_frames(target_spec, 1))
        frames = None
        for i in range(F):
            check(cancel)
            j = int(target_frames[i])
            if still is not None:
                frame = still
            else:
                if frames is None or j == 0:  # (re)start: the target clip loops
                    frames = read_frames(target_spec, target.num_frames)
                frame = next(frames)
            if j != cached_j:
                cached_face = target.target(self.model, j)
                r = min(j, F - 1)
                cached_ref = source.driven(self.model, r, driven.frame(r)) if self_mode else None
                cached_j = j
            d = owner.driven(self.model, i if self_mode else j, driven.frame(i))
            yield renderer.render(FrameRequest(frame, cached_face, d, j, cached_ref)).image
            report(progress, i + 1, F)

    def export(self, source_spec, target_spec, output, max_frames: int | None = None,
               keep_audio: bool = True, progress: ProgressFn | None = None,
               cancel: CancelToken | None = None, max_side: int = WORK_MAX_SIDE,
               full_size: bool = False) -> ReenactResult:
        """Reenact ``source_spec`` onto ``target_spec`` and write ``output`` (mp4 with the source's audio).

        A still target larger than ``max_side`` pixels is worked on at a bounded resolution
        (core.reenact.still) and the output has the working image's size, unless ``full_size``:
        then each frame is put back into the picture at its own size.
        """
        from core.video import VideoWriter, open_source

        res = ReenactResult(output=str(output))
        total = 1000
        t0 = time.perf_counter()
        with open_source(source_spec) as probe_src:
            if probe_src.is_live:
                raise InputError(f"{source_spec}: a live source cannot be exported offline; "
                                 "use the live preview")
            fps = float(probe_src.fps) or 30.0
            times = probe_src.timestamps  # output frame i shows source frame i, at its time
        source = self.prepare(source_spec, max_frames=max_frames,
                              progress=sub_progress(progress, 0, 300, total, "source"), cancel=cancel)
        work = None
        if is_still(target_spec):
            from core.tracking.tracker import track_image

            work = load_working_still(target_spec, max_side, keep_full=full_size,
                                      progress=sub_progress(progress, 300, 50, total, "loading the target"))
            res.target_work, res.target_reduced = work.describe(), work.reduced
            check(cancel)
            report(progress, 350, total, "target: tracking")
            target = self.prepare(target_spec, track=track_image(work.image, source=str(target_spec)),
                                  progress=sub_progress(progress, 350, 50, total, "target"), cancel=cancel)
        else:
            target = self.prepare(target_spec, max_frames=None if max_frames is None else max(max_frames, 1),
                                  progress=sub_progress(progress, 300, 100, total, "target"), cancel=cancel)
        res.seconds["prepare"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        audio = str(source_spec) if keep_audio else None
        compose = work is not None and full_size and work.reduced
        with VideoWriter(output, fps=fps, audio_from=audio) as writer:
            for frame in self.render_frames(source, target, target_spec,
                                            progress=sub_progress(progress, 400, 600, total, "rendering"),
                                            cancel=cancel, still=None if work is None else work.image):
                writer.write(work.compose_full(frame) if compose else frame,
                             t=float(times[res.frames]) if res.frames < len(times) else res.frames / fps)
                res.frames += 1
        res.output_size = tuple(writer.size or (0, 0))
        res.seconds["render"] = time.perf_counter() - t1
        return res
