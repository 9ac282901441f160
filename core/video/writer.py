"""Writing video: H.264 mp4 through the bundled ffmpeg, keeping a source's audio; PNG sequences.

    with VideoWriter("out.mp4", fps=src.fps, audio_from=src.path) as w:
        for _, frame in src:
            w.write(frame)            # (H, W, 3) uint8 RGB

The file appears only when the writer closes successfully: frames go to a hidden
temporary file next to the target (``.NAME.PID.N.partial.mp4``), which is renamed over it at
the end (an aborted export never leaves a half-written video under the real name). A
missing output folder is created. A failed write (read-only file system, full disk) raises
OutputError naming the target and the cause; cleaning up after it never hides that error.
Partial files left by a process that was killed outright (``kill -9``, a power cut) are
removed by the next writer to the same target.
"""
from __future__ import annotations

import itertools
import os
import re
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Optional, Union

import cv2
import numpy as np

from core.atomic import ensure_folder, pid_alive, remove_quietly
from core.errors import InputError, OutputError, UserFacingError, output_error
from core.video.ffmpeg_tools import ffmpeg_exe, probe, run_ffmpeg

#: x264 constant-rate factors: lower is better quality and bigger files.
QUALITY_CRF = {"high": 18, "medium": 23, "low": 28}
VIDEO_OUT_EXTS = (".mp4", ".m4v", ".mov", ".mkv")
#: the longest side of the videos the commands write from huge pictures unless asked for the
#: source's size (``--full-size``): work and output stay those of ordinary footage
#: (core.reenact.still says why 2048)
OUTPUT_MAX_SIDE = 2048
#: what ffmpeg prints when the output cannot be written (its log's last line is the cause)
_WRITE_FAILURES = ("No space left", "Read-only file system", "Permission denied", "Disk quota",
                   "Input/output error")
_serial = itertools.count()


def _cause_line(lines: list[str]) -> str:
    """The line of an ffmpeg log that says why it failed (see ``VideoWriter._ffmpeg_log``)."""
    for line in lines:
        if any(k in line for k in _WRITE_FAILURES):
            return line.strip()
    return lines[-1].strip() if lines else "ffmpeg error"


def partial_name(path: Path, pid: int, n: int) -> Path:
    """The hidden temporary file a writer to ``path`` fills: ``.STEM.PID.N.partial.SUFFIX``."""
    return path.with_name(f".{path.stem}.{pid}.{n}.partial{path.suffix}")


def remove_stale_partials(path: Path) -> list[Path]:
    """Delete the temporary files of writers to ``path`` whose process no longer exists
    (killed outright, so no cleanup ran). Returns what was removed."""
    pattern = re.compile(rf"^\.{re.escape(path.stem)}\.(\d+)(?:\.\d+)?\.(?:partial|audio){re.escape(path.suffix)}$")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            remove_quietly(path.parent / name)
            removed.append(path.parent / name)
    return removed


class VideoWriter:
    """H.264 (yuv420p) video writer.

    ``path``: output file (.mp4, .m4v, .mov or .mkv). ``fps``: frame rate.
    ``size``: (H, W) of the frames, or None to take it from the first frame; frames of
    another size raise ValueError. yuv420p needs even sides, so an odd width or height
    is padded by one pixel at the right or bottom (the edge pixels repeated) and
    ``output_size`` tells the stored (H, W).
    ``audio_from``: a media file whose first audio track is copied into the output,
    trimmed to the video's length (nothing happens if it has no audio or is a folder of
    images; ``audio_kept`` says which; a missing file raises InputError). ``quality``: "high",
    "medium", "low" or an x264 CRF number (0-51). ``pixel_aspect``: width over height of one
    pixel as the frames are meant to be seen (a source's ``pixel_aspect``); written into the
    file as its sample aspect ratio, so players show it at that shape (1: square pixels).
    """

    def __init__(self, path: Union[str, Path], fps: float, size: Optional[tuple[int, int]] = None,
                 audio_from: Union[str, Path, None] = None, quality: Union[str, int] = "high",
                 pixel_aspect: float = 1.0):
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_OUT_EXTS:
            raise InputError(f"{self.path}: cannot write video with extension "
                             f"'{self.path.suffix}'; use one of {', '.join(VIDEO_OUT_EXTS)}")
        if not (fps and 0 < fps <= 1000):
            raise ValueError(f"fps must be in (0, 1000], got {fps}")
        self.fps = float(fps)
        self.crf = QUALITY_CRF[quality] if isinstance(quality, str) else int(quality)
        if not 0 <= self.crf <= 51:
            raise ValueError(f"quality must be high/medium/low or a CRF in 0..51, got {quality}")
        if not (pixel_aspect and 0.1 <= pixel_aspect <= 10):
            raise ValueError(f"pixel_aspect must be in [0.1, 10], got {pixel_aspect}")
        self.pixel_aspect = Fraction(pixel_aspect).limit_denominator(1000)
        self.audio_from = Path(audio_from) if audio_from else None
        self._audio = False
        # A folder of images (a valid source) simply has no audio; a missing file is an error.
        if self.audio_from is not None and not self.audio_from.is_dir():
            self._audio = bool(probe(self.audio_from, count_frames=False)["has_audio"])
        self.audio_kept = False
        self.size = tuple(size) if size is not None else None
        self.output_size: Optional[tuple[int, int]] = None
        self.frames_written = 0
        ensure_folder(self.path.parent)
        remove_stale_partials(self.path)
        self._tmp = partial_name(self.path, os.getpid(), next(_serial))
        # fail now, before any frame is computed, when the folder cannot take the file
        try:
            with open(self._tmp, "xb"):
                pass
        except OSError as e:
            raise output_error(self.path, e) from e
        self._proc: Optional[subprocess.Popen] = None
        self._log = None
        self._closed = False
        #: presentation times (s) of the frames written, when the caller gives them
        self._times: Optional[list[float]] = None
        #: seconds of video written (frames / fps, or from the frames' own times)
        self.duration = 0.0

    # -- writing ----------------------------------------------------------------------
    def _start(self, h: int, w: int, timed: bool = False) -> None:
        self.size = (h, w)
        self.output_size = (h + h % 2, w + w % 2)
        oh, ow = self.output_size
        try:
            self._log = tempfile.TemporaryFile()
        except OSError as e:
            raise output_error(tempfile.gettempdir(), e, "cannot create a temporary file") from e
        # frames with their own times: no B-frames (decode order = presentation order, so
        # core.video.mp4_timing can give each frame its time), a fine time base, the index
        # last (moved to the front when the times are in)
        timing = ["-bf", "0", "-video_track_timescale", "90000"] if timed else ["-movflags", "+faststart"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{ow}x{oh}", "-r", f"{self.fps:.6g}",
               "-i", "-", "-an", "-c:v", "libx264", "-preset", "fast", "-crf", str(self.crf),
               "-pix_fmt", "yuv420p", *timing, str(self._tmp)]
        if self.pixel_aspect != 1:
            sar = self.pixel_aspect
            cmd[cmd.index("-an"):cmd.index("-an")] = ["-vf", f"setsar={sar.numerator}/{sar.denominator}"]
        # its own process group: a Ctrl+C in the terminal reaches this process only, which
        # then ends ffmpeg itself (abort) after deleting nothing it still writes to
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log, process_group=0)

    def write(self, frame: np.ndarray, t: Optional[float] = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame; ``t``: its presentation time in seconds from
        the first frame (give it for every frame of a variable-frame-rate clip, e.g.
        ``source.timestamps[i]``, so the output keeps the clip's timing and its audio stays in
        sync; None for all frames: a constant ``fps``)."""
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._proc is None:
            if self.size is not None and self.size != (h, w):
                raise ValueError(f"frame is {h}x{w} (HxW) but the writer was made for {self.size}")
            self._times = [] if t is not None else None
            self._start(h, w, timed=t is not None)
        elif (h, w) != self.size:
            raise ValueError(f"frame is {h}x{w} (HxW) but the video is {self.size}")
        if (h, w) != self.output_size:
            frame = np.pad(frame, ((0, self.output_size[0] - h), (0, self.output_size[1] - w), (0, 0)),
                           mode="edge")
        try:
            # the array's own buffer: no copy (a 16000x16000 frame is 768 MB)
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except OSError:  # ffmpeg ended: its log says why
            self._proc.wait()
            message = self._ffmpeg_log()
            self._cleanup()
            raise self._failure("writing the video failed", message) from None
        if self._times is not None:
            if t is None:
                raise ValueError(f"{self.path}: give every frame a time, or none")
            self._times.append(float(t))
        self.frames_written += 1

    # -- finishing --------------------------------------------------------------------
    def close(self) -> None:
        """Finish encoding, add the audio, and move the file into place."""
        if self._closed:
            return
        self._closed = True
        if self._proc is None:
            self._cleanup()
            raise ValueError(f"{self.path}: no frames were written; nothing to save")
        try:
            self._proc.stdin.close()
        except OSError:  # ffmpeg already ended: its exit code and log tell why
            pass
        rc = self._proc.wait()
        if rc != 0:
            message = self._ffmpeg_log()
            self._cleanup()
            raise self._failure("encoding the video failed", message)
        try:
            self.duration = self.frames_written / self.fps
            if self._times is not None:
                self._apply_times()
            if self._audio:
                self._mux_audio()
            elif self._times is not None:
                self._remux_faststart()
            os.replace(self._tmp, self.path)
        except OSError as e:
            raise output_error(self.path, e) from e
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Stop writing and delete the partial file; the target path is left untouched."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:  # the pipe broke with ffmpeg: nothing left to flush
                pass
        self._cleanup()

    def _apply_times(self) -> None:
        """Frames given their own times: unless those are the constant rate already, the
        track's sample durations become them (core.video.mp4_timing)."""
        from core.video.mp4_timing import set_frame_times

        t = np.asarray(self._times, np.float64)
        steps = np.diff(t)
        if steps.size and np.all(np.abs(steps - 1.0 / self.fps) <= 0.02 / self.fps):
            return  # a constant rate: as encoded
        try:
            self.duration = set_frame_times(self._tmp, t - t[0])
        except ValueError as e:
            raise UserFacingError(f"{self.path}: cannot give the frames their times ({e})") from e

    def _remux_faststart(self) -> None:
        """Move the index to the front (a timed file is encoded with it last)."""
        moved = self._tmp.with_name(self._tmp.name.replace(".partial", ".audio"))
        proc = run_ffmpeg(["-y", "-loglevel", "error", "-i", str(self._tmp), "-map", "0:v:0", "-c", "copy",
                           "-movflags", "+faststart", str(moved)])
        if proc.returncode != 0:
            remove_quietly(moved)
            cause = _cause_line(proc.stderr.decode("utf-8", "replace").strip().splitlines())
            raise self._failure("finishing the video failed", cause)
        os.replace(moved, self._tmp)

    def _mux_audio(self) -> None:
        duration = self.duration
        muxed = self._tmp.with_name(self._tmp.name.replace(".partial", ".audio"))
        proc = run_ffmpeg(["-y", "-loglevel", "error", "-i", str(self._tmp), "-i", str(self.audio_from),
                           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                           "-b:a", "160k", "-t", f"{duration:.6f}", "-movflags", "+faststart",
                           str(muxed)])
        if proc.returncode != 0:
            remove_quietly(muxed)
            cause = _cause_line(proc.stderr.decode("utf-8", "replace").strip().splitlines())
            raise self._failure(f"adding the audio of {self.audio_from} failed", cause)
        os.replace(muxed, self._tmp)
        self.audio_kept = True

    def _ffmpeg_log(self) -> str:
        """The cause from ffmpeg's log: a line saying the file could not be written (disk
        full, read-only...) wherever it is, else the last line (ffmpeg's last words are often a
        consequence, "Nothing was written into output file")."""
        if self._log is None:
            return "ffmpeg error"
        try:
            self._log.seek(0)
            lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return "ffmpeg error"
        return _cause_line(lines)

    def _failure(self, what: str, message: str) -> UserFacingError:
        """OutputError when ffmpeg could not write (disk full, read-only...), else a UserFacingError."""
        kind = OutputError if any(k in message for k in _WRITE_FAILURES) else UserFacingError
        return kind(f"{self.path}: {what} ({message})")

    def _cleanup(self) -> None:
        """Close the log and delete the temporary file; never raises (it runs after errors,
        e.g. on a read-only file system, where the delete itself fails)."""
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None
        remove_quietly(self._tmp)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.abort()


def write_png_sequence(frames: Iterable, folder: Union[str, Path], prefix: str = "frame_",
                       start_number: int = 0) -> list[Path]:
    """Write frames as ``folder/{prefix}{n:06d}.png`` (lossless), numbered from ``start_number``.

    ``frames``: (H, W, 3) uint8 RGB arrays, or (index, frame) pairs as a source yields them
    (the pairs' own indices are ignored: files are numbered consecutively). The folder is
    created if needed. Returns the written paths.
    """
    folder = ensure_folder(folder)
    paths = []
    for n, item in enumerate(frames, start=start_number):
        frame = item[1] if isinstance(item, tuple) else item
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        p = folder / f"{prefix}{n:06d}.png"
        if not cv2.imwrite(str(p), np.ascontiguousarray(frame[:, :, ::-1])):
            raise OutputError(f"{p}: cannot write the image (disk full, read-only or no permission?)")
        paths.append(p)
    return paths
