"""Property-based fuzzing of the project loader (hypothesis, pinned in requirements.txt).

A few hundred damaged projects (tests/project_fuzz.py draws the damages): each one loads
as a consistent project that saves and loads back, or is refused with a UserFacingError
naming the file; never a traceback. ``bench/bench_project_fuzz.py`` runs 10,000.
The run is derandomized (the same examples every time) and keeps no example database.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from project_fuzz import apply_damage, check_outcome, damages, make_base

EXAMPLES = 250


@pytest.fixture
def fuzz_root(tmp_path):
    """A scratch folder in memory when the machine has one (/dev/shm: the saves' fsyncs cost
    nothing there, which keeps this test at seconds on a busy disk), else under tmp_path."""
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="facestudio-fuzz-", dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) \
        else tmp_path
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_damaged_projects_load_or_are_refused_clearly(fuzz_root):
    root = fuzz_root
    base = make_base(root)
    counter = {"n": 0, "loaded": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(damages)
    def run(ds):
        counter["n"] += 1
        folder = root / f"p{counter['n']}"
        shutil.copytree(base, folder, symlinks=True)
        try:
            for d in ds:
                apply_damage(folder, d, root / "outside")
            if check_outcome(folder) == "loaded":
                counter["loaded"] += 1
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    run()
    assert counter["n"] >= EXAMPLES
    # the damages are not all fatal: some projects still load (extra keys, leftovers, links inside)
    assert 0 < counter["loaded"] < counter["n"]
