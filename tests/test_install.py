"""The installed environment is the one the README promises."""
from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest


def _installed() -> set[str]:
    # normalised as in PEP 503 (PySide6_Essentials -> pyside6-essentials)
    return {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions()}


def test_exactly_one_opencv_without_qt5():
    names = _installed()
    cv = sorted(n for n in names if n.startswith("opencv"))
    assert cv == ["opencv-python-headless"], cv
    import cv2

    qt_dir = Path(cv2.__file__).parent / "qt"
    assert not qt_dir.exists(), f"OpenCV bundles Qt: {qt_dir}"


def test_pyside6_essentials_only():
    names = _installed()
    assert "pyside6-essentials" in names
    assert "pyside6-webengine" not in names and "pyside6-addons" not in names


def test_torch_pinned_cpu_build():
    import torch

    assert torch.__version__.startswith("2.13.0")


def test_tracker_model_verified(monkeypatch, tmp_path):
    from core.tracking import model_file

    p = model_file.tracker_model_path(verify=True)
    assert model_file.sha256_of(p) == model_file.MODEL_SHA256
    # a corrupt copy is refused with a message that says what to do
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(p.read_bytes()[:1000])
    monkeypatch.setenv(model_file.ENV_VAR, str(bad))
    with pytest.raises(model_file.ModelFileError, match="sha256"):
        model_file.tracker_model_path(verify=True)
    monkeypatch.setenv(model_file.ENV_VAR, str(tmp_path / "missing.task"))
    with pytest.raises(model_file.ModelFileError, match="not found"):
        model_file.tracker_model_path(verify=True)


def test_qt_binding_keeps_references_to_none():
    """PySide6 6.12.0 loses a reference to None per void call (the app aborted within
    seconds of playing a reconstruction): the pinned binding must not."""
    from app.qt_binding_check import binding_problem, none_references_lost_per_call

    assert none_references_lost_per_call() == 0.0
    assert binding_problem() is None
