"""Keys and slider moves inside and outside an edit range's ease-in/out (EditorDocument over
core.edits): a key stores the curve's own value, never the value the envelope already eased,
and a slider shows the offset it set."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from core.edits import EditRange  # noqa: E402
from core.fitting.reconstruction import Reconstruction  # noqa: E402
from core.model.registry import load_model  # noqa: E402

F = 120


@pytest.fixture(scope="module")
def builtin():
    return load_model("builtin")


@pytest.fixture
def doc(qapp, builtin):
    from app.editor import EditorDocument

    Ke = builtin.num_expressions
    rec = Reconstruction(
        model_name=builtin.name, model_spec="builtin", identity=np.zeros(builtin.num_identity, np.float32),
        expression=np.full((F, Ke), 0.1, np.float32), expression_names=np.asarray(builtin.expression_names),
        rotation=np.tile(np.diag([1.0, -1.0, -1.0]).astype(np.float32), (F, 1, 1)),
        translation=np.full((F, 2), 200.0, np.float32), scale=np.full(F, 10.0, np.float32),
        landmarks68=np.zeros((F, 68, 2), np.float32), fit_error_px=np.zeros(F, np.float32),
        valid=np.ones(F, bool), segment=np.zeros(F, np.int32))
    d = EditorDocument()
    d.set_reconstruction(rec, builtin)
    return d


def shown(doc, name, frame):
    _fitted, offset, _edited = doc.frame_values(frame)
    return float(offset[doc.names.index(name)])


def test_pressing_k_inside_the_ease_in_keeps_the_shown_offset(doc):
    """The issue's case: a key of 0.8 with ease-in 20 shows 0.4 at frame 10; pressing K there
    must keep 0.4 (it gave 0.2, 0.1, 0.05 while K stored the eased value)."""
    doc.set_offset("jawOpen", 0, 0.8, gesture=False)
    doc.set_range(dict(first=0, last=F - 1, ease_in=20.0, ease_out=0.0))
    assert shown(doc, "jawOpen", 10) == pytest.approx(0.4)
    for _ in range(3):
        doc.set_key(["jawOpen"], 10)
        assert shown(doc, "jawOpen", 10) == pytest.approx(0.4)
    assert doc.edits.components["jawOpen"].keys[10] == pytest.approx(0.8)
    assert shown(doc, "jawOpen", 60) == pytest.approx(0.8)  # the curve did not change


def test_a_slider_move_inside_the_ease_shows_the_value_it_was_moved_to(doc):
    doc.set_range(dict(first=0, last=F - 1, ease_in=20.0, ease_out=20.0))
    doc.set_offset("mouthSmileLeft", 10, 0.3, gesture=False)
    assert shown(doc, "mouthSmileLeft", 10) == pytest.approx(0.3)
    doc.set_offset("mouthSmileLeft", F - 10, -0.2, gesture=False)  # in the ease-out
    assert shown(doc, "mouthSmileLeft", F - 10) == pytest.approx(-0.2)


def test_a_slider_move_outside_the_range_adds_no_key(doc, qtbot):
    """Outside the edit range every offset is 0: a slider move there cannot show, so it adds no
    key (it used to add one silently) and the panel is told to show the values again."""
    doc.set_range(dict(first=40, last=80, ease_in=5.0, ease_out=5.0))
    with qtbot.waitSignal(doc.edits_changed, timeout=1000):
        doc.set_offset("browInnerUp", 10, 0.5, gesture=False)
    assert not doc.edits.has_key("browInnerUp", 10)
    assert shown(doc, "browInnerUp", 10) == 0.0
    assert doc.undo_stack.count() == 1  # only the range
    # at the range's first frame the envelope is 0 too
    doc.set_offset("browInnerUp", 40, 0.5, gesture=False)
    assert not doc.edits.has_key("browInnerUp", 40)


def test_a_slider_move_at_the_edge_of_the_ease_does_not_blow_up_the_curve(doc):
    """One frame into a 20-frame ease-in the envelope is 0.007: the key that would show the
    slider's value there is limited to the component's range, not 100 times the offset."""
    doc.set_range(dict(first=0, last=F - 1, ease_in=20.0, ease_out=0.0))
    doc.set_offset("jawOpen", 1, 0.5, gesture=False)
    key = doc.edits.components["jawOpen"].keys[1]
    lo, hi = doc.bounds[doc.names.index("jawOpen")]
    assert abs(key) <= hi - lo + 1e-9
    assert np.isfinite(doc.edited_expressions()).all()


def test_core_edits_key_value_is_the_curve_before_the_envelope():
    from core.edits import ExpressionEdits

    e = ExpressionEdits(edit_range=EditRange(0, 100, ease_in=20))
    e.set_key("jawOpen", 0, 0.8)
    assert e.offset("jawOpen", 10) == pytest.approx(0.4)
    assert e.key_value("jawOpen", 10) == pytest.approx(0.8)
    assert e.key_value("eyeBlinkLeft", 10) == 0.0


def test_undo_steps_keep_only_what_they_changed(doc):
    """An undo step's size goes with what it changed (a long session keeps thousands of keys)."""
    for f in range(0, 100, 2):
        doc.set_offset("jawOpen", f, 0.3, gesture=False)
    doc.begin_gesture()
    for v in (0.1, 0.2, 0.25):   # one drag: merged into one step
        doc.set_offset("mouthSmileLeft", 10, v)
    doc.set_range({"first": 5, "last": 60, "ease_in": 4, "ease_out": 4})
    stack = doc.undo_stack
    drag = stack.command(stack.count() - 2)
    assert set(drag.before) == set(drag.after) == {("component", "mouthSmileLeft")}
    assert drag.before[("component", "mouthSmileLeft")] is None  # it was not edited before
    assert drag.after[("component", "mouthSmileLeft")]["keys"] == [[10, 0.25]]
    full = doc.edits.to_dict()
    stack.undo()
    stack.undo()
    assert doc.edits.edit_range is None and "mouthSmileLeft" not in doc.edits.components
    assert len(doc.edits.components["jawOpen"].keys) == 50
    stack.redo()
    stack.redo()
    assert doc.edits.to_dict() == full
    while stack.canUndo():
        stack.undo()
    assert not doc.edits.components
