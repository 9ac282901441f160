"""Writing video: H.264 mp4 through the bundled ffmpeg, keeping a source's audio; PNG sequences.

    with VideoWriter("out.mp4", fps=src.fps, audio_from=src.path) as w:
        for _, frame in src:
            w.write(frame)            # (H, W, 3) uint8 RGB

The file appears only when the writer closes successfully: frames go to a hidden
temporary file next to the target, which is renamed over it at the end (an aborted
export never leaves a half-written video under the real name).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Union

import cv2
import numpy as np

from core.errors import InputError, UserFacingError
from core.video.ffmpeg_tools import ffmpeg_exe, probe, run_ffmpeg

#: x264 constant-rate factors: lower is better quality and bigger files.
QUALITY_CRF = {"high": 18, "medium": 23, "low": 28}
VIDEO_OUT_EXTS = (".mp4", ".m4v", ".mov", ".mkv")


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
    "medium", "low" or an x264 CRF number (0-51).
    """

    def __init__(self, path: Union[str, Path], fps: float, size: Optional[tuple[int, int]] = None,
                 audio_from: Union[str, Path, None] = None, quality: Union[str, int] = "high"):
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_OUT_EXTS:
            raise InputError(f"{self.path}: cannot write video with extension "
                             f"'{self.path.suffix}'; use one of {', '.join(VIDEO_OUT_EXTS)}")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path}: the folder {self.path.parent} does not exist")
        if not (fps and 0 < fps <= 1000):
            raise ValueError(f"fps must be in (0, 1000], got {fps}")
        self.fps = float(fps)
        self.crf = QUALITY_CRF[quality] if isinstance(quality, str) else int(quality)
        if not 0 <= self.crf <= 51:
            raise ValueError(f"quality must be high/medium/low or a CRF in 0..51, got {quality}")
        self.audio_from = Path(audio_from) if audio_from else None
        self._audio = False
        # A folder of images (a valid source) simply has no audio; a missing file is an error.
        if self.audio_from is not None and not self.audio_from.is_dir():
            self._audio = bool(probe(self.audio_from, count_frames=False)["has_audio"])
        self.audio_kept = False
        self.size = tuple(size) if size is not None else None
        self.output_size: Optional[tuple[int, int]] = None
        self.frames_written = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial{self.path.suffix}")
        self._proc: Optional[subprocess.Popen] = None
        self._log = None
        self._closed = False

    # -- writing ----------------------------------------------------------------------
    def _start(self, h: int, w: int) -> None:
        self.size = (h, w)
        self.output_size = (h + h % 2, w + w % 2)
        oh, ow = self.output_size
        self._log = tempfile.TemporaryFile()
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{ow}x{oh}", "-r", f"{self.fps:.6g}",
               "-i", "-", "-an", "-c:v", "libx264", "-preset", "fast", "-crf", str(self.crf),
               "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log)

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._proc is None:
            if self.size is not None and self.size != (h, w):
                raise ValueError(f"frame is {h}x{w} (HxW) but the writer was made for {self.size}")
            self._start(h, w)
        elif (h, w) != self.size:
            raise ValueError(f"frame is {h}x{w} (HxW) but the video is {self.size}")
        if (h, w) != self.output_size:
            frame = np.pad(frame, ((0, self.output_size[0] - h), (0, self.output_size[1] - w), (0, 0)),
                           mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            self._proc.wait()
            message = self._ffmpeg_log()
            self._cleanup()
            raise UserFacingError(f"{self.path}: writing the video failed ({message})") from None
        self.frames_written += 1

    # -- finishing --------------------------------------------------------------------
    def close(self) -> None:
        """Finish encoding, add the audio, and move the file into place."""
        if self._closed:
            return
        self._closed = True
        if self._proc is None:
            raise ValueError(f"{self.path}: no frames were written; nothing to save")
        self._proc.stdin.close()
        rc = self._proc.wait()
        if rc != 0:
            message = self._ffmpeg_log()
            self._cleanup()
            raise UserFacingError(f"{self.path}: encoding the video failed ({message})")
        try:
            if self._audio:
                self._mux_audio()
            os.replace(self._tmp, self.path)
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Stop writing and delete the partial file; the target path is left untouched."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def _mux_audio(self) -> None:
        duration = self.frames_written / self.fps
        muxed = self._tmp.with_name(self._tmp.name.replace(".partial", ".audio"))
        proc = run_ffmpeg(["-y", "-loglevel", "error", "-i", str(self._tmp), "-i", str(self.audio_from),
                           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                           "-b:a", "160k", "-t", f"{duration:.6f}", "-movflags", "+faststart",
                           str(muxed)])
        if proc.returncode != 0:
            muxed.unlink(missing_ok=True)
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise UserFacingError(f"{self.path}: adding the audio of {self.audio_from} failed "
                                  f"({' '.join(tail) or 'ffmpeg error'})")
        os.replace(muxed, self._tmp)
        self.audio_kept = True

    def _ffmpeg_log(self) -> str:
        if self._log is None:
            return "ffmpeg error"
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "ffmpeg error"

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self._tmp.unlink(missing_ok=True)

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
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, item in enumerate(frames, start=start_number):
        frame = item[1] if isinstance(item, tuple) else item
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        p = folder / f"{prefix}{n:06d}.png"
        if not cv2.imwrite(str(p), np.ascontiguousarray(frame[:, :, ::-1])):
            raise UserFacingError(f"{p}: cannot write the image (disk full or no permission?)")
        paths.append(p)
    return paths
