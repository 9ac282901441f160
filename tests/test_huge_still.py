"""A huge still target is worked on at a bounded resolution (core.reenact.still): the whole
picture scaled to at most 2048 px when its face stays big enough, else a crop around the face
at full detail; a full-size output puts each frame back into the picture. (The 16000x16000
figures, time and memory, are bench/bench_huge_still.py's: no timing here.)"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import shared_path
from core.reenact.still import WORK_MAX_SIDE, load_working_still


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return cv2.imread(str(shared_path("data", "portraits", "stills", "d9.jpg")))  # 720x720 BGR


def test_a_big_portrait_is_scaled_whole(tmp_path, portrait):
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), cv2.resize(portrait, (3000, 2400)))
    ws = load_working_still(path)
    assert ws.region == (0, 0, 3000, 2400) and ws.full_size == (2400, 3000)
    assert max(ws.image.shape[:2]) <= WORK_MAX_SIDE and max(ws.image.shape[:2]) >= 0.75 * WORK_MAX_SIDE
    assert ws.image.shape[1] / 3000 == pytest.approx(ws.scale, abs=1e-3)
    assert ws.describe().startswith("3000x2400 worked on at")


def test_a_small_face_in_a_huge_picture_is_cropped_at_full_detail(tmp_path, portrait):
    canvas = np.full((4000, 4400, 3), 90, np.uint8)
    canvas[2500:3220, 600:1320] = portrait
    path = tmp_path / "group.png"
    cv2.imwrite(str(path), canvas)
    ws = load_working_still(path, keep_full=True)
    x0, y0, x1, y1 = ws.region
    assert ws.scale == 1.0 and (x1 - x0, y1 - y0) == (WORK_MAX_SIDE, WORK_MAX_SIDE)
    assert x0 <= 700 and x1 >= 1200 and y0 <= 2600 and y1 >= 3100  # the face is inside
    # the crop is the picture's own pixels (RGB)
    assert np.array_equal(ws.image, canvas[y0:y1, x0:x1, ::-1])
    # full-size output: the changed part goes back where it came from, the rest is untouched
    out = ws.image.copy()
    out[100:200, 300:500] = (255, 0, 0)
    full = ws.compose_full(out)
    assert full.shape == (4000, 4400, 3)
    assert np.array_equal(full[y0 + 100:y0 + 200, x0 + 300:x0 + 500], np.broadcast_to([255, 0, 0], (100, 200, 3)))
    mask = np.ones(full.shape[:2], bool)
    mask[y0 + 100:y0 + 200, x0 + 300:x0 + 500] = False
    assert np.array_equal(full[mask], canvas[..., ::-1][mask])
    full = ws.compose_full(ws.image)  # the next frame unchanged: the previous paste is undone
    assert np.array_equal(full, canvas[..., ::-1])


def test_a_small_picture_is_left_alone(tmp_path, portrait):
    path = tmp_path / "small.jpg"
    cv2.imwrite(str(path), portrait)
    ws = load_working_still(path)
    assert not ws.reduced and ws.image.shape == (720, 720, 3) and ws.describe() == "720x720"


def test_a_qa_render_of_a_huge_still_is_bounded(tmp_path, portrait):
    """render on a picture larger than 2048 px renders at 2048 (it took 35 s a frame and wrote a
    16000x16000 video at the picture's size), unless asked (max_side None: --full-size)."""
    from core.qa.inputs import prepare
    from core.qa.render_video import write_render_video
    from core.render import RenderThread
    from core.video import probe

    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), cv2.resize(portrait, (2600, 2600)))
    inp = prepare(str(path), need_track=True)
    try:
        with RenderThread() as rt:
            res = write_render_video(inp.source, inp.meshes, tmp_path / "r.mp4", inp.frames, "overlay",
                                     track=inp.track, renderer=rt)
    finally:
        inp.source.close()
    assert res.size == (WORK_MAX_SIDE, WORK_MAX_SIDE)
    info = probe(tmp_path / "r.mp4")
    assert (info["width"], info["height"]) == (WORK_MAX_SIDE, WORK_MAX_SIDE)
