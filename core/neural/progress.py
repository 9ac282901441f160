"""The training's progress messages, written by ``core.neural.train`` and read back by the GUI's
training view (torch-free, so the GUI can import it at start-up).

    progress_message(12, 0.41, 3.009, 245)  ->  "iteration 12  0.41 it/s  G 3.009  ETA 4:05"
"""
from __future__ import annotations

import re

_PROGRESS = re.compile(r"iteration (\d+)\s+([0-9.]+) it/s\s+G ([0-9.eE+-]+|nan|inf)\s+ETA (\d+):(\d\d)")


def fmt_eta(seconds: float) -> str:
    """Seconds as M:SS."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


_PROGRESS = re.compile(r"iteration (\d+)\s+([0-9.]+) it/s\s+G ([0-9.eE+-]+|nan|inf)\s+ETA (\d+):(\d\d)")


def progress_message(iteration: int, its_per_s: float, loss_g: float, eta_s: float) -> str:
    """A training step's progress message, e.g. "iteration 12  0.41 it/s  G 3.009  ETA 4:05"."""
    return f"iteration {iteration}  {its_per_s:.2f} it/s  G {loss_g:.3f}  ETA {fmt_eta(eta_s)}"


def parse_progress(message: str) -> dict | None:
    """What ``progress_message`` wrote (anywhere in ``message``, e.g. after a stage prefix):
    {"iteration", "its_per_s", "g", "eta_s"}; None for any other message."""
    m = _PROGRESS.search(message or "")
    if m is None:
        return None
    return dict(iteration=int(m.group(1)), its_per_s=float(m.group(2)), g=float(m.group(3)),
                eta_s=int(m.group(4)) * 60 + int(m.group(5)))


