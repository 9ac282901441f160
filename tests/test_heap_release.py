"""Freed heap memory goes back to the system (core.render.memory, app.gui_main.MemoryRelease).

The process keeps freed blocks below glibc's 32 MB mmap threshold on its heap for reuse
(``retain_freed_memory``: per-frame buffers would page-fault otherwise). glibc trims a heap
only from its top, so a block freed below one still in use stays resident: in the GUI soak
(continuous editing, live preview and recordings) that freed heap grew ~20 MB a minute while
the memory in use did not. The window gives it back every ``MEMORY_RELEASE_MS``.

Run under Xvfb (the second test opens the main window):
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q tests/test_heap_release.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")

BLOCK = 1 << 20    # a per-frame buffer's size: from the heap under the retained-memory policy
BLOCKS = 100       # freed, each between two blocks that stay: 100 MB freed in all
FREED_MB = BLOCKS * BLOCK / 2**20


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def _fragment() -> tuple[float, list]:
    """Allocate 2 x BLOCKS buffers and free every other one, so each freed block lies between
    blocks in use: (resident MB freed but kept, the blocks in use)."""
    from core.render.memory import release_freed_memory, retain_freed_memory

    if not retain_freed_memory():
        pytest.skip("glibc's mallopt is not available")
    release_freed_memory()  # (what earlier tests freed would be reused here without a page touched)
    blocks = [np.ones(BLOCK, np.uint8) for _ in range(2 * BLOCKS)]
    kept = blocks[1::2]
    rss = _rss_mb()
    del blocks[::2]
    return FREED_MB - (rss - _rss_mb()), kept


def test_freed_heap_below_blocks_in_use_stays_until_released():
    from core.render.memory import release_freed_memory

    kept_mb, kept = _fragment()
    # the cause: trimming from the heap's top cannot reach blocks freed below ones in use
    assert kept_mb > 0.8 * FREED_MB, kept_mb
    rss = _rss_mb()
    assert release_freed_memory()
    assert rss - _rss_mb() > 0.8 * FREED_MB, (rss, _rss_mb())
    assert all(k[0] == 1 and k[-1] == 1 for k in kept)  # (what is in use stays)


@pytest.mark.gui
def test_the_window_gives_freed_heap_back(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (run under xvfb-run)")
    from PySide6.QtCore import QSettings

    from app.gui_main import MEMORY_RELEASE_MS, create_application, create_main_window

    create_application()
    w = create_main_window(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    w.editor.io.ask_to_save = False
    qtbot.addWidget(w)
    try:
        timer = w.memory_release.timer
        assert timer.isActive() and timer.interval() == MEMORY_RELEASE_MS <= 60_000

        kept_mb, kept = _fragment()
        assert kept_mb > 0.8 * FREED_MB, kept_mb
        rss = _rss_mb()
        timer.timeout.emit()            # what the timer does every MEMORY_RELEASE_MS
        thread = w.memory_release.thread
        assert thread is not None and thread.name == "memory-release"
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=30_000)
        assert rss - _rss_mb() > 0.8 * FREED_MB, (rss, _rss_mb())
        del kept
    finally:
        w.shutdown()
