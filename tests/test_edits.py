"""core/edits: keyframe interpolation, ease, bounds, serialisation (no Qt, no data)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.edits import ComponentEdit, EditRange, ExpressionEdits, smoothstep
from core.errors import InputError

NAMES = ["jawOpen", "mouthSmileLeft", "eyeBlinkLeft"]
BOUNDS = np.array([[0.0, 1.0]] * 3)


def test_single_key_is_a_constant_offset_and_no_key_is_zero():
    e = ExpressionEdits()
    assert np.all(e.offset("jawOpen", np.arange(10)) == 0)
    e.set_key("jawOpen", 5, 0.3)
    np.testing.assert_allclose(e.offset("jawOpen", [0, 5, 99]), 0.3)
    assert e.offsets(NAMES, np.arange(4))[:, 1:].max() == 0


def test_linear_interpolation_between_keys_and_hold_beyond():
    c = ComponentEdit({0: 0.0, 10: 1.0, 20: 0.5}, "linear")
    np.testing.assert_allclose(c.evaluate([-5, 0, 5, 10, 15, 20, 30]), [0, 0, 0.5, 1.0, 0.75, 0.5, 0.5])


def test_smooth_interpolation_passes_keys_is_smooth_and_never_overshoots():
    c = ComponentEdit({0: 0.0, 10: 1.0, 20: 0.2, 30: 0.25}, "smooth")
    t = np.linspace(0, 30, 601)
    v = c.evaluate(t)
    np.testing.assert_allclose(c.evaluate([0, 10, 20, 30]), [0, 1.0, 0.2, 0.25], atol=1e-12)
    assert v.max() <= 1.0 + 1e-12 and v.min() >= -1e-12        # monotone Hermite: no overshoot
    seg = v[(t >= 20) & (t <= 30)]
    assert seg.min() >= 0.2 - 1e-12 and seg.max() <= 0.25 + 1e-12
    # C1: no jump in slope at the interior key 20 (Hermite shares the tangent)
    d = np.diff(v) / np.diff(t)
    k = np.searchsorted(t, 20.0)
    assert abs(d[k] - d[k - 1]) < 0.05
    # differs from linear in the middle of a segment (it is really a curve)
    lin = ComponentEdit(c.keys, "linear").evaluate([5.0])[0]
    assert abs(c.evaluate([5.0])[0] - lin) > 1e-3


def test_ease_in_and_out_envelope():
    r = EditRange(10, 30, ease_in=5, ease_out=4)
    w = r.envelope(np.arange(40))
    assert np.all(w[:10] == 0) and np.all(w[31:] == 0)
    assert w[10] == 0 and w[15] == 1 and np.all(w[15:27] == 1)
    assert np.all(np.diff(w[10:16]) > 0) and np.all(np.diff(w[26:31]) < 0)
    np.testing.assert_allclose(w[12], smoothstep(np.array(2 / 5)))
    e = ExpressionEdits(edit_range=r)
    e.set_key("jawOpen", 0, 0.4)
    np.testing.assert_allclose(e.offset("jawOpen", np.arange(40)), 0.4 * w)


def test_apply_keeps_own_motion_and_clips_to_bounds():
    F = 20
    fitted = np.zeros((F, 3))
    fitted[:, 0] = np.linspace(0, 0.9, F)  # the person's own jaw motion
    e = ExpressionEdits()
    e.set_key("jawOpen", 0, 0.2)
    e.set_key("eyeBlinkLeft", 0, -0.5)
    out = e.apply(fitted, NAMES, BOUNDS)
    np.testing.assert_allclose(out[:, 0], np.minimum(fitted[:, 0] + 0.2, 1.0))
    assert out[-1, 0] == 1.0                  # clipped at the upper bound
    assert np.all(out[:, 2] == 0.0)           # clipped at the lower bound
    np.testing.assert_allclose(np.diff(out[:5, 0]), np.diff(fitted[:5, 0]))  # motion kept
    one = e.apply(fitted[7], NAMES, BOUNDS, frames=7)
    np.testing.assert_allclose(one, out[7])


def test_key_set_delete_move():
    e = ExpressionEdits()
    e.set_key("jawOpen", 3, 0.1)
    e.set_key("jawOpen", 9, 0.5)
    e.move_key("jawOpen", 9, 12, 0.6)
    assert list(e.key_frames("jawOpen")) == [3, 12] and e.has_key("jawOpen", 12)
    assert e.offset("jawOpen", 12) == pytest.approx(0.6)
    assert e.delete_key("jawOpen", 3) and not e.delete_key("jawOpen", 3)
    assert e.delete_key("jawOpen", 12) and e.is_empty and "jawOpen" not in e.components
    with pytest.raises(KeyError):
        e.move_key("jawOpen", 1, 2)


def test_serialisation_round_trip_is_json_safe_and_uses_names():
    e = ExpressionEdits(edit_range=EditRange(2, 40, 3.0, 6.0))
    e.set_key("jawOpen", 4, 0.25)
    e.set_key("jawOpen", 20, -0.1)
    e.set_key("mouthSmileLeft", 7, 0.5)
    e.set_interpolation("mouthSmileLeft", "linear")
    d = json.loads(json.dumps(e.to_dict()))
    assert set(d["components"]) == {"jawOpen", "mouthSmileLeft"}
    back = ExpressionEdits.from_dict(d)
    assert back == e
    t = np.arange(50)
    np.testing.assert_array_equal(back.offsets(NAMES, t), e.offsets(NAMES, t))
    # a model with another component order gets the same edit per name
    np.testing.assert_array_equal(back.offsets(NAMES[::-1], t), e.offsets(NAMES, t)[:, ::-1])
    assert ExpressionEdits.from_dict({}).is_empty


@pytest.mark.parametrize("bad", [
    {"components": {"jawOpen": {"keys": [[1]]}}},
    {"components": {"jawOpen": {"keys": [[1, "x"]]}}},
    {"components": {"jawOpen": {"keys": [[1, float("nan")]]}}},
    {"format": "something.else"},
    {"version": 99},
])
def test_malformed_edits_raise_input_error_naming_the_place(bad):
    with pytest.raises(InputError, match="myproject"):
        ExpressionEdits.from_dict(bad, where="myproject")


def test_key_types_shape_the_segment_leaving_the_key():
    keys = {0: 0.0, 10: 1.0, 20: 0.5}
    const = ComponentEdit(keys, "smooth", {10: "constant"})
    np.testing.assert_allclose(const.evaluate([10, 12, 19.9, 20, 30]), [1.0, 1.0, 1.0, 0.5, 0.5])
    lin = ComponentEdit(keys, "smooth", {0: "linear"})
    np.testing.assert_allclose(lin.evaluate([2.5, 5.0]), [0.25, 0.5])      # a straight first segment
    smooth = ComponentEdit(keys, "smooth")
    assert lin.evaluate(15.0) == pytest.approx(smooth.evaluate(15.0))       # the rest unchanged
    # a flat key: horizontal tangent there, the curve eases into and out of it
    flat = ComponentEdit({0: 0.0, 10: 0.5, 20: 1.0}, "smooth", {10: "flat"})
    v = flat.evaluate(np.array([9.9, 10.0, 10.1]))
    assert abs(v[2] - v[0]) < 1e-3 and v[1] == pytest.approx(0.5)
    assert abs(ComponentEdit({0: 0.0, 10: 0.5, 20: 1.0}).evaluate(10.1) - 0.5) > 1e-3
    assert const.evaluate(12) == 1.0 and np.ndim(const.evaluate(12)) == 0
    with pytest.raises(ValueError):
        ComponentEdit(keys, "smooth", {10: "bouncy"})


def test_key_types_move_with_their_keys_and_survive_a_round_trip():
    e = ExpressionEdits()
    for f, v in ((0, 0.0), (10, 0.6), (20, 0.2)):
        e.set_key("jawOpen", f, v)
    e.set_key_type("jawOpen", [10], "constant")
    e.set_key_type("jawOpen", [99], "linear")  # no key there: ignored
    assert e.key_type("jawOpen", 10) == "constant" and e.key_type("jawOpen", 0) == "smooth"
    assert e.key_type("jawOpen", 99) is None
    e.move_key("jawOpen", 10, 12)
    assert e.key_type("jawOpen", 12) == "constant" and e.key_type("jawOpen", 10) is None
    d = json.loads(json.dumps(e.to_dict()))
    assert d["components"]["jawOpen"]["key_types"] == {"12": "constant"}
    assert ExpressionEdits.from_dict(d) == e
    e.delete_key("jawOpen", 12)
    assert "key_types" not in e.to_dict()["components"]["jawOpen"]


def test_moving_several_keys_together_never_overwrites_one_of_them():
    e = ExpressionEdits()
    for f in (0, 5, 10):
        e.set_key("jawOpen", f, f / 10)
    e.set_key("mouthSmileLeft", 5, 0.9)
    # shift all three jaw keys by +5 and one smile key by -5, as one box-selection drag
    e.move_keys([("jawOpen", 0, 5, None), ("jawOpen", 5, 10, None), ("jawOpen", 10, 15, 0.7),
                 ("mouthSmileLeft", 5, 0, None)])
    assert e.components["jawOpen"].keys == {5: 0.0, 10: 0.5, 15: 0.7}
    assert e.components["mouthSmileLeft"].keys == {0: 0.9}
    with pytest.raises(KeyError):
        e.move_keys([("jawOpen", 1, 2, None)])
