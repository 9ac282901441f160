"""Legends compare by value: the editor skips a repaint when the legend is unchanged.

The 10-minute GUI soak found `legend != widget.legend()` raising on every shown frame in
the viewport's flow modes (numpy colours in the stops), one error box per frame.
"""
import pytest

pytest.importorskip("PySide6")

from app.editor.legends import flow_direction_legend, flow_speed_legend  # noqa: E402


def test_legends_compare_by_value():
    a, b = flow_speed_legend(0.31, "mm", factor=10.0), flow_speed_legend(0.31, "mm", factor=10.0)
    assert a == b
    assert a != flow_speed_legend(0.52, "mm", factor=10.0)
    assert a != flow_direction_legend() and a is not None
    assert all(isinstance(c, float) for _t, rgb in a.stops for c in rgb)
