"""Non-square pixels (no Qt): the sources know them, the writer records them, PNG exports
are resampled to square pixels."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from conftest import shared_path
from core.edits.export import square_pixels
from core.video import VideoWriter, open_source, probe


def test_sources_know_the_pixel_aspect_and_the_writer_keeps_it(tmp_path):
    d9 = str(shared_path("data", "videos", "d9.mp4"))
    with open_source(d9) as src:
        assert src.size == (480, 512) and src.pixel_aspect == 15 / 16
        frame = src.read(0)
    with open_source(f"simcam:{d9}") as cam:
        assert cam.pixel_aspect == 15 / 16
    with open_source(str(shared_path("data", "videos", "d6.mp4"))) as src:
        assert src.pixel_aspect == 1.0
    out = tmp_path / "o.mp4"
    with VideoWriter(out, fps=30, pixel_aspect=15 / 16) as w:
        w.write(frame)
    assert probe(out)["sample_aspect"] == Fraction(15, 16)
    with VideoWriter(tmp_path / "sq.mp4", fps=30) as w:
        w.write(frame)
    assert probe(tmp_path / "sq.mp4")["sample_aspect"] == 1


def test_square_pixels_resamples_the_width_only():
    f = np.zeros((480, 512, 3), np.uint8)
    assert square_pixels(f, 15 / 16).shape == (480, 480, 3)
    assert square_pixels(f, 1.0) is f
