"""Per-frame presentation times in an MP4 written by ``VideoWriter``.

ffmpeg takes raw frames from a pipe at one constant rate: a variable-frame-rate clip
(a phone's video: frames 1/60 s apart here, 1/20 s there) written that way is re-timed at
its average rate, and its audio drifts against it (30 frames spanning 1.0 s lasted 1.33 s).
There is no way to hand ffmpeg a timestamp per raw frame, so the writer encodes at a
constant rate, then this module rewrites the video track's sample durations (the
``stts`` table) to the source's own timestamps and the durations that depend on them
(``mdhd``, ``tkhd``, ``mvhd``, ``elst``), before the file is remuxed with its index at the
front. It handles exactly the files the writer makes: one video track, no B-frames (so
decode order is presentation order and there is no ``ctts``), the ``moov`` box last.
"""
from __future__ import annotations

import statistics
import struct
from pathlib import Path
from typing import Sequence

#: boxes that hold other boxes on the way to the sample table
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


class _Box:
    """An MP4 box: its type and either its payload (leaf) or its children (container)."""

    def __init__(self, kind: bytes, payload: bytes = b"", children: list | None = None):
        self.kind, self.payload, self.children = kind, payload, children

    def find(self, kind: bytes) -> "_Box | None":
        return next((c for c in self.children or [] if c.kind == kind), None)

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.children is not None else self.payload
        if len(body) + 8 < 2**32:
            return struct.pack(">I4s", len(body) + 8, self.kind) + body
        return struct.pack(">I4sQ", 1, self.kind, len(body) + 16) + body


def _parse(data: bytes, kind: bytes) -> _Box:
    if kind not in _CONTAINERS:
        return _Box(kind, data)
    children, i = [], 0
    while i + 8 <= len(data):
        size, sub = struct.unpack(">I4s", data[i:i + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[i + 8:i + 16])[0], 16
        elif size == 0:
            size = len(data) - i
        if size < head or i + size > len(data):
            raise ValueError(f"a damaged {sub!r} box in {kind!r}")
        children.append(_parse(data[i + head:i + size], sub))
        i += size
    return _Box(kind, children=children)


def _top_level(f) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the file's top-level boxes."""
    f.seek(0, 2)
    end = f.tell()
    out, pos = [], 0
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
        elif size == 0:
            size = end - pos
        if size < 8:
            raise ValueError(f"a damaged top-level box {kind!r}")
        out.append((kind, pos, size))
        pos += size
    return out


def _set_duration(box: _Box, offsets: tuple[int, int], duration: int) -> None:
    """Write ``duration`` into a full box whose duration field is at ``offsets`` (version 0,
    version 1) bytes into its payload (32 or 64 bits by version)."""
    p = bytearray(box.payload)
    if p[0] == 1:
        struct.pack_into(">Q", p, offsets[1], duration)
    else:
        struct.pack_into(">I", p, offsets[0], min(duration, 2**32 - 1))
    box.payload = bytes(p)


def _timescale(box: _Box, offsets: tuple[int, int]) -> int:
    return struct.unpack_from(">I", box.payload, offsets[box.payload[0] == 1])[0]


def set_frame_times(path: str | Path, times: Sequence[float]) -> float:
    """Give the video track of ``path`` the presentation times ``times`` (seconds, one per
    frame, increasing). The last frame lasts the median frame interval. Returns the
    track's new duration in seconds. ValueError when the file is not one the writer made."""
    path = Path(path)
    with open(path, "r+b") as f:
        boxes = _top_level(f)
        moov = [b for b in boxes if b[0] == b"moov"]
        if not moov or moov[0] != boxes[-1]:
            raise ValueError(f"{path}: the moov box is not the last box")
        _, offset, size = moov[0]
        f.seek(offset)
        raw = f.read(size)
        head = 16 if struct.unpack(">I", raw[:4])[0] == 1 else 8
        tree = _parse(raw[head:], b"moov")
        traks = [t for t in tree.children if t.kind == b"trak"]
        if len(traks) != 1:
            raise ValueError(f"{path}: {len(traks)} tracks (the writer makes one)")
        trak = traks[0]
        mdia = trak.find(b"mdia")
        mdhd, stbl = mdia.find(b"mdhd"), mdia.find(b"minf").find(b"stbl")
        if stbl.find(b"ctts") is not None:
            raise ValueError(f"{path}: the video has B-frames (a ctts box)")
        stts = stbl.find(b"stts")
        scale = _timescale(mdhd, (12, 20))
        samples = sum(struct.unpack_from(">I", stts.payload, 8 + 8 * k)[0]
                      for k in range(struct.unpack_from(">I", stts.payload, 4)[0]))
        if samples != len(times):
            raise ValueError(f"{path}: {samples} frames in the file, {len(times)} times given")
        ticks = [round(float(t) * scale) for t in times]
        deltas = [max(1, b - a) for a, b in zip(ticks, ticks[1:])]
        deltas.append(int(statistics.median_low(deltas)) if deltas else scale // 30 or 1)
        entries: list[list[int]] = []
        for d in deltas:  # run-length: (count, delta)
            if entries and entries[-1][1] == d:
                entries[-1][0] += 1
            else:
                entries.append([1, d])
        stts.payload = stts.payload[:4] + struct.pack(">I", len(entries)) + b"".join(
            struct.pack(">II", n, d) for n, d in entries)
        duration = sum(deltas)
        _set_duration(mdhd, (16, 24), duration)
        movie_scale = _timescale(tree.find(b"mvhd"), (12, 20))
        movie_duration = round(duration * movie_scale / scale)
        _set_duration(tree.find(b"mvhd"), (16, 24), movie_duration)
        _set_duration(trak.find(b"tkhd"), (20, 28), movie_duration)
        edts = trak.find(b"edts")
        elst = edts.find(b"elst") if edts is not None else None
        if elst is not None:  # the one edit that shows the media: its length
            p = bytearray(elst.payload)
            v1 = p[0] == 1
            for k in range(struct.unpack_from(">I", p, 4)[0]):
                at = 8 + k * (20 if v1 else 12)
                media_time = struct.unpack_from(">q" if v1 else ">i", p, at + (8 if v1 else 4))[0]
                if media_time >= 0:
                    struct.pack_into(">Q" if v1 else ">I", p, at, movie_duration)
            elst.payload = bytes(p)
        f.seek(offset)
        f.truncate()
        f.write(tree.encode())
    return duration / scale
