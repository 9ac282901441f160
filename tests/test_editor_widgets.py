"""The editor's widgets driven with real mouse and key events (pytest-qt): a key under the
playhead is grabbed before the playhead, box selection, typed key values and key types,
frame all, a click on the timeline goes to the clicked frame, sliders snap to 0 and take
typed values, a click on a slider's groove changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from widgets.curve_editor import CurveEditor, FitErrorPlot  # noqa: E402
from widgets.expression_panel import SLIDER_STEPS, ExpressionPanel  # noqa: E402
from widgets.transport_bar import TransportBar  # noqa: E402

pytestmark = pytest.mark.gui
F = 60


def curves(keys: dict[int, float]) -> dict:
    frames = np.array(sorted(keys), int)
    offset = np.interp(np.arange(F), frames, [keys[f] for f in frames]) if keys else np.zeros(F)
    return dict(fitted=np.full(F, 0.2), offset=offset, edited=0.2 + offset, key_frames=frames,
                key_values=np.array([keys[f] for f in frames]), key_types=["smooth"] * len(frames),
                interpolation="smooth")


def shown(qtbot, widget, w: int, h: int):
    """``widget`` shown at w x h, on screen."""
    qtbot.addWidget(widget)
    widget.resize(w, h)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def editor(qtbot):
    ed = shown(qtbot, CurveEditor(), 1100, 320)
    ed.set_clip(F)
    ed.set_channels("jawOpen", {"jawOpen": curves({10: 0.5, 40: 0.0}), "mouthSmileLeft": curves({20: -0.4})})
    ed.plot.setXRange(0, F - 1, padding=0)
    ed.plot.setYRange(-1, 1, padding=0)
    qtbot.wait(50)
    return ed


def at(ed: CurveEditor, frame: float, value: float) -> QPoint:
    """Widget pixel (of the plot's viewport) of a point in frames x offset."""
    scene = ed.vb.mapViewToScene(QPointF(frame, value))
    return ed.plot.mapFromScene(scene)


def _mouse(widget, kind, p: QPointF, button, buttons, modifier) -> None:
    ev = QMouseEvent(kind, p, QPointF(widget.mapToGlobal(p.toPoint())), button, buttons, modifier)
    QApplication.sendEvent(widget, ev)


def drag(widget, a: QPoint, b: QPoint, steps: int = 8, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at ``a``, move to ``b`` in ``steps``, release: the events a mouse with the left
    button held sends. (QTest.mouseMove warps the X pointer instead, whose motion events carry
    no pressed button under Xvfb, and QTest's presses in quick succession count as double
    clicks.) The moves are 25 ms apart: pyqtgraph drops mouse moves that come faster than
    it redraws."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(widget, QEvent.Type.MouseButtonPress, QPointF(a), left, left, modifier)
    for k in range(1, steps + 1):
        p = QPointF(a.x() + (b.x() - a.x()) * k / steps, a.y() + (b.y() - a.y()) * k / steps)
        QTest.qWait(25)
        _mouse(widget, QEvent.Type.MouseMove, p, none, left, modifier)
    _mouse(widget, QEvent.Type.MouseButtonRelease, QPointF(b), left, none, modifier)


def test_a_key_under_the_playhead_is_grabbed_not_the_playhead(qtbot, editor):
    ed = editor
    ed.set_position(10)  # the playhead sits right on the key at frame 10
    moved, seeks = [], []
    ed.keys_moved.connect(moved.append)
    ed.seek_requested.connect(seeks.append)
    drag(ed.plot.viewport(), at(ed, 10, 0.5), at(ed, 16, 0.7))
    assert moved, "the key was not moved"
    (name, frame, new_frame, value), = moved[-1]
    assert (name, frame) == ("jawOpen", 10) and new_frame == 16 and value == pytest.approx(0.7, abs=0.05)
    assert seeks == [] and ed.cursor.value() == 10  # the playhead stayed where it was
    # the playhead itself is still draggable away from keys
    drag(ed.plot.viewport(), at(ed, 10, -0.5), at(ed, 30, -0.5))
    assert seeks and seeks[-1] == pytest.approx(30, abs=1)


def test_box_select_then_drag_moves_every_selected_key_and_typed_values(qtbot, editor):
    ed = editor
    drag(ed.plot.viewport(), at(ed, 5, 0.9), at(ed, 25, -0.9))   # around the keys at 10 and 20
    assert ed.selected == {("jawOpen", 10), ("mouthSmileLeft", 20)}
    moved = []
    ed.keys_moved.connect(moved.append)
    drag(ed.plot.viewport(), at(ed, 20, -0.4), at(ed, 23, -0.4))
    assert sorted((n, f, nf) for n, f, nf, _v in moved[-1]) == [("jawOpen", 10, 13), ("mouthSmileLeft", 20, 23)]
    # typed value for the one selected key; its frame too
    ed.set_channels("jawOpen", {"jawOpen": curves({13: 0.5, 40: 0.0})})
    ed.select_keys([("jawOpen", 13)])
    ed.key_value.setValue(0.25)
    assert moved[-1] == [("jawOpen", 13, 13, pytest.approx(0.25))]
    ed.key_frame.setValue(17)
    assert moved[-1][0][:3] == ("jawOpen", 13, 17)
    ed.set_channels("jawOpen", {"jawOpen": curves({17: 0.25, 40: 0.0})})  # (the app shows the moved key)
    assert ed.selected == {("jawOpen", 17)}  # the moved key stays selected
    types = []
    ed.key_type_requested.connect(lambda keys, t: types.append((keys, t)))
    ed.key_type.activated.emit(ed.key_type.findData("constant"))
    assert types == [([("jawOpen", 17)], "constant")]
    deleted = []
    ed.keys_deleted.connect(deleted.append)
    ed.plot.setFocus()
    QTest.keyClick(ed.plot, Qt.Key.Key_Delete)
    assert deleted == [[("jawOpen", 17)]]
    # nothing selected: the key fields are disabled and show no other key's frame or value
    ed.select_keys([])
    assert ed.key_info.text() == "no key selected" and not ed.key_value.isEnabled()
    assert (ed.key_frame.value(), ed.key_value.value()) == (0, 0.0) and moved[-1][0][:3] == ("jawOpen", 13, 17)


def test_frame_all_and_frame_selected_zoom(qtbot, editor):
    ed = editor
    ed.plot.setXRange(0, 5)
    ed.frame_all()
    (x0, x1), _ = ed.view_range()
    assert x0 <= 0 and x1 >= F - 1
    ed.select_keys([("mouthSmileLeft", 20)])
    ed.frame_selected()
    (x0, x1), (y0, y1) = ed.view_range()
    assert x0 < 20 < x1 and x1 - x0 < 20 and y0 < -0.4 < y1


def test_a_click_on_the_timeline_goes_to_the_clicked_frame(qtbot):
    bar = shown(qtbot, TransportBar(), 800, 40)
    bar.set_media(1000, 25.0)
    seeks = []
    bar.seek_requested.connect(seeks.append)
    s = bar.slider
    x = int(s.width() * 0.75)
    QTest.mouseClick(s, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, s.height() // 2))
    assert seeks, "no seek"
    assert seeks[-1] == pytest.approx(s.value_at(x), abs=1)
    assert 650 < seeks[-1] < 850  # not a page step of 25 frames from 0


@pytest.fixture
def panel(qtbot):
    p = ExpressionPanel()
    p.set_components(["jawOpen", "mouthSmileLeft"], np.array([[0, 1], [0, 1]]))
    return shown(qtbot, p, 500, 400)


def test_sliders_snap_to_zero_and_a_groove_click_changes_nothing(qtbot, panel):
    got = []
    panel.offset_changed.connect(lambda n, v: got.append((n, v)))
    s = panel.rows["jawOpen"].slider
    y = s.height() // 2
    # drag the handle from the centre to just right of it: lands within the snap zone -> 0
    centre = QPoint(s.width() // 2, y)
    drag(s, centre + QPoint(0, 0), centre + QPoint(60, 0), steps=4)
    assert got and got[-1][1] > 0.1  # a real move
    drag(s, centre + QPoint(60, 0), centre + QPoint(1, 0), steps=6)
    assert got[-1] == ("jawOpen", 0.0) and s.value() == 0
    # a plain click on the groove far from the handle: no change
    n = len(got)
    QTest.mouseClick(s, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(s.width() - 5, y))
    assert len(got) == n and s.value() == 0
    # values outside the snap zone are kept
    s.setValue(int(0.2 * SLIDER_STEPS))
    assert got[-1] == ("jawOpen", pytest.approx(0.2))


def test_double_click_types_a_value(qtbot, panel):
    got, gestures = [], []
    panel.offset_changed.connect(lambda n, v: got.append((n, v)))
    panel.drag_started.connect(lambda n: gestures.append(("start", n)))
    panel.drag_finished.connect(lambda n: gestures.append(("end", n)))
    row = panel.rows["mouthSmileLeft"]
    QTest.mouseDClick(row.slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      QPoint(row.slider.width() // 2, row.slider.height() // 2))
    assert row.typing
    ed = row.editor
    ed.lineEdit().selectAll()
    QTest.keyClicks(ed.lineEdit(), "0.35")
    QTest.keyClick(ed.lineEdit(), Qt.Key.Key_Return)
    assert got == [("mouthSmileLeft", pytest.approx(0.35))]
    assert gestures == [("start", "mouthSmileLeft"), ("end", "mouthSmileLeft")] and not row.typing
    # Esc cancels
    row.start_typing()
    QTest.keyClicks(row.editor.lineEdit(), "9")
    QTest.keyClick(row.editor.lineEdit(), Qt.Key.Key_Escape)
    assert not row.typing and len(got) == 1


def test_a_component_chosen_elsewhere_scrolls_its_slider_into_view(qtbot):
    """Choosing a channel in the curve editor's list selects its row: the row is scrolled to."""
    from core.tracking.landmarker import BLENDSHAPE_NAMES

    p = ExpressionPanel()
    p.set_components([str(n) for n in BLENDSHAPE_NAMES[1:]], None)  # the 51 ARKit shapes
    shown(qtbot, p, 500, 300)
    row = p.rows["jawOpen"]
    assert row.visibleRegion().isEmpty()  # below the fold at this height
    p.select("jawOpen")
    qtbot.waitUntil(lambda: not row.visibleRegion().isEmpty(), timeout=2000)
    assert row.visibleRegion().boundingRect().height() == row.height()  # wholly shown


def test_plots_without_a_reconstruction_show_no_previous_clip_scale(qtbot, editor):
    """Another clip opened (no reconstruction yet): the plots show an empty scale, not the last
    clip's 60 frames and values."""
    p = shown(qtbot, FitErrorPlot(), 800, 300)
    p.set_errors(np.full(60, 2.6), worst=[5])
    p.set_errors(None)
    (x0, x1), (y0, y1) = p.plot.getPlotItem().vb.viewRange()
    assert x1 > 99 and y0 <= 0 and y1 >= 4 and p.summary.text() == "No reconstruction"
    editor.plot.setYRange(-0.3, 1.1)
    editor.set_clip(0)
    (x0, x1), (y0, y1) = editor.view_range()
    assert x1 > 99 and y0 < -1 and y1 > 1


def test_a_click_on_the_fit_error_plot_goes_to_the_peak_near_it(qtbot):
    p = shown(qtbot, FitErrorPlot(), 800, 300)
    e = np.ones(100)
    e[42] = 9.0
    p.set_errors(e, worst=[42])
    p.plot.setXRange(0, 99, padding=0)
    qtbot.wait(50)
    seeks = []
    p.seek_requested.connect(seeks.append)
    vb = p.plot.getPlotItem().vb
    pos = p.plot.mapFromScene(vb.mapViewToScene(QPointF(39, 2.0)))  # 3 frames off the peak
    QTest.mouseClick(p.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    assert seeks == [42]


def test_a_pin_is_drawn_over_its_handle_and_beyond_it(qtbot):
    """Correcting a fit: the pin (magenta cross) stays visible beside its re-solved handle (a ring a
    few pixels away); it had been drawn first, at the ring's size, half under the ring."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

    from widgets.video_view import HandlesItem

    scene = QGraphicsScene(0, 0, 100, 100)
    view = shown(qtbot, QGraphicsView(scene), 140, 140)
    item = HandlesItem()
    scene.addItem(item)
    item.set_handles(np.array([[50.0, 50.0]]), np.array([57]))
    item.set_pins(np.array([[53.0, 50.0]]))
    view.setSceneRect(0, 0, 100, 100)
    view.resetTransform()  # one screen pixel per image pixel: the ring's radius is 5 px
    qtbot.wait(50)
    img = QImage(100, 100, QImage.Format.Format_RGB32)
    img.fill(0xFFFFFF)
    p = QPainter(img)
    scene.render(p, QRectF(0, 0, 100, 100), QRectF(0, 0, 100, 100))
    p.end()

    def magenta(x, y):
        c = img.pixelColor(x, y)
        return c.red() > 180 and c.blue() > 120 and c.green() < 120

    assert magenta(53, 50)                              # the pin's centre
    assert magenta(55, 52)                              # on its arm, at the ring
    assert magenta(59, 56) and magenta(47, 44)          # arms longer than the ring's radius
