"""Training a renderer from a target, start to end: what ``main.py train-renderer``, the GUI's
"Train renderer" (in its worker process) and the benchmarks call.

    train_renderer("clip.mp4", "renderers/clip", TrainSettings(hybrid=True, minutes=30),
                   progress=ConsoleProgress("train"))

Stages (progress messages name them): the target is tracked and fitted (a project: its own
reconstruction), the frames prepared (``core.neural.data``), then the training loop
(``core.neural.train.Trainer``) with checkpoints. ``resume=True`` continues the training in
``folder`` exactly where it stopped (the budget counts the time already spent).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.errors import InputError
from core.jobs import CancelToken, ProgressFn, sub_progress
from core.neural import store
from core.neural.data import load_target, prepare_clip
from core.neural.presets import PRESETS
from core.neural.train import Trainer, TrainSettings

#: progress shares: fitting the target, preparing the frames, training
_SHARES = (150, 100, 750)


def train_renderer(target: str, folder: str | Path, settings: TrainSettings, model_spec: str = "builtin",
                   max_frames: int | None = None, resume: bool = False, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None, on_update: Callable[[dict], None] | None = None) -> dict:
    """Train (or, with ``resume``, go on training) a renderer of ``target`` (a video or a project
    folder) into ``folder``. Returns the last update (iteration, seconds, losses, sheet path).
    InputError for a bad target, an unknown preset, a folder that already holds a renderer
    when not resuming, or a checkpoint that does not match; Cancelled when stopped (the folder
    then holds a checkpoint to resume from)."""
    folder = Path(folder)
    if settings.preset not in PRESETS:
        raise InputError(f"--preset {settings.preset}: expected one of {', '.join(PRESETS)}")
    config = PRESETS[settings.preset]
    if config.region == "mouth" and not settings.hybrid:
        # a pure network on the mouth alone would paste a mouth into a head it cannot move
        raise InputError(f"--preset {settings.preset} refines the warp's mouth: it needs --hybrid")
    if settings.minutes is not None and settings.minutes <= 0:
        raise InputError(f"--minutes {settings.minutes}: must be positive")
    if settings.iterations is not None and settings.iterations < 1:
        raise InputError(f"--iterations {settings.iterations}: must be at least 1")
    has_manifest = (folder / store.MANIFEST).is_file()
    if resume and not (folder / store.CHECKPOINT).is_file():
        raise InputError(f"{folder}: nothing to resume (no {store.CHECKPOINT})")
    if not resume and has_manifest:
        raise InputError(f"{folder}: already holds a trained renderer; pass --resume to continue its "
                         "training, or choose another folder")
    total = sum(_SHARES)
    tgt = load_target(target, model_spec, max_frames, progress=sub_progress(progress, 0, _SHARES[0], total,
                                                                             "fitting the target"), cancel=cancel,
                      cache=folder / "data")
    data = prepare_clip(tgt, config.size, settings.hybrid, folder, region=config.region,
                        progress=sub_progress(progress, _SHARES[0], _SHARES[1], total, "preparing frames"),
                        cancel=cancel)
    rec = tgt.face.rec
    # the footage: a project's renderer is its clip's (core.neural.library finds it by either)
    info = dict(source=str(Path(tgt.video).resolve()), image_size=[int(v) for v in rec.image_size],
                model=dict(spec=tgt.model_spec, name=tgt.model.name, vertices=int(tgt.model.num_vertices)))
    trainer = Trainer(data, settings, folder, info)
    if resume:
        trainer.resume()
    start = _SHARES[0] + _SHARES[1]
    return trainer.run(progress=sub_progress(progress, start, _SHARES[2], total, "training"), cancel=cancel,
                       on_update=on_update)
