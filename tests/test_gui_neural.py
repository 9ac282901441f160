"""The neural renderer in the reenactment panel: a target without a trained renderer says so,
"Train renderer" trains one in a worker process with progress, the panel then finds it and
the export renders with it (audio kept).

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_gui_neural.py
"""
from __future__ import annotations

import json
import os
import sys

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("torch")
if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

from conftest import shared_path  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A per-user cache folder of the test's own (trained renderers are found there)."""
    monkeypatch.setenv("FACESTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def panel(own_cache, reenact_window):
    """The reenactment panel on a bare window (conftest), with its own cache folder."""
    return reenact_window[1]


def test_train_renderer_from_the_panel_then_export_with_it(qtbot, panel, errors, tmp_path):
    import numpy as np

    from core.neural.library import default_folder, find_renderer
    from core.video import probe
    from core.video.ffmpeg_tools import run_ffmpeg

    ctl = panel
    p = ctl.panel
    clip = tmp_path / "d10_short.mp4"   # 0.8 s of d10 (24 frames) with its sound
    r = run_ffmpeg(["-i", str(shared_path("data", "videos", "d10.mp4")), "-t", "0.8", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", str(clip)])
    assert r.returncode == 0, r.stderr[-500:]
    n_src = probe(clip)["frame_count"]

    # no renderer yet: the panel says so, and a neural export is refused with that message
    p.set_target(str(clip), emit=False)
    ctl._lookup_renderer(str(clip))
    assert ctl.renderer_info is None and "No trained renderer" in p.renderer_status.text()
    p.set_renderer("neural")
    assert "has no trained renderer" in p.renderer_status.text()
    assert not ctl.export(f"simcam:{clip}", str(clip), str(tmp_path / "refused.mp4"))
    assert errors and "no trained neural renderer" in errors[-1][1] and "train-renderer" in errors[-1][1]
    errors.clear()

    # Train renderer: a worker process, progress in the panel's row, then the renderer is found
    ctl.train_minutes, ctl.train_preset = 0.05, "tiny-mouth"   # 3 s of training: a test
    seen = []
    p.progress_bar.valueChanged.connect(seen.append)
    with qtbot.waitSignal(ctl.train_ended, timeout=300_000) as blocker:
        assert ctl.train_renderer()
        assert p.train_button.text() == "Stop training"
    assert blocker.args[0] == "finished", errors
    assert ctl._train_job.ran_on.startswith("process")
    assert seen and max(seen) > 0 and "Renderer trained" in p.status.text()
    folder = default_folder(clip)
    m = json.loads((folder / "manifest.json").read_text())
    assert m["preset"]["name"] == "tiny-mouth" and m["hybrid"] is True
    assert find_renderer(clip)["folder"] == str(folder)
    assert ctl.renderer_info is not None and "tiny-mouth hybrid" in p.renderer_status.text()
    # the training view: the loss per iteration (from the progress messages) and the newest sheet
    xs, ys = p.train_view.points()
    assert p.train_box.isVisibleTo(p) and len(xs) >= 1 and xs == sorted(xs) and all(np.isfinite(ys))
    ds = p.train_view.discriminator_points()    # the discriminators' losses beside the generator's
    assert len(ds) == len(xs) and all(np.isfinite(ds)) and " D " in p.train_view.info.text()
    assert p.train_view.has_sheet() and p.train_view.sheet.pixmap() is not None
    assert p.train_button.text() == "Train renderer..."

    # the export renders with it and keeps the source's audio
    out = tmp_path / "neural.mp4"
    with qtbot.waitSignal(ctl.export_ended, timeout=300_000) as blocker:
        assert ctl.export(f"simcam:{clip}", str(clip), str(out))
    assert blocker.args[0] == "finished", errors
    info = probe(out)
    assert info["has_audio"] and info["frame_count"] == n_src
    assert errors == []

    # the live preview renders with it too, and the panel shows its frame rate
    with qtbot.waitSignal(ctl.live_started, timeout=300_000):
        assert ctl.start(f"simcam:{clip}", str(clip))
    assert ctl.live.pipe.renderer_name == "neural"
    qtbot.waitUntil(lambda: "neural" in ctl._fps_seen, timeout=120_000)
    assert "Live: neural" in p.renderer_status.text() and "fps" in p.renderer_status.text()
    with qtbot.waitSignal(ctl.live_stopped, timeout=60_000):
        ctl.stop()
    assert errors == []


def test_editor_renders_edits_with_the_clips_neural_renderer(qtbot, tmp_path, errors, monkeypatch):
    """View > Render edits with the neural renderer: refused with a message while the clip has
    no renderer; with one (trained here), the edited frame comes from it (different from the
    warp's inside the renderer's box, the same far outside it), and the video export uses it."""
    import numpy as np
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from core.neural.job import train_renderer
    from core.neural.library import default_folder
    from core.neural.train import TrainSettings
    from core.video import probe
    from core.video.ffmpeg_tools import run_ffmpeg

    if not os.environ.get("DISPLAY"):
        pytest.skip("the editor's 3D viewport needs Xvfb (run under xvfb-run)")
    monkeypatch.setenv("FACESTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    clip = tmp_path / "d10_short.mp4"
    r = run_ffmpeg(["-i", str(shared_path("data", "videos", "d10.mp4")), "-t", "0.8", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", str(clip)])
    assert r.returncode == 0, r.stderr[-500:]

    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w.editor.io.ask_to_save = False
    qtbot.addWidget(w)
    w.resize(1300, 860)
    w.show()
    qtbot.waitExposed(w)
    ed = w.editor
    # every status-bar message (the autosave's own "Autosaved" may follow one at any time)
    shown: list[str] = []
    w.statusBar().messageChanged.connect(shown.append)
    assert w.open_media(str(clip))
    assert ed.reconstruct(max_frames=20)
    qtbot.waitUntil(lambda: not w.job_running, timeout=300_000)
    assert w.job.outcome == "finished", errors

    # no renderer for this clip: the action stays off and the status bar says how to train one
    ed.actions.neural.setChecked(True)
    assert not ed.actions.neural.isChecked() and ed.renderer_model is None
    assert any("no trained neural renderer" in m for m in shown), shown[-5:]

    w.session.seek(5)
    qtbot.waitUntil(lambda: w.session.index == 5, timeout=10_000)
    with qtbot.waitSignal(ed.preview_shown, timeout=30_000):
        ed.expressions.rows["jawOpen"].slider.setValue(600)
    warped = w.view.displayed_image().copy()

    # View > Train a neural renderer on this clip: asks for a training on the saved project (its
    # reconstruction, no new fit); the app hands that to the reenactment panel's training
    project = tmp_path / "anna.fsproj"
    assert ed.io.save_project(str(project), wait=True)
    from app.panels import install_panels

    reenact = install_panels(w)["reenact"]
    asked: list[str] = []
    monkeypatch.setattr(reenact, "train_renderer", lambda target_path=None: asked.append(target_path) or True)
    assert ed.actions.train_neural.isEnabled()
    ed.actions.train_neural.trigger()
    assert asked == [str(project)] and reenact.dock.isVisible()
    reenact.shutdown()
    # a renderer trained from the project is the clip's: same default folder, found by the clip
    folder = default_folder(project)
    assert folder == default_folder(clip)
    train_renderer(str(project), folder, TrainSettings(preset="tiny-mouth", hybrid=True, iterations=4,
                                                       device="cpu"))
    assert json.loads((folder / "manifest.json").read_text())["training"]["source"] == str(clip.resolve())
    with qtbot.waitSignal(ed.preview_shown, timeout=60_000):
        ed.actions.neural.setChecked(True)
    assert ed.actions.neural.isChecked() and ed.renderer_model == str(folder)
    assert any("neural renderer (tiny-mouth hybrid" in m for m in shown), shown[-5:]
    neural = w.view.displayed_image()
    diff = np.abs(neural.astype(int) - warped.astype(int)).max(-1)
    b = json.loads((folder / "manifest.json").read_text())["crop_box"]
    x0, y0, x1, y1 = int(b["x0"]), int(b["y0"]), int(b["x0"] + b["side"]), int(b["y0"] + b["side"])
    assert warped.shape == neural.shape
    assert diff[max(y0, 0):y1, max(x0, 0):x1].mean() > 0.5     # the network's mouth region
    outside = diff.copy()
    outside[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = 0
    assert outside.max() == 0                                   # elsewhere exactly the warp's picture

    out = tmp_path / "edited.mp4"
    assert ed.export("video", str(out))
    qtbot.waitUntil(lambda: not w.job_running, timeout=300_000)
    assert w.job.outcome == "finished", errors
    info = probe(out)
    assert info["has_audio"] and info["frame_count"] >= 20
    assert errors == []
