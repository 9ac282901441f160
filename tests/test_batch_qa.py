"""The GUI's batch QA list (app/batch_qa.py): a batch folder opens as a table of its clips, and
picking a clip opens it at its worst-fitting frame (a whole clip through its project, a clip cut
short by --max-frames through its arrays). The batch folder is made in this process with the
batch's own task (core.batch.task.run_clip), no cluster.

Run under Xvfb:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_batch_qa.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not os.environ.get("DISPLAY"):
    pytest.skip("the main window's 3D viewport needs Xvfb (run under xvfb-run)", allow_module_level=True)

from PySide6.QtCore import QSettings  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from conftest import shared_path  # noqa: E402
from test_batch import short_clip  # noqa: E402

pytestmark = pytest.mark.gui


def make_batch(tmp_path: Path) -> tuple[Path, dict]:
    """A batch folder of three clips: a whole 6-frame clip (a project), a clip cut to 4 frames
    (arrays) and a corrupt file (failed). Returns (folder, clip id -> record)."""
    from core.batch.inputs import collect_clips
    from core.batch.report import rows_from, write_index, write_reports
    from core.batch.task import BatchJob, run_clip

    videos = shared_path("data", "videos")
    whole = short_clip(videos / "d19.mp4", tmp_path / "in" / "whole.mp4")
    cut = short_clip(videos / "d18.mp4", tmp_path / "in" / "cut.mp4")
    bad = tmp_path / "in" / "bad.mp4"
    bad.write_bytes(os.urandom(5000))
    clips = collect_clips([str(whole), str(bad)]) + collect_clips([str(cut)], max_frames=4)
    out = tmp_path / "batch"
    job = BatchJob(str(out), ("track", "reconstruct"), run_id="gui-test")
    write_index(out, clips, job, "running")
    recs = {c.clip_id: run_clip(c, job) for c in clips}
    write_reports(out, rows_from(out, clips, recs))
    write_index(out, clips, job, "finished")
    return out, recs


def test_a_batch_folder_opens_as_a_qa_list_and_a_clip_at_its_worst_frame(qtbot, tmp_path, errors):
    folder, recs = make_batch(tmp_path)
    by_kind = {("project" if any(k.startswith("project/") for k in r.get("outputs", {})) else
                "arrays" if r["status"] == "done" else "failed"): cid for cid, r in recs.items()}
    assert set(by_kind) == {"project", "arrays", "failed"}, recs
    # (a worst frame other than 0 makes the seek below a real one)
    assert max(recs[by_kind[k]]["worst_frame"] for k in ("project", "arrays")) > 0

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    w.editor.io.ask_to_save = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qa = w.batch_qa
    with qtbot.waitSignal(qa.rows_loaded, timeout=60_000):
        assert w.open_media(str(folder))  # a batch folder opens as its QA list
    assert qa.dock.isVisible() and qa.table.rowCount() == 3
    order = [qa.clip_at(i) for i in range(3)]
    p95 = {cid: r.get("fit_p95_px") for cid, r in recs.items()}
    done = sorted((c for c in recs if p95[c] is not None), key=lambda c: -p95[c])
    assert order == [*done, by_kind["failed"]]  # worst p95 first, the failed clip (no figures) last

    for kind in ("project", "arrays"):
        cid = by_kind[kind]
        rec = recs[cid]
        with qtbot.waitSignal(qa.clip_opened, timeout=60_000) as sig:
            assert qa.open_clip(cid), w.statusBar().currentMessage()
        assert sig.args == [cid]
        qtbot.waitUntil(lambda: not w.job_running, timeout=20_000)
        qtbot.waitUntil(lambda: w.session.index == rec["worst_frame"], timeout=20_000)
        assert Path(w.session.path) == Path(rec["input"]["path"])
        assert w.editor.doc.has_reconstruction and w.editor.doc.num_frames == rec["frames"]
        if kind == "project":
            assert Path(w.editor.io.project_path) == folder / cid / "project"
    assert not errors, errors

    bad = by_kind["failed"]
    assert not qa.open_clip(bad)
    assert recs[bad]["error"] in w.statusBar().currentMessage()
