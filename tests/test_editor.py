"""The expression editor end to end on a real clip: reconstruct, slider, keys, undo/redo,
save/reopen, corrupt project, export (video with audio, curves, meshes), responsiveness.

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_editor.py
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not os.environ.get("DISPLAY"):
    pytest.skip("the editor's 3D viewport needs Xvfb (run under xvfb-run)", allow_module_level=True)

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from conftest import shared_path  # noqa: E402

pytestmark = pytest.mark.gui
FRAMES = 30
#: GUI responsiveness is checked in a way the machine's load cannot break: the long work
#: runs off the GUI thread (a worker process or thread: ``Job.ran_on``), the GUI thread
#: keeps ticking meanwhile, and a reconstruction reaches the screen in several event-loop
#: turns. How long the GUI thread stalls (the issue's 100 ms) is measured by
#: bench/bench_gui_stalls.py, not asserted here: under CI load an idle event loop alone
#: showed 150-400 ms wall-clock gaps.


class Heartbeat:
    """A 20 ms QTimer on the GUI thread; ``ticks`` counts how often it fired and
    ``max_gap_ms`` reports (for the log) the largest wall-clock gap between ticks."""

    def __init__(self):
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))
        self.timer.start()

    def stop(self) -> tuple[int, float]:
        """(ticks, max gap in ms)."""
        self.timer.stop()
        gaps = np.diff(self.times) if len(self.times) > 1 else np.array([float("inf")])
        return len(self.times), float(gaps.max() * 1000.0)


def _assert_off_gui_thread(job, beat: Heartbeat, what: str) -> None:
    ticks, gap = beat.stop()
    print(f"{what}: ran on {job.ran_on}; GUI heartbeat {ticks} ticks, max gap {gap:.0f} ms")
    assert job.ran_on is not None and job.ran_on != "gui thread", job.ran_on
    if job.ran_on.startswith("process"):
        assert int(job.ran_on.split()[1]) != os.getpid()
    assert ticks >= 2, f"the GUI thread did not run during {what}"


def _window(qtbot, tmp_path, name="settings.ini"):
    settings = QSettings(str(tmp_path / name), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    w.editor.io.ask_to_save = False
    qtbot.addWidget(w)
    w.resize(1300, 860)
    w.show()
    qtbot.waitExposed(w)
    # a new window's first paints (and the 3D viewport's GL start-up on its render thread)
    # are a start-up cost, not part of the stalls measured below
    qtbot.waitUntil(lambda: w.editor.viewport.frames_rendered > 0, timeout=10_000)
    qtbot.wait(100)
    return w


def _wait_job(qtbot, w, timeout_ms=120_000) -> str:
    qtbot.waitUntil(lambda: not w.job_running, timeout=timeout_ms)
    qtbot.wait(50)
    return w.job.outcome


def _seek(qtbot, w, i):
    w.session.seek(i)
    qtbot.waitUntil(lambda: w.session.index == i, timeout=10_000)


def test_edit_session_end_to_end(qtbot, tmp_path, errors):
    clip = str(shared_path("data", "videos", "d6.mp4"))
    w = _window(qtbot, tmp_path)
    ed, doc = w.editor, w.editor.doc
    assert w.open_media(clip)

    # -- reconstruct in the background; the GUI keeps ticking
    beat = Heartbeat()
    staged = []
    ed.doc.reconstruction_changed.connect(lambda: staged.append(ed.result_pending))
    assert ed.reconstruct(max_frames=FRAMES)
    assert _wait_job(qtbot, w) == "finished", errors
    _assert_off_gui_thread(w.job, beat, "reconstruction")
    assert staged == [True]  # put on screen over several event-loop turns, not in one
    assert doc.num_frames == FRAMES and "jawOpen" in ed.expressions.rows
    assert np.nanmedian(doc.rec.fit_error_px) < 6.0
    assert ed.viewport.has_mesh and w.view.overlay_enabled("mesh")

    # -- move a slider at frame 5 with auto-key on (it keys): the mesh and the shown frame change
    ed.set_auto_key(True)
    _seek(qtbot, w, 5)
    original = w.view.displayed_image()
    v0 = ed.viewport._V.copy()  # noqa: SLF001
    with qtbot.waitSignal(ed.preview_shown, timeout=10_000):
        ed.expressions.rows["jawOpen"].slider.setValue(700)
    assert doc.edits.offset("jawOpen", 5) == pytest.approx(0.7)
    assert ed.preview.worker.handled_off_gui_thread  # the edited frame was rendered on the preview thread
    assert np.abs(ed.viewport._V - v0).max() > 0.05  # noqa: SLF001 (cm: the jaw moved)
    edited = w.view.displayed_image()
    diff = np.abs(edited.astype(int) - original.astype(int)).sum(2) > 30
    ys, xs = np.nonzero(diff)
    assert diff.sum() > 500
    mouth = doc.rec.landmarks68[5, 48:68]
    assert xs.mean() == pytest.approx(mouth[:, 0].mean(), abs=60) and ys.mean() == pytest.approx(
        mouth[:, 1].mean(), abs=80)

    # -- the 3D viewport (rendered on its own thread) shows the mesh: face pixels, not just background
    qtbot.waitUntil(lambda: ed.viewport.up_to_date, timeout=10_000)
    shot = ed.viewport.grab_image()
    assert not shot.isNull() and shot.width() == ed.viewport.widget.width()
    from widgets.video_view import qimage_to_rgb

    vp = qimage_to_rgb(shot).astype(int)
    assert (np.abs(vp - vp[2, 2]).sum(2) > 40).mean() > 0.05

    # -- dragging: reduced-resolution previews, the full-resolution frame on release
    slider = ed.expressions.rows["jawOpen"].slider
    slider.setSliderDown(True)
    with qtbot.waitSignal(ed.preview_shown, timeout=10_000):
        slider.setValue(600)
    assert not ed.preview.last_full
    drag_img = w.view.displayed_image()
    assert drag_img.shape == original.shape  # upsampled into the full frame
    with qtbot.waitSignal(ed.preview_shown, timeout=10_000):
        slider.setSliderDown(False)
    assert ed.preview.last_full
    full_img = w.view.displayed_image()
    # the half-resolution preview is the same edit, a little softer: close to the full frame
    changed = np.abs(full_img.astype(int) - original.astype(int)).sum(2) > 30
    assert np.abs(drag_img.astype(int) - full_img.astype(int))[changed].mean() < 25
    # away from the face the frame stays the sharp original (only the edited box is upsampled):
    # outside the box of what the full-resolution render changed (plus a margin), the preview
    # is the original frame
    ys, xs = np.nonzero((full_img != original).any(2))
    outside = np.ones(original.shape[:2], bool)
    outside[max(ys.min() - 8, 0):ys.max() + 9, max(xs.min() - 8, 0):xs.max() + 9] = False
    same = (drag_img[outside] == original[outside]).all(1).mean()
    print(f"drag preview: {same:.3f} of the pixels outside the edited box unchanged")
    assert outside.mean() > 0.2 and same > 0.98
    assert doc.edits.offset("jawOpen", 5) == pytest.approx(0.6)
    ed.actions.undo.trigger()  # back to +0.7 (the drag is one undo step)
    assert doc.edits.offset("jawOpen", 5) == pytest.approx(0.7)

    # -- two keyframes: a ramp from +0.7 at frame 5 to 0 at frame 20
    ed.select_component("jawOpen")
    _seek(qtbot, w, 20)
    ed.set_key()
    ed.expressions.rows["jawOpen"].slider.setValue(0)
    assert list(doc.edits.key_frames("jawOpen")) == [5, 20]
    assert doc.edits.offset("jawOpen", 20) == 0.0
    mid = doc.edits.offset("jawOpen", 12)
    assert 0.05 < mid < 0.65
    curves = doc.component_curves("jawOpen")
    assert list(ed.curves.keys.frames) == [5, 20]
    np.testing.assert_allclose(curves["edited"], np.clip(curves["fitted"] + curves["offset"], 0, 1))

    # -- undo / redo
    snapshot = doc.edits.to_dict()
    ed.actions.undo.trigger()
    assert doc.edits.offset("jawOpen", 20) == pytest.approx(0.7)
    ed.actions.undo.trigger()
    assert list(doc.edits.key_frames("jawOpen")) == [5]
    ed.actions.redo.trigger()
    ed.actions.redo.trigger()
    assert doc.edits.to_dict() == snapshot

    # -- save, reopen in a new window, same edit
    proj = str(tmp_path / "clip.fsproj")
    with qtbot.waitSignal(ed.io.project_saved, timeout=60_000):
        assert ed.io.save_project(proj)  # written on a worker thread
    assert w.job.ran_on.startswith("thread")
    assert doc.undo_stack.isClean() and "*" not in w.windowTitle()
    w.shutdown()
    w2 = _window(qtbot, tmp_path, "settings2.ini")
    beat = Heartbeat()
    with qtbot.waitSignal(w2.editor.io.project_loaded, timeout=60_000):
        assert w2.open_media(proj)  # a project folder opens as a project (read on a worker thread)
    _wait_job(qtbot, w2)  # the plots and rows follow over a few event-loop turns
    _assert_off_gui_thread(w2.job, beat, "opening the project")
    assert w2.editor.doc.edits.to_dict() == snapshot
    assert "jawOpen" in w2.editor.expressions.rows
    assert Path(w2.session.path).resolve() == Path(clip).resolve()  # projects store resolved paths
    assert w2.editor.doc.num_frames == FRAMES
    np.testing.assert_allclose(w2.editor.doc.rec.expression, doc.rec.expression)

    # -- a corrupt project: a clear message, the open project stays
    bad = tmp_path / "bad.fsproj"
    bad.mkdir()
    (bad / "project.json").write_text("{ not json")
    with qtbot.waitSignal(w2.editor.io.project_failed, timeout=10_000):
        assert w2.editor.io.open_project(str(bad))
    assert errors and "bad.fsproj" in errors[-1][1] and "project.json" in errors[-1][1]
    assert w2.editor.doc.edits.to_dict() == snapshot

    # -- export the video (worker, GUI responsive), curves and meshes
    out = tmp_path / "edited.mp4"
    _wait_job(qtbot, w2)
    beat = Heartbeat()
    assert w2.editor.export("video", str(out))
    assert _wait_job(qtbot, w2) == "finished", errors
    _assert_off_gui_thread(w2.job, beat, "export")
    from core.video import open_source, probe

    info = probe(out)
    assert info["has_audio"] and (info["width"], info["height"]) == (480, 480)
    with open_source(str(out)) as o, open_source(clip) as src:
        assert o.frame_count == FRAMES
        a, b = src.read(5), o.read(5)
        d = np.abs(a.astype(int) - b.astype(int)).sum(2) > 40
        box = doc.rec.landmarks68[5]
        x0, y0 = box.min(0) - 40
        x1, y1 = box.max(0) + 40
        inside = np.zeros_like(d)
        inside[int(max(0, y0)):int(y1), int(max(0, x0)):int(x1)] = True
        assert d[inside].sum() > 300           # the edit is visible around the face
        assert d[~inside].mean() < 0.002        # and nothing changes far from it
        far = np.abs(src.read(29).astype(int) - o.read(29).astype(int)).sum(2) > 40
        assert far.mean() < 0.002               # frame 29: offset 0 after the last key

    csv_path = tmp_path / "curves.csv"
    assert w2.editor.export("csv", str(csv_path))
    assert _wait_job(qtbot, w2) == "finished"
    rows = csv_path.read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == FRAMES + 1 and "jawOpen" in header and "jawOpen.offset" in header
    k = header.index("jawOpen.offset")
    assert float(rows[1 + 5].split(",")[k]) == pytest.approx(0.7, abs=1e-5)
    js = tmp_path / "curves.json"
    assert w2.editor.export("json", str(js))
    assert _wait_job(qtbot, w2) == "finished"
    assert json.loads(js.read_text())["components"]["jawOpen"]["offset"][5] == pytest.approx(0.7, abs=1e-5)
    meshes = tmp_path / "meshes"
    assert w2.editor.export("obj", str(meshes))
    assert _wait_job(qtbot, w2) == "finished"
    assert len(list(meshes.glob("mesh_*.obj"))) == FRAMES
    w2.shutdown()


def test_render_project_function_matches_the_gui_export(qtbot, tmp_path, errors):
    """The command line's entry point renders a saved project (PNG frames here)."""
    from core.edits import ExpressionEdits, render_project
    from core.project import Project, load_project, save_project

    clip = str(shared_path("data", "videos", "d3.mp4"))
    w = _window(qtbot, tmp_path)
    assert w.open_media(clip)
    assert w.editor.reconstruct(max_frames=8)
    assert _wait_job(qtbot, w) == "finished", errors
    rec = w.editor.doc.rec
    w.shutdown()
    e = ExpressionEdits()
    e.set_key("mouthSmileLeft", 0, 0.8)
    e.set_key("mouthSmileRight", 0, 0.8)
    save_project(tmp_path / "p.fsproj", Project(source=clip, model_spec=rec.model_spec, reconstruction=rec,
                                                edits={"expression": e.to_dict()}))
    n = render_project(str(tmp_path / "p.fsproj"), tmp_path / "frames")
    assert n == 8 and len(list((tmp_path / "frames").glob("*.png"))) == 8
    assert load_project(tmp_path / "p.fsproj").edits["expression"] == e.to_dict()


def test_personalise_toggle_reaches_the_fit_and_is_remembered(qtbot, tmp_path, errors):
    """Track > Personalise: the next reconstruction (built-in model) fits the subject's own model."""
    clip = str(shared_path("data", "videos", "d3.mp4"))
    w = _window(qtbot, tmp_path)
    ed = w.editor
    assert ed.model_spec == "builtin" and not ed.actions.personalise.isChecked()  # off by default
    assert w.open_media(clip)
    ed.actions.personalise.trigger()
    assert ed.personalise and ed.fit_settings().personalise
    assert ed.reconstruct(max_frames=12)  # personalisation needs 10 tracked frames
    assert not ed.actions.personalise.isEnabled()  # not changed under a running job
    assert _wait_job(qtbot, w) == "finished", errors
    rec = ed.doc.rec
    assert rec.is_personalised and rec.num_frames == 12
    assert "personalised" in w.statusBar().currentMessage()
    # the meshes on screen are the subject's model: its rest face differs from the generic one
    assert np.abs(rec.face_model(ed.doc.model).mean - ed.doc.model.mean).max() > 0.01
    w.shutdown()
    w2 = _window(qtbot, tmp_path)  # the same settings file: the choice is remembered
    assert w2.editor.actions.personalise.isChecked() and w2.editor.fit_settings().personalise
    w2.editor.actions.personalise.trigger()
    assert not w2.editor.fit_settings().personalise
    w2.shutdown()


def _dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _saved_project(qtbot, tmp_path, errors):
    """A window with 6 frames of d3 reconstructed and saved as ``tmp_path/mine.fsproj``."""
    w = _window(qtbot, tmp_path)
    assert w.open_media(str(shared_path("data", "videos", "d3.mp4")))
    assert w.editor.reconstruct(max_frames=6)
    assert _wait_job(qtbot, w) == "finished", errors
    with qtbot.waitSignal(w.editor.io.project_saved, timeout=60_000):
        assert w.editor.io.save_project(str(tmp_path / "mine.fsproj"))
    assert _wait_job(qtbot, w) == "finished", errors
    return w, str(tmp_path / "mine.fsproj")


def test_autosave_after_each_edit_and_recovery_linked_to_its_project(qtbot, tmp_path, errors, monkeypatch):
    clip = str(shared_path("data", "videos", "d3.mp4"))
    w, _proj = _saved_project(qtbot, tmp_path, errors)
    ed = w.editor
    # an edit is autosaved shortly after, in the background, into this session's folder
    with qtbot.waitSignal(ed.io.autosaved, timeout=20_000) as sig:
        ed.doc.set_offset("browInnerUp", 2, 0.4, gesture=False)
        assert ed.io.autosave_timer.isActive()
    assert sig.args[0] is True
    assert ed.io._autosave_thread is not None and ed.io._autosave_thread is not threading.current_thread()  # noqa: SLF001
    auto = ed.io.recovery.project_path
    doc = json.loads((auto / "project.json").read_text())
    assert doc["settings"]["recovery"]["project_path"] == str(tmp_path / "mine.fsproj")

    # a crash: the window goes away without shutdown(), its process counts as dead
    ed.preview.stop()
    marker = ed.io.recovery.marker_path
    marker.write_text(json.dumps({"pid": _dead_pid(), "process_start": None}))
    asked = []

    def answer(*a, **k):
        asked.append(a[1])
        return QMessageBox.StandardButton.Yes
    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    w2 = _window(qtbot, tmp_path, "settings.ini")  # the same settings folder: the next start
    with qtbot.waitSignal(w2.editor.io.project_loaded, timeout=60_000):
        assert w2.editor.io.offer_recovery(then_open=clip)
    assert asked == ["Recover unsaved work"]
    assert w2.editor.doc.edits.offset("browInnerUp", 2) == pytest.approx(0.4)
    assert not w2.editor.doc.undo_stack.isClean()  # recovered work is unsaved ...
    assert w2.editor.io.project_path == str(tmp_path / "mine.fsproj")  # ... and belongs to its project
    assert not marker.exists() and not auto.exists()  # adopted by the new session

    # a decided quit (Discard) leaves nothing behind, and the next start asks nothing
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
    w2.editor.io.ask_to_save = True
    assert w2.editor.io.confirm_close()
    w2.shutdown()
    assert not list((tmp_path / "sessions").glob("session-*"))
    asked.clear()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    w3 = _window(qtbot, tmp_path, "settings.ini")
    assert not w3.editor.io.offer_recovery()
    assert asked == []
    w3.shutdown()


def test_recovery_store_sessions(tmp_path):
    from app.recovery import RecoveryStore

    a = RecoveryStore(tmp_path / "s")
    work = a.begin_session()
    (work).mkdir()
    (work / "project.json").write_text('{"source": "clip.mp4", "settings": {"recovery": {"project_path": "/p"}}}')
    b = RecoveryStore(tmp_path / "s")
    b.begin_session()
    assert b.orphans() == []  # a running session (this process) is no orphan
    a.marker_path.write_text('{"pid": %d}' % _dead_pid())
    (o,) = b.orphans()
    assert o.project == work and o.belongs_to == "/p" and o.source == "clip.mp4"
    adopted = b.adopt(o)
    assert adopted == b.project_path and (adopted / "project.json").is_file() and not work.exists()
    assert b.orphans() == []
    b.end_session(keep_work=False)
    assert not any((tmp_path / "s").iterdir())


def test_a_project_open_in_another_window_opens_read_only(qtbot, tmp_path, errors, monkeypatch):
    """One writer per project (core.project.lock): a second window is told who has it and
    offered a read-only open; its Save goes to Save As, and the first window still saves."""
    w, proj = _saved_project(qtbot, tmp_path, errors)
    ed = w.editor

    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No))
    w2 = _window(qtbot, tmp_path, "settings2.ini")
    w2.editor.io.ask_to_save = True
    with qtbot.waitSignal(w2.editor.io.project_failed, timeout=60_000):
        assert w2.editor.io.open_project(proj)
    assert len(asked) == 1 and "open for editing in process" in asked[0] and "FaceStudio editor" in asked[0]
    assert not w2.editor.doc.has_reconstruction  # declined: nothing opened

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(w2.editor.io.project_loaded, timeout=60_000):
        assert w2.editor.io.open_project(proj)
    _wait_job(qtbot, w2)
    io2 = w2.editor.io
    assert io2.read_only and "[read-only]" in w2.windowTitle()
    w2.editor.doc.set_offset("jawOpen", 2, 0.5, gesture=False)
    shown = []
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *a, **k: shown.append(a[2])))
    other = str(tmp_path / "copy.fsproj")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (other, "")))
    with qtbot.waitSignal(io2.project_saved, timeout=60_000) as sig:
        assert io2.save_project()  # Ctrl+S on a read-only project: Save As
    assert sig.args == [other] and shown and "read-only" in shown[0]
    assert _wait_job(qtbot, w2) == "finished", errors
    assert not io2.read_only and "[read-only]" not in w2.windowTitle()

    # the first window still holds its project and saves it
    ed.doc.set_offset("browInnerUp", 2, 0.3, gesture=False)
    with qtbot.waitSignal(ed.io.project_saved, timeout=60_000):
        assert ed.io.save_project()
    assert _wait_job(qtbot, w) == "finished", errors
    from core.project import load_project

    assert load_project(other).edits != load_project(proj).edits
    w2.shutdown()
    w.shutdown()
