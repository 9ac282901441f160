"""A live reenactment session without any GUI: the target prepared for the preview, the
live source and the running :class:`~core.reenact.live.LivePipeline`, and the recorder.

The app's reenactment panel (app/reenact_controller.py) only wires these to widgets; a
script or the live soak bench uses them directly:

    target = prepare_target("photo.jpg")
    live = open_live("simcam:clip.mp4", target, TransferSettings())
    ... live.pipe.latest() ...
    live.close()

Everything here runs off the GUI thread (progress and cancel as in core/jobs.py); the
pipeline and the recorder run their own threads.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, detached
from core.jobs import CancelToken, ProgressFn, check, report
from core.model.registry import load_model
from core.reenact.faces import fit_face
from core.reenact.live import LivePipeline, fit_photo_to_size
from core.reenact.pipeline import ReenactmentPipeline
from core.tracking.tracker import track_image
from core.video import open_source

#: longest side of a target photo in the live preview (the warp's cost grows with the pixels;
#: the offline export uses the full-size target)
LIVE_MAX_SIDE = 512
MODEL_SPEC = "builtin"


@dataclass
class LiveTarget:
    """A target ready for the live preview.

    path: the file the user chose; kind: "photo" or "video"; frame (H, W, 3) uint8 RGB: the
    picture the preview warps (a photo resized to at most LIVE_MAX_SIDE, a video's first
    frame); face: its core.reenact FittedFace (pixel quantities in ``frame``'s coordinates);
    model: the face model it was fitted with.
    """

    path: str
    kind: str
    frame: np.ndarray
    face: object
    model: object

    @property
    def name(self) -> str:
        return Path(self.path).name


def preview_size(h: int, w: int, max_side: int = LIVE_MAX_SIDE) -> tuple[int, int]:
    """(H, W) of a photo in the preview: at most ``max_side`` on the long side, even sides."""
    k = min(1.0, max_side / max(h, w))
    return max(2, int(round(h * k / 2)) * 2), max(2, int(round(w * k / 2)) * 2)


def prepare_target(path: str, model_spec: str = MODEL_SPEC, max_side: int = LIVE_MAX_SIDE,
                   progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LiveTarget:
    """Load the model, then track and fit ``path`` (a photo or a video) for the live preview.

    Raises InputError (unreadable file), NoFaceError (no face, naming the file), Cancelled.
    """
    report(progress, 0, 0, "loading the face model")
    model = load_model(model_spec)
    check(cancel)
    with open_source(path) as src:
        if src.is_live:
            raise InputError(f"{path}: a camera cannot be the target; choose a photo or a video")
        kind = "photo" if src.frame_count == 1 else "video"
        first = src.read(0)
    if kind == "photo":
        report(progress, 0, 0, "tracking the face")
        frame = fit_photo_to_size(first, preview_size(*first.shape[:2], max_side))
        face = fit_face(track_image(frame, source=str(path)), model, name=str(path), cancel=cancel)
    else:
        # the whole clip: one identity for the person; the preview drives its first frame
        face = ReenactmentPipeline(model, model_spec=model_spec).prepare(str(path), progress=progress,
                                                                         cancel=cancel)
        frame = first
    return LiveTarget(str(path), kind, frame, face, model)


def live_source_spec(spec: str) -> str:
    """A plain video file becomes a simulated camera (played in real time); others stay."""
    s = str(spec)
    if s.lower().startswith(("webcam:", "simcam:")):
        return s
    return f"simcam:{s}"


def export_source_file(spec: str) -> str:
    """The video file behind a source spec, for the offline export (a webcam has none)."""
    s = str(spec).strip()
    if s.lower().startswith("webcam:"):
        raise InputError(f"{s}: a live camera cannot be exported offline; use Record for the live "
                         "result, or choose a video file as the source")
    if s.lower().startswith("simcam:"):
        s = s.split(":", 1)[1]
    return s


class TappedSource:
    """A live source that remembers the newest frame it handed out (the source view shows it).

    Everything else is the wrapped source's (``dropped``, ``fps``, ``close``...).
    """

    def __init__(self, source):
        self._source = source
        #: (H, W, 3) uint8 RGB: the frame the pipeline took last (None before the first)
        self.last: np.ndarray | None = None

    def read_latest(self, timeout: float | None = None):
        """(index, frame) from the wrapped source; the frame is kept as ``last``."""
        index, frame = self._source.read_latest(timeout)
        self.last = frame
        return index, frame

    def __getattr__(self, name):
        return getattr(self._source, name)


class LiveSession:
    """An open live source and the running LivePipeline on it."""

    def __init__(self, source, tap: TappedSource, pipe):
        self.source = source
        self.tap = tap
        self.pipe = pipe
        self.started = time.monotonic()
        self.closed = False

    @property
    def fps(self) -> float:
        fps = float(getattr(self.source, "fps", 0.0) or 0.0)
        return fps if fps > 0 else 30.0

    def close(self) -> bool:
        """Stop the pipeline's threads and close the camera; True when every thread ended.
        Safe to call twice."""
        if self.closed:
            return not self.pipe.running
        self.closed = True
        self.pipe.stop()
        self.source.close()
        return not self.pipe.running


def open_live(source_spec: str, target: LiveTarget, transfer, opened=None,
              progress: ProgressFn | None = None, cancel: CancelToken | None = None,
              renderer_factory=None) -> LiveSession:
    """Open the live source and start a LivePipeline driving ``target`` (its threads run on).

    ``renderer_factory``: the frame renderer made of the warp (``core.reenact.pipeline.RendererFactory``,
    e.g. ``core.neural.renderer.renderer_factory``); None renders with the warp.

    ``opened``: called with the session as soon as it runs (so an owner shutting down
    meanwhile can still close it).
    """
    report(progress, 0, 0, f"opening {source_spec}")
    source = open_source(live_source_spec(source_spec))
    try:
        if not source.is_live:
            raise InputError(f"{source_spec}: not a live source")
        check(cancel)
        tap = TappedSource(source)
        pipe = LivePipeline(target.model, tap, target.face, target.frame, transfer,
                            renderer_factory=renderer_factory)
        pipe.start()
    except BaseException:
        source.close()
        raise
    session = LiveSession(source, tap, pipe)
    if opened is not None:
        opened(session)
    return session


def start_recording(live: LiveSession, path: str | Path, mic_input=None) -> "Recorder":
    """Record ``live``'s results to ``path`` (mp4) from now until ``stop()`` (see Recorder), with
    the source's sound: a simulated camera's clip, a webcam's microphone when one can be
    captured (``mic_input``: ffmpeg input args for it; default PulseAudio's default source)."""
    from core.video import VideoWriter

    writer = VideoWriter(path, fps=live.fps)
    kind = getattr(live.source, "kind", "")
    note = ""
    if kind == "simcam":
        rec = Recorder(live.pipe, writer, live.fps, sound="clip", clip=str(live.source.path))
    elif kind == "webcam":
        ok, note = (True, "") if mic_input is not None else pulse_audio_available()
        rec = Recorder(live.pipe, writer, live.fps, sound="mic" if ok else None,
                       mic_input=mic_input or MicCapture.DEFAULT_INPUT)
    else:
        rec = Recorder(live.pipe, writer, live.fps)
    if note:
        rec.audio_note = note
    rec.start()
    return rec


def pulse_audio_available() -> tuple[bool, str]:
    """Whether a PulseAudio (or PipeWire's Pulse) server is there to capture a microphone from,
    and if not, why: (True, "") or (False, reason)."""
    import os

    if os.environ.get("PULSE_SERVER"):
        return True, ""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    for sock in (Path(runtime) / "pulse" / "native", Path("/var/run/pulse/native")):
        if sock.exists():
            return True, ""
    return False, ("no microphone: no PulseAudio server is running (start your desktop's sound "
                   "server, or set PULSE_SERVER)")


class MicCapture:
    """A microphone recorded to a WAV file by ffmpeg while a recording runs.

    ``input_args``: ffmpeg's input for the microphone (default: PulseAudio's default source;
    tests give ``-f lavfi -i sine=...``). ``start()``; ``stop()`` ends the file cleanly;
    ``started``: time.monotonic() when capture began.
    """

    DEFAULT_INPUT = ("-f", "pulse", "-i", "default")

    def __init__(self, path: str | Path, input_args=DEFAULT_INPUT):
        self.path = Path(path)
        self.input_args = list(input_args)
        self.started = 0.0
        self._proc = None

    def start(self) -> None:
        """Start capturing (ffmpeg in the background)."""
        import subprocess

        from core.video.ffmpeg_tools import ffmpeg_exe

        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *self.input_args,
               "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        self.started = time.monotonic()

    def stop(self, timeout: float = 10.0) -> bool:
        """End the capture (ffmpeg's own "q": the WAV header is completed); True when it ended
        cleanly and the file has sound."""
        import subprocess

        p = self._proc
        if p is None:
            return False
        try:
            p.communicate(b"q", timeout=timeout)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            p.kill()
            p.wait()
        self._proc = None
        return p.returncode == 0 and self.path.is_file() and self.path.stat().st_size > 44


class Recorder(threading.Thread):
    """Records a live session's results to a video file on the camera's timeline, with its sound.

    Frames: the pipeline hands every output to the recorder (``LivePipeline.add_listener``) with
    the time its camera frame was grabbed. The file has one frame every 1/``fps`` seconds from
    the moment recording started to the moment :meth:`stop` was called (when it was called,
    not when the writer caught up), each the newest result of a camera frame grabbed by then;
    the writer may lag behind (a busy machine encodes slowly) without stretching the file. So
    a 10 s recording lasts 10 s, and what is shown at a time is what the camera saw then.

    Sound (``sound``): "clip": a simulated camera's clip, from where the camera was at the
    start, looping as the camera does; "mic": the microphone captured alongside
    (:class:`MicCapture`, ``mic_input`` its ffmpeg input); None: none. ``audio_note`` says
    what the file got. ``written``, ``duration_s`` and ``error`` (an exception, or None) are
    set when the thread ends.
    """

    #: a tick waits this long for the result of a camera frame grabbed after it, then writes
    #: the newest result there is (a stalled pipeline must not hold the recording)
    WAIT_S = 1.0

    def __init__(self, pipe, writer, fps: float, sound: str | None = None, clip: str | None = None,
                 mic_input=MicCapture.DEFAULT_INPUT):
        super().__init__(name="reenact-record", daemon=True)
        self.pipe = pipe
        self.writer = writer
        self.fps = float(fps)
        self.sound = sound
        self.clip = clip
        self.mic_input = list(mic_input)
        self.written = 0
        self.duration_s = 0.0
        self.error: BaseException | None = None
        self.audio_note = "no sound"
        self.audio_kept = False
        self._cond = threading.Condition()
        self._outputs: list = []          # (grabbed, image, index), in grab order
        self._t0: float | None = None
        self._t_stop: float | None = None
        self._last_arrival = 0.0
        self._mic: MicCapture | None = None

    @property
    def started_at(self) -> float | None:
        """time.monotonic() of the recording's first frame (None before start)."""
        return self._t0

    def start(self) -> None:
        """Start recording now."""
        self._t0 = self._last_arrival = time.monotonic()
        last = self.pipe.latest_output()
        with self._cond:
            self._outputs.append((last.grabbed, last.image, last.index))  # what is on screen now
        self.pipe.add_listener(self._on_output)
        if self.sound == "mic":
            self._mic = MicCapture(self.writer.path.with_name(f".{self.writer.path.stem}.mic.wav"),
                                   self.mic_input)
            try:
                self._mic.start()
            except OSError as e:
                self._mic = None
                self.audio_note = f"no sound: the microphone could not be opened ({e})"
        super().start()

    def stop(self) -> None:
        """Stop at this moment; the frames due until now are still written (on the thread)."""
        with self._cond:
            if self._t_stop is None:
                self._t_stop = time.monotonic()
            self._cond.notify_all()

    def _on_output(self, out) -> None:  # on the pipeline's render thread: only a hand-over
        with self._cond:
            self._outputs.append((out.grabbed, out.image, out.index))
            self._last_arrival = time.monotonic()
            self._cond.notify_all()

    def _frame_for(self, t: float):
        """The newest result of a camera frame grabbed by ``t``; it waits until the result of a
        frame grabbed later has come (then none grabbed by ``t`` can still come), unless no
        result came for WAIT_S (a stalled or stopped pipeline)."""
        with self._cond:
            while self._outputs[-1][0] <= t and time.monotonic() - self._last_arrival < self.WAIT_S:
                self._cond.wait(0.05)
            # keep the newest output grabbed by t and all after it: later ticks need nothing older
            k = max((i for i, o in enumerate(self._outputs) if o[0] <= t), default=0)
            del self._outputs[:k]
            return self._outputs[0]

    def run(self) -> None:
        """Write a frame per tick from start to stop, then add the sound."""
        first_index = None
        try:
            k = 0
            while True:
                t = self._t0 + k / self.fps
                with self._cond:
                    while self._t_stop is None and time.monotonic() < t:
                        self._cond.wait(t - time.monotonic())
                    if self._t_stop is not None and t >= self._t_stop and k > 0:
                        break
                grabbed, image, index = self._frame_for(t)
                if first_index is None and index >= 0:
                    first_index = (index, grabbed)
                self.writer.write(image)
                self.written += 1
                k += 1
            self.pipe.remove_listener(self._on_output)
            self.duration_s = self.written / self.fps
            self.writer.close()
            self._add_sound(first_index)
        except BaseException as e:  # noqa: BLE001 (reported by the owner)
            self.error = detached(e)  # (its frames would hold the recorder and its pipeline: a cycle)
            self.pipe.remove_listener(self._on_output)
            self.writer.abort()
        finally:
            if self._mic is not None:
                self._mic.stop()
                self._mic.path.unlink(missing_ok=True)

    def _add_sound(self, first) -> None:
        from core.video.ffmpeg_tools import probe

        if self.sound == "clip" and self.clip:
            info = probe(self.clip)
            if not info["has_audio"]:
                self.audio_note = "no sound: the clip has none"
                return
            # the clip time of the camera frame of the start: the camera numbers its frames from
            # its own start (at ``fps``) and loops the clip's frames
            index, grabbed = first if first is not None else (0, self._t0)
            cam_frame = index + (self._t0 - grabbed) * self.fps
            n, clip_fps = max(1, int(info["frame_count"])), float(info["fps"] or self.fps)
            offset = (cam_frame % n) / clip_fps
            self._mux(["-stream_loop", "-1", "-ss", f"{max(0.0, offset):.3f}", "-i", str(self.clip)])
            self.audio_note = "with the clip's sound"
        elif self.sound == "mic" and self._mic is not None:
            ok = self._mic.stop()
            if not ok:
                self.audio_note = "no sound: the microphone gave nothing"
                return
            # the microphone started a moment after the first frame's time
            lead = max(0.0, self._mic.started - self._t0)
            self._mux(["-itsoffset", f"{lead:.3f}", "-i", str(self._mic.path)])
            self.audio_note = "with the microphone's sound"

    def _mux(self, audio_input: list) -> None:
        from core.video.ffmpeg_tools import run_ffmpeg

        video = self.writer.path
        tmp = video.with_name(f".{video.stem}.sound{video.suffix}")
        proc = run_ffmpeg(["-y", "-loglevel", "error", "-i", str(video), *audio_input, "-map", "0:v:0",
                           "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "160k",
                           "-t", f"{self.duration_s:.3f}", "-movflags", "+faststart", str(tmp)])
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            self.audio_note = f"no sound: adding it failed ({' '.join(tail) or 'ffmpeg error'})"
            return
        tmp.replace(video)
        self.audio_kept = True
