"""Shared test fixtures: where the shared data lives, and the CI rule for it.

The shared data (``../shared`` next to the repository) is used in place. Outside
CI a test that needs it is skipped when it is absent; under CI (``CI=true``) its
absence is an error, so a broken checkout can never pass silently.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESTUDIO_SHARED", REPO.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tracking / reconstruction results of the GUI jobs are cached on disk (core.result_cache):
# the tests use a fresh cache of their own, never the user's (set before any app import,
# so worker processes started by the tests inherit it).
if "FACESTUDIO_RESULTS_DIR" not in os.environ:
    import tempfile

    os.environ["FACESTUDIO_RESULTS_DIR"] = tempfile.mkdtemp(prefix="facestudio-test-results-")


def shared_path(*parts: str) -> Path:
    """Path under ../shared; fails under CI and skips elsewhere when missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        msg = f"shared test data missing: {p}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    return shared_path("data", "videos")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return shared_path("models")


@pytest.fixture(scope="session")
def d6() -> str:
    """The talking-head clip the live tests play as a camera (a module may define its own)."""
    return str(shared_path("data", "videos", "d6.mp4"))


@pytest.fixture(scope="session")
def still() -> str:
    """A portrait still, the live tests' reenactment target (a module may define its own)."""
    return str(shared_path("data", "portraits", "stills", "d12.jpg"))


@pytest.fixture
def errors(monkeypatch):
    """GUI tests: record error/warning boxes as (title, text) instead of showing them
    (a modal box would block the test)."""
    from PySide6.QtWidgets import QMessageBox

    seen: list[tuple[str, str]] = []

    def fake(parent, title, text, *a, **k):
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(fake))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(fake))
    return seen


@pytest.fixture
def reenact_window(qtbot, tmp_path):
    """A bare QMainWindow with the reenactment panel installed and a settings file of its own
    (the gallery and recording folder never touch the user's): (window, controller)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QLabel, QMainWindow

    from app.reenact_controller import install_reenact_panel

    w = QMainWindow()
    w.settings = QSettings(str(tmp_path / "reenact.ini"), QSettings.Format.IniFormat)
    w.setCentralWidget(QLabel("central"))
    qtbot.addWidget(w)
    ctl = install_reenact_panel(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w, ctl
    ctl.shutdown()


@pytest.fixture
def win(qtbot, tmp_path):
    """The app's main window, shown, with a settings file of its own and no save prompt at the
    end (test_editor_app and test_gui_shell have windows of their own)."""
    from PySide6.QtCore import QSettings

    from app.gui_main import create_application, create_main_window

    create_application()
    w = create_main_window(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w.editor.io.ask_to_save = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()
