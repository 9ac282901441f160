"""The live pipeline's memory stays flat: nothing per frame is kept for good.

The growth found by ``bench/bench_live_soak.py`` with tracemalloc (438 MB at 10 s ->
995 MB at 10 minutes before the fix): the warp cached a pixel-coordinate grid per box
size, and the warp's box changes size with the face from frame to frame.
"""
from __future__ import annotations

import tracemalloc

import numpy as np

from core.warp.dense import dense_warp
from core.warp.settings import WarpSettings


def _grid_mesh(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A flat n x n vertex grid in [0, 1]^2 (N, 3) and its triangles (T, 3), clockwise on a
    y-down screen (the warp's front faces)."""
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    verts = np.stack([u.ravel(), v.ravel(), np.zeros(n * n)], 1)
    tri = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            tri += [(a, c, b), (b, c, d)]
    return verts, np.asarray(tri, np.int32)


def test_dense_warp_keeps_no_memory_per_box_size():
    unit, tri = _grid_mesh()
    size = (480, 480)
    target = unit * [150, 170, 1] + [160, 150, 0]
    settings = WarpSettings()

    def warp(k: int) -> None:
        # a face that moves and changes size a little every frame, as a live source does
        scale = 140 + (k * 7) % 61
        driven = unit * [scale, scale * 1.1, 1] + [150 + k % 13, 140 + (k * 3) % 11, 0]
        dense_warp(driven, target, tri, size, settings=settings).box_map  # noqa: B018 (builds the map)

    for k in range(61):  # every box size that will come up once, then the cache is warm
        warp(k)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for k in range(61, 161):
            warp(k)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename") if d.size_diff > 0)
    # before the fix: ~100 new grid pairs of ~0.3 MB each (tens of MB)
    assert grown < 2 << 20, f"{grown / 2**20:.1f} MB kept by 100 warps"
