"""A clip's folder in a batch's OUTDIR and the record that says it is complete.

``OUTDIR/<clip-id>/``::

    metrics.json        the record (below); written last, atomically: the commit point
    project/            the reconstruction and track as a project (a whole clip): opens in the GUI
    reconstruction.npz  the reconstruction and track of a clip cut short by --max-frames
    track.npz           (a project covers its source frame for frame); track.npz alone: --steps track
    thumbnail.jpg       the worst-fitting frame with the mesh (the report's picture)
    flow.mp4            --steps flow: the dense 3D flow QA video
    overlay.mp4         --steps render: the mesh and fit-error QA video
    .attempts.json      how many times this run started the clip (removed when it ends)

``metrics.json`` holds ``format``, ``version``, ``clip_id``, ``input`` (path, bytes, mtime_ns,
sha256), ``request`` (steps, model, max_frames: what was asked), ``status`` ("done" or
"failed"), ``error`` (one line for the user) and ``error_type`` when failed, the fit figures
(core/batch/metrics.py), ``usage`` (wall / CPU seconds per step, peak memory), ``attempt``,
``worker``, ``code`` (fingerprint of the fitting code) and ``outputs``: every file written,
with its size and sha256, relative to the clip folder.

A clip is complete (``--resume`` skips it) when its record says done, was made for the same
request, its input still has the recorded size and modification time, and every output
listed still has the recorded size and sha256. Anything else (no record, a failed clip, a
truncated or edited output, a changed input) is recomputed from the start.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from core.atomic import write_text_atomic
from core.checksum import sha256_of

RECORD_NAME = "metrics.json"
ATTEMPTS_NAME = ".attempts.json"
FORMAT = "facestudio.batch.clip"
VERSION = 1
#: every name a clip's processing may write (cleared before a clip is computed again)
OUTPUT_NAMES = ("project", "reconstruction.npz", "track.npz", "thumbnail.jpg", "flow.mp4", "overlay.mp4")


def input_fingerprint(path: str) -> dict:
    """Size and modification time of an input file (for an image folder: its files' total size
    and newest time): what ``--resume`` compares, cheaply, to see that an input is unchanged."""
    p = Path(path)
    if p.is_dir():
        files = [q for q in p.iterdir() if q.is_file()]
        stats = [q.stat() for q in files]
        return dict(bytes=sum(s.st_size for s in stats), mtime_ns=max((s.st_mtime_ns for s in stats), default=0),
                    files=len(files))
    st = p.stat()
    return dict(bytes=st.st_size, mtime_ns=st.st_mtime_ns)


def output_entries(clip_dir: Path, names) -> dict[str, dict]:
    """{relative path: {"bytes", "sha256"}} of the files ``names`` in ``clip_dir`` (a folder
    name stands for every file under it, hidden ones excepted: a project's lock or temp files)."""
    out = {}
    for name in names:
        p = clip_dir / name
        files = sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")) if p.is_dir() else [p]
        for q in files:
            out[q.relative_to(clip_dir).as_posix()] = dict(bytes=q.stat().st_size, sha256=sha256_of(q))
    return out


def read_record(clip_dir: Path) -> dict | None:
    """The clip's record, or None when there is none or it cannot be read (a damaged record is
    no record: the clip is computed again)."""
    try:
        rec = json.loads((Path(clip_dir) / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        return None
    return rec


def write_record(clip_dir: Path, record: dict) -> None:
    """Write ``metrics.json`` atomically (NaN figures as null: the file stays strict JSON)."""
    write_text_atomic(Path(clip_dir) / RECORD_NAME, json.dumps(_finite(record), indent=1, allow_nan=False))


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def incomplete_reason(clip_dir: Path, record: dict | None, request: dict, input_path: str) -> str | None:
    """None when the clip is complete for ``request`` (see the module docstring), else why not."""
    if record is None:
        return "no record"
    if record.get("status") != "done":
        return f"status {record.get('status')!r}"
    if record.get("request") != request:
        return "made for other settings"
    try:
        now = input_fingerprint(input_path)
    except OSError:
        return "input unreadable"
    was = record.get("input") or {}
    if any(was.get(k) != v for k, v in now.items()):
        return "input changed"
    for rel, entry in (record.get("outputs") or {}).items():
        p = Path(clip_dir) / rel
        try:
            if p.stat().st_size != entry.get("bytes") or sha256_of(p) != entry.get("sha256"):
                return f"{rel} differs from its checksum"
        except OSError:
            return f"{rel} missing"
    return None


def clear_outputs(clip_dir: Path) -> None:
    """Remove the record, every output of an earlier computation of the clip and the temporary
    files of writes that a killed worker left (before the clip is computed again, so that no
    old record vouches for files being rewritten)."""
    clip_dir = Path(clip_dir)
    (clip_dir / RECORD_NAME).unlink(missing_ok=True)
    leftovers = [p.name for p in clip_dir.glob(".*") if p.name != ATTEMPTS_NAME]  # temp files of a killed write
    for name in (*OUTPUT_NAMES, *leftovers):
        p = clip_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def next_attempt(clip_dir: Path, run_id: str) -> int:
    """Count one more start of the clip in run ``run_id`` and return the count (1 the first
    time). Kept on disk, so a start after a worker died mid-clip (killed, out of memory, a crash
    in native code) counts, whichever worker the scheduler gives it to; a count of another run
    (an earlier, resumed run) starts again at 1."""
    p = Path(clip_dir) / ATTEMPTS_NAME
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        n = int(data["count"]) if data.get("run") == run_id else 0
    except (OSError, ValueError, KeyError, TypeError):
        n = 0
    write_text_atomic(p, json.dumps(dict(run=run_id, count=n + 1)))
    return n + 1


def clear_attempts(clip_dir: Path) -> None:
    """The clip ended (done or failed): forget its starts."""
    (Path(clip_dir) / ATTEMPTS_NAME).unlink(missing_ok=True)


def worker_name() -> str:
    """host:pid of this process (the record's ``worker``)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
