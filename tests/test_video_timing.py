"""Variable-frame-rate video keeps its timing: frames written with their source's timestamps
come out at those timestamps (core.video.mp4_timing), so the audio does not drift. Before, the
output was re-timed at one rate: 30 frames spanning 1.0 s here came out spanning 0.87 s."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from core.video import VideoWriter, open_source, probe
from core.video.ffmpeg_tools import run_ffmpeg


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    """30 frames of d6 at quadratically spaced times over 1.0 s (intervals 1 ms .. 68 ms), with audio."""
    out = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    r = run_ffmpeg(["-loglevel", "error", "-y", "-i", str(shared_path("data", "videos", "d6.mp4")),
                    "-frames:v", "30", "-vf", "setpts='(N*N/841)/TB'", "-fps_mode", "passthrough",
                    "-enc_time_base", "1:90000", "-af", "atrim=0:1", "-c:v", "libx264", "-c:a", "aac", str(out)])
    assert r.returncode == 0, r.stderr.decode()[-500:]
    return out


def test_the_source_reports_its_own_frame_times(vfr_clip):
    with open_source(str(vfr_clip)) as src:
        t = src.timestamps
    assert len(t) == 30 and t[0] == 0.0 and t[-1] == pytest.approx(1.0, abs=1e-3)
    assert np.allclose(t, (np.arange(30) ** 2) / 841, atol=2e-4)


def test_frames_written_with_their_times_keep_them(vfr_clip, tmp_path):
    with open_source(str(vfr_clip)) as src:
        t = src.timestamps
        with VideoWriter(tmp_path / "out.mp4", fps=src.fps, audio_from=vfr_clip) as w:
            for i, frame in src.frames():
                w.write(frame, t=float(t[i]))
    with open_source(str(tmp_path / "out.mp4")) as out:
        assert out.frame_count == 30
        assert np.allclose(out.timestamps, t, atol=2e-4)  # was 0, 0.030, ... 0.875: one rate
    info = probe(tmp_path / "out.mp4")
    assert info["has_audio"] and info["duration"] == pytest.approx(1.0, abs=0.06)
    assert w.audio_kept and w.duration == pytest.approx(1.0 + np.median(np.diff(t)), abs=1e-3)


def test_a_constant_rate_is_left_as_encoded(tmp_path):
    with VideoWriter(tmp_path / "cfr.mp4", fps=25) as w:
        for i in range(10):
            w.write(np.full((32, 32, 3), 20 * i, np.uint8), t=i / 25)
    with open_source(str(tmp_path / "cfr.mp4")) as out:
        assert np.allclose(out.timestamps, np.arange(10) / 25, atol=1e-4) and out.fps == pytest.approx(25)


def test_a_qa_render_keeps_the_clips_timing(vfr_clip, tmp_path):
    """The commands' writers pass the source's times (here ``render``; also ``flow``, ``reenact``
    and the editor's export)."""
    from core.fitting.reconstruction import Reconstruction
    from core.model.registry import load_model
    from core.qa.clip import ClipMeshes
    from core.qa.render_video import write_render_video
    from core.render import RenderThread

    m = load_model("builtin")
    F = 30
    rec = Reconstruction(  # no face anywhere: every frame is written as it is, labelled
        model_name=m.name, model_spec="builtin", identity=np.zeros(m.num_identity, np.float32),
        expression=np.zeros((F, m.num_expressions), np.float32), expression_names=np.asarray(m.expression_names),
        rotation=np.tile(np.eye(3, dtype=np.float32), (F, 1, 1)), translation=np.zeros((F, 2), np.float32),
        scale=np.ones(F, np.float32), landmarks68=np.zeros((F, 68, 2), np.float32),
        fit_error_px=np.full(F, np.nan, np.float32), valid=np.zeros(F, bool), segment=np.full(F, -1, np.int32))
    with open_source(str(vfr_clip)) as src, RenderThread() as rt:
        t = src.timestamps
        write_render_video(src, ClipMeshes(rec, m), tmp_path / "r.mp4", F, "shaded", renderer=rt)
    with open_source(str(tmp_path / "r.mp4")) as out:
        assert np.allclose(out.timestamps, t, atol=2e-4)
