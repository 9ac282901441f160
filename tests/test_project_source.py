"""A project's source path is resolved one way everywhere: as written when absolute, else
relative to the project folder (never to the current directory)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path

F = 3


def _project(tmp_path: Path) -> Path:
    """A project folder ``tmp/work/clip.fsproj`` whose source is written as ``../d3.mp4`` (the
    first F frames of d3: a project's arrays cover its source clip frame for frame)."""
    from core.fitting.reconstruction import Reconstruction
    from core.model.registry import load_model
    from core.project import Project, save_project
    from core.video import VideoWriter, open_source

    work = tmp_path / "work"
    work.mkdir()
    with open_source(str(shared_path("data", "videos", "d3.mp4"))) as src, \
            VideoWriter(work / "d3.mp4", fps=src.fps) as w:
        for _, frame in src.frames(0, F):
            w.write(frame)
    m = load_model("builtin")
    rec = Reconstruction(
        model_name=m.name, model_spec="builtin", identity=np.zeros(m.num_identity, np.float32),
        expression=np.zeros((F, m.num_expressions), np.float32), expression_names=np.asarray(m.expression_names),
        rotation=np.tile(np.diag([1.0, -1.0, -1.0]).astype(np.float32), (F, 1, 1)),
        translation=np.full((F, 2), 256.0, np.float32), scale=np.full(F, 10.0, np.float32),
        landmarks68=np.zeros((F, 68, 2), np.float32), fit_error_px=np.zeros(F, np.float32),
        valid=np.zeros(F, bool), segment=np.full(F, -1, np.int32), image_size=(512, 512))
    folder = work / "clip.fsproj"
    save_project(folder, Project(source="../d3.mp4", model_spec="builtin", reconstruction=rec))
    return folder


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from a directory where the relative source path does not exist."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def test_load_project_resolves_a_relative_source_against_its_folder(tmp_path, elsewhere):
    from core.project import load_project

    folder = _project(tmp_path)
    p = load_project(folder)
    assert p.source == "../d3.mp4"  # kept as written (saved back the same way)
    assert p.source_path == (folder / ".." / "d3.mp4").resolve()
    assert p.source_path.is_file()


def test_render_project_finds_a_relative_source(tmp_path, elsewhere):
    from core.edits.export import render_project

    folder = _project(tmp_path)
    n = render_project(folder, tmp_path / "frames")
    assert n == F and len(list((tmp_path / "frames").glob("*.png"))) == F


def test_opening_a_project_for_editing_finds_a_relative_source(tmp_path, elsewhere):
    pytest.importorskip("PySide6")
    from app.editor.project_io import read_project_for_editing

    folder = _project(tmp_path)
    opened = read_project_for_editing(str(folder))
    try:
        assert opened.first.shape == (512, 512, 3)
        assert opened.lock is not None and not opened.read_only_reason
    finally:
        opened.release()


def test_qa_inputs_of_a_project_use_the_same_rule(tmp_path, elsewhere):
    from core.qa.inputs import prepare_project

    folder = _project(tmp_path)
    # a file of the same relative name in the current directory must not be picked up
    (elsewhere.parent / "d3.mp4").write_bytes(b"not a video")
    os.chdir(elsewhere)
    inp = prepare_project(folder, max_frames=F)
    try:
        assert inp.frames == F and inp.source.size == (512, 512)
    finally:
        inp.source.close()
