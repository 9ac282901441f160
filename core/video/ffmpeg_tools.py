"""The ffmpeg binary bundled with imageio-ffmpeg: locating it, probing files, scanning packets.

We never parse container formats ourselves. ``probe`` reads the summary ffmpeg
prints for ``ffmpeg -i FILE``; ``scan_video_packets`` lists the video packets
(timestamps and flags) with a stream copy, which reads the container but decodes
nothing, so it takes ~0.1 s even for long clips. Both are used by the video sources
(real frame count, exact seeking) and by tests elsewhere (does an export have audio?).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from core.errors import InputError


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with the imageio-ffmpeg wheel (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], timeout: float = 600.0, stdin=None) -> subprocess.CompletedProcess:
    """Run ffmpeg with ``args`` (no banner, never interactive); returns the completed process."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=stdin)


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM_RE = re.compile(r"Stream #\d+:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?:\s*"
                        r"(Video|Audio|Subtitle|Data):\s*([^\s,]+)(.*)")
_SIZE_RE = re.compile(r",\s*(\d{1,6})x(\d{1,6})[\s,\[]")
_FPS_RE = re.compile(r",\s*([\d.]+)(k?)\s+fps")
_TBR_RE = re.compile(r",\s*([\d.]+)(k?)\s+tbr")
_HZ_RE = re.compile(r",\s*(\d+)\s+Hz")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees")
_SAR_RE = re.compile(r"\[SAR (\d+):(\d+) DAR \d+:\d+\]")


def _num(value: str, kilo: str) -> float:
    return float(value) * (1000.0 if kilo else 1.0)


def _starts_like_mp4(path: Path) -> bool:
    """True when the file begins with an ISO-BMFF 'ftyp' box (MP4/MOV/3GP)."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def probe(path: str | Path, count_frames: bool = True) -> dict:
    """Describe a media file from ``ffmpeg -i`` output.

    Returns a dict with keys
      ``path``; ``streams``: list of dicts (``index``, ``type`` "video"/"audio"/...,
      ``codec``, plus ``width``, ``height``, ``fps`` for video, ``sample_rate`` for audio);
      ``duration`` seconds (or None); ``has_audio``; ``has_video``; ``width``, ``height``, ``fps``
      of the first video stream (stored size, before rotation); ``rotation``: clockwise degrees
      (0/90/180/270) that turn the stored frames upright; ``sample_aspect``: the first video
      stream's sample (pixel) aspect ratio as a Fraction, width over height of one stored pixel
      (1 when the file says nothing, or 0:1); ``frame_count``: presented frames of the first
      video stream counted from its packets (-1 when ``count_frames`` is False or there is no
      video).
    Raises InputError when the file is missing or ffmpeg cannot read it.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    proc = run_ffmpeg(["-i", str(p)], timeout=60)
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        if "moov atom not found" in text and _starts_like_mp4(p):
            # the index of an MP4/MOV is written last: a cut-off download or a recording
            # that was never finished has none, and nothing in it can be located
            raise InputError(f"{p}: the file is incomplete (truncated download or unfinished "
                             "recording: its MP4 index, the 'moov' atom, is missing)")
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise InputError(f"{p}: ffmpeg cannot read this file ({last})")

    info: dict = {"path": str(p), "streams": [], "duration": None, "has_audio": False,
                  "has_video": False, "width": 0, "height": 0, "fps": 0.0, "rotation": 0,
                  "sample_aspect": Fraction(1), "frame_count": -1}
    m = _DURATION_RE.search(text)
    if m:
        h, mi, s = m.groups()
        info["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)

    lines = text.splitlines()
    first_video_line = None
    for n, line in enumerate(lines):
        sm = _STREAM_RE.search(line)
        if not sm:
            continue
        index, kind, codec, rest = int(sm.group(1)), sm.group(2).lower(), sm.group(3), sm.group(4)
        stream = {"index": index, "type": kind, "codec": codec}
        if kind == "video":
            size = _SIZE_RE.search(rest + " ")
            if size:
                stream["width"], stream["height"] = int(size.group(1)), int(size.group(2))
            fps = _FPS_RE.search(rest) or _TBR_RE.search(rest)
            stream["fps"] = _num(*fps.groups()) if fps else 0.0
            if first_video_line is None:
                first_video_line = n
                info["has_video"] = True
                info["width"], info["height"] = stream.get("width", 0), stream.get("height", 0)
                info["fps"] = stream["fps"]
                sar = _SAR_RE.search(rest)
                if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
                    info["sample_aspect"] = Fraction(int(sar.group(1)), int(sar.group(2)))
                # The display matrix, if any, is printed in the lines under its stream.
                for sub in lines[n + 1:]:
                    if _STREAM_RE.search(sub) or not sub.startswith("    "):
                        break
                    rm = _ROTATION_RE.search(sub)
                    if rm:
                        # ffmpeg prints the counter-clockwise display rotation.
                        info["rotation"] = int(round(-float(rm.group(1)))) % 360
        elif kind == "audio":
            info["has_audio"] = True
            hz = _HZ_RE.search(rest)
            stream["sample_rate"] = int(hz.group(1)) if hz else 0
        info["streams"].append(stream)

    if count_frames and info["has_video"]:
        info["frame_count"] = len(scan_video_packets(p).pts)
    return info


@dataclass
class PacketScan:
    """Video packets of the first video stream, in presentation order.

    ``pts``: presentation timestamps in seconds of the frames a decoder shows (packets the
    container marks as discarded, e.g. pre-roll cut by an mp4 edit list, are left out),
    sorted ascending. ``partial``: the file ended inside the data (truncated download);
    ``corrupt_packets``: packets flagged corrupt (dropped from ``pts``).
    ``keyframe_pts``: timestamps (s) of the keyframes among ``pts``, ascending.
    """

    pts: list[float]
    partial: bool
    corrupt_packets: int
    keyframe_pts: list[float]


_TB_RE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.MULTILINE)


def scan_video_packets(path: str | Path) -> PacketScan:
    """List the first video stream's packets with a stream copy (no decoding)."""
    p = Path(path)
    proc = run_ffmpeg(["-i", str(p), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], timeout=300)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    tb_match = _TB_RE.search(out)
    if proc.returncode != 0 or tb_match is None:
        last = err.strip().splitlines()[-1] if err.strip() else "no output"
        raise InputError(f"{p}: cannot read the video stream ({last})")
    tb = Fraction(int(tb_match.group(1)), int(tb_match.group(2)))
    pts: list[float] = []
    keys: list[float] = []
    corrupt = 0
    for line in out.splitlines():
        if not line.startswith("0,"):
            continue
        fields = [f.strip() for f in line.split(",")]
        flags = 0x1  # framecrc prints F= only when the flags are not just "keyframe"
        if fields[-1].startswith("F=0x"):
            flags = int(fields[-1][4:], 16)
        if flags & 0x4:  # AV_PKT_FLAG_DISCARD: decoded for reference, never shown
            continue
        if flags & 0x2:  # AV_PKT_FLAG_CORRUPT
            corrupt += 1
            continue
        stamp = fields[2] if fields[2].lstrip("-").isdigit() else fields[1]  # pts, else dts
        if not stamp.lstrip("-").isdigit():
            continue
        pts.append(float(int(stamp) * tb))
        if flags & 0x1:  # AV_PKT_FLAG_KEY
            keys.append(pts[-1])
    pts.sort()
    keys.sort()
    partial = "partial file" in err or "Truncat" in err or "truncat" in err
    return PacketScan(pts=pts, partial=partial, corrupt_packets=corrupt, keyframe_pts=keys)
