"""``main.py train-renderer TARGET -o RENDERER_DIR``: train the neural renderer of a target.

TARGET is a video of the target person (tracked and fitted here, as the reenactment fits a
target) or a project folder with its reconstruction. The network (Head2Head++, thesis ch. 7)
learns to render the target from NMFC and eye images (``--hybrid``: and the warp renderer's
output) by self-reenactment on the first 80% of the clip; the last 20% is held out for the
validation sheets. Checkpoints are written every few minutes; ``--resume`` continues a stopped
training exactly where it stopped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands import add_model_argument

NAME = "train-renderer"
HELP = "train-renderer: train the neural renderer (Head2Head++) of a target video or project"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from core.neural.presets import DEFAULT_HYBRID_PRESET, DEFAULT_PRESET, PRESETS

    p.add_argument("target", help="video of the target person, or a project folder with its reconstruction")
    p.add_argument("-o", "--output", default=None, metavar="RENDERER_DIR",
                   help="folder for the trained renderer (default: the per-user renderers folder, where "
                        "reenact --renderer neural and the GUI find it)")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help=f"network size and region (default {DEFAULT_PRESET}, with --hybrid {DEFAULT_HYBRID_PRESET}; "
                        "'paper' is the thesis's network, for a GPU)")
    p.add_argument("--hybrid", action="store_true", default=None,
                   help="also feed the warp renderer's output: the network learns to correct the warp")
    budget = p.add_argument_group("budget (default: 30 minutes)")
    budget.add_argument("--minutes", type=float, default=None, help="training time, counted over resumes")
    budget.add_argument("--iterations", type=int, default=None, help="training steps")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the training in RENDERER_DIR")
    p.add_argument("--seed", type=int, default=0, help="random seed (the same seed repeats a run)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="minutes between checkpoints (default 5)")
    p.add_argument("--snapshots", default="", metavar="M1,M2,...",
                   help="also keep the generator at these training minutes (learning curves)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use only the first N frames of a video")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    add_model_argument(p)


def run(args: argparse.Namespace) -> int:
    from core.errors import InputError
    from core.jobs import ConsoleProgress
    from core.neural import store
    from core.neural.job import train_renderer
    from core.neural.presets import default_preset
    from core.neural.train import TrainSettings

    if args.output is None:
        from core.neural.library import default_folder

        args.output = str(default_folder(args.target))
    preset, hybrid = args.preset, args.hybrid
    if args.resume:
        # a resumed training keeps its network unless the options name one (then they must match)
        m = store.read_manifest(args.output)
        preset = preset or m.get("preset", {}).get("name")
        hybrid = bool(m.get("hybrid")) if hybrid is None else hybrid
    try:
        snapshots = tuple(float(x) for x in args.snapshots.split(",") if x.strip())
    except ValueError as e:
        raise InputError(f"--snapshots {args.snapshots}: expected minutes separated by commas") from e
    settings = TrainSettings(preset=preset or default_preset(bool(hybrid)), hybrid=bool(hybrid), minutes=args.minutes,
                             iterations=args.iterations, device=args.device, seed=args.seed,
                             checkpoint_minutes=args.checkpoint_minutes, snapshots=snapshots, threads=args.threads)
    progress = ConsoleProgress("train-renderer")
    try:
        last = train_renderer(args.target, args.output, settings, model_spec=args.model,
                              max_frames=args.max_frames, resume=args.resume, progress=progress)
    finally:
        progress.close()
    print(f"{args.target} -> {Path(args.output)}: {last.get('iteration')} iterations in "
          f"{last.get('seconds', 0) / 60:.1f} min ({settings.preset}, {'hybrid' if settings.hybrid else 'pure'}); "
          f"validation sheet {last.get('sheet')}", file=sys.stdout)
    return 0
