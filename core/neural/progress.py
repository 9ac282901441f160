"""The training's progress messages, written by ``core.neural.train`` and read back by the GUI's
training view (torch-free, so the GUI can import it at start-up).

    progress_message(12, 0.41, 3.009, 245, 0.712)  ->  "iteration 12  0.41 it/s  G 3.009  D 0.712  ETA 4:05"
"""
from __future__ import annotations

import re

_NUMBER = r"([0-9.eE+-]+|nan|inf)"
_PROGRESS = re.compile(rf"iteration (\d+)\s+([0-9.]+) it/s\s+G {_NUMBER}(?:\s+D {_NUMBER})?\s+ETA (\d+):(\d\d)")


def fmt_eta(seconds: float) -> str:
    """Seconds as M:SS."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def progress_message(iteration: int, its_per_s: float, loss_g: float, eta_s: float,
                     loss_d: float | None = None) -> str:
    """A training step's progress message, e.g. "iteration 12  0.41 it/s  G 3.009  D 0.712  ETA
    4:05"; ``loss_d``: the three discriminators' losses summed (Eqs 7.7-7.9; None without GAN)."""
    d = f"  D {loss_d:.3f}" if loss_d is not None else ""
    return f"iteration {iteration}  {its_per_s:.2f} it/s  G {loss_g:.3f}{d}  ETA {fmt_eta(eta_s)}"


def parse_progress(message: str) -> dict | None:
    """What ``progress_message`` wrote (anywhere in ``message``, e.g. after a stage prefix):
    {"iteration", "its_per_s", "g", "d" (None when absent), "eta_s"}; None for any other message."""
    m = _PROGRESS.search(message or "")
    if m is None:
        return None
    return dict(iteration=int(m.group(1)), its_per_s=float(m.group(2)), g=float(m.group(3)),
                d=float(m.group(4)) if m.group(4) is not None else None,
                eta_s=int(m.group(5)) * 60 + int(m.group(6)))


