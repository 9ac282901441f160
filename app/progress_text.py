"""What a job's progress says: the stage, real counts, the rate and the time left.

Core reports ``(done, total, message)``. A message that ends in counts ("tracking 120/587",
"source: tracking 5/60", "fitting: whole-video fit 2/3 rounds": what they count after them,
else frames for the stages that go through frames) names a stage and its own progress; a
job whose ``done`` / ``total`` count things itself (tracking: frames) says so with ``unit``. :class:`ProgressText` turns
the reports into a status line ("Tracking d6.mp4: 120 / 587 frames, 23.4 frames/s, about
20 s left") and a short progress-bar text ("tracking 120/587"), the rate measured over the
last few seconds of the stage. Qt-free, so it is tested without a display.
"""
from __future__ import annotations

import re
import time
from collections import deque

#: a message ending in counts, with what they count when it says so ("whole-video fit 2/3 rounds")
_COUNTS = re.compile(r"^(?P<stage>.*?)[\s:]*(?P<done>\d+)\s*/\s*(?P<total>\d+)(?:\s+(?P<unit>[a-z]+))?\s*$")
#: the rate is measured over this many seconds of a stage
RATE_WINDOW_S = 5.0
#: and said only once the stage has run this long (the first reports say nothing yet)
RATE_MIN_SPAN_S = 1.0


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min``."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressText:
    """Progress of one job as text (see the module docstring).

    ``name``: the job ("Tracking"); ``subject``: what it works on ("d6.mp4", or "");
    ``unit``: what the job's own done/total count ("frames"), or "" when they are only a scale.
    """

    def __init__(self, name: str, subject: str = "", unit: str = ""):
        self.name, self.subject, self.unit = name, subject, unit
        self._stage: str | None = None
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int, total: int, message: str = "", now: float | None = None) -> tuple[str, str]:
        """(status line, progress-bar text) for a report."""
        now = time.monotonic() if now is None else now
        message = (message or "").strip()
        m = _COUNTS.match(message)
        if m:
            stage, count, of = m.group("stage").strip(" :"), int(m.group("done")), int(m.group("total"))
            unit = m.group("unit") or self._unit_of(m.group("stage"))
        elif self.unit and total > 0:
            stage, count, of, unit = message, int(done), int(total), self.unit
        else:
            stage, count, of, unit = message, None, None, ""
        head = f"{self.name} {self.subject}".strip()
        if count is None:
            pct = f" ({100 * done // total}%)" if total > 0 else ""
            status = f"{head}: {stage}{pct}" if stage else f"{head}...{pct}"
            return status, (f"{stage} {100 * done // total}%" if total > 0 and stage else
                            (f"{100 * done // total}%" if total > 0 else stage or self.name))
        rate = self._rate(stage, count, now)
        # the job's own verb is not a stage ("Tracking d6.mp4: 120 / 587 frames", not "...: tracking 120 / ...")
        said = "" if stage.lower() == self.name.lower() else stage
        parts = [f"{said} {count} / {of}" + (f" {unit}" if unit else "") if said else
                 f"{count} / {of}" + (f" {unit}" if unit else "")]
        if rate is not None and rate > 0:
            parts.append(f"{rate:.1f} {unit or 'steps'}/s")
            if of > count:
                parts.append(f"about {format_duration((of - count) / rate)} left")
        return f"{head}: " + ", ".join(parts), (f"{stage} {count}/{of}" if stage else f"{count}/{of}")

    def _unit_of(self, stage: str) -> str:
        s = stage.lower()
        return "frames" if any(w in s for w in ("track", "frame", "render", "fit", "export", "reenact")) else ""

    def _rate(self, stage: str, count: int, now: float) -> float | None:
        if stage != self._stage:
            self._stage = stage
            self._samples.clear()
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        t0, c0 = self._samples[0]
        if now - t0 < RATE_MIN_SPAN_S or count <= c0:
            return None
        return (count - c0) / (now - t0)
