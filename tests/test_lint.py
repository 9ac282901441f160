"""The code passes ruff with the project's settings ([tool.ruff] in pyproject.toml): pycodestyle,
pyflakes, naming, blind excepts, private access, and the numpy docstring convention in core/."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import IN_CI, REPO


def _ruff() -> list[str]:
    """How to run ruff: the module of this interpreter's environment (requirements.txt pins it)."""
    try:
        import ruff  # noqa: F401
    except ImportError:
        exe = shutil.which("ruff")
        if exe is None:
            msg = "ruff is not installed (requirements.txt pins it: scripts/install.sh installs it)"
            if IN_CI:
                pytest.fail(msg)
            pytest.skip(msg)
        return [exe]
    return [sys.executable, "-m", "ruff"]


def test_ruff_finds_nothing():
    r = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", "."], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_checks_core_docstrings(tmp_path):
    """The configuration really applies the docstring rules to core/ (and only there)."""
    bad = "def f(x):\n    return x\n"
    for where, expect in (("core/undocumented.py", "D103"), ("app/undocumented.py", None)):
        r = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", "--stdin-filename",
                            str(REPO / where), "-"], cwd=REPO, input=bad, capture_output=True, text=True, timeout=60)
        if expect is None:
            assert r.returncode == 0, r.stdout
        else:
            assert expect in r.stdout, r.stdout
