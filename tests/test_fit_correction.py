"""core.edits.fit_correction: a pinned point pulls its frame's fit to it, its neighbours follow
less and less, frames further away do not change (no Qt, no tracking: a made-up clip)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.edits.fit_correction import Pin, handle_points, refit_with_pins, tracker_points
from core.fitting.reconstruction import Reconstruction
from core.model.registry import load_model

F = 30


@pytest.fixture(scope="module")
def clip():
    model = load_model("builtin")
    Ke = model.num_expressions
    t = np.arange(F)
    expr = np.zeros((F, Ke), np.float32)
    expr[:, model.expression_index("jawOpen")] = 0.2 + 0.1 * np.sin(t / 5)
    ang = np.radians(5 * np.sin(t / 7))
    R = np.stack([np.array([[np.cos(a), 0, np.sin(a)], [0, -1, 0], [np.sin(a), 0, -np.cos(a)]]) for a in ang])
    rec = Reconstruction(
        model_name=model.name, model_spec="builtin", identity=np.zeros(model.num_identity, np.float32),
        expression=expr, expression_names=np.asarray(model.expression_names), rotation=R.astype(np.float32),
        translation=np.tile(np.array([240.0, 260.0], np.float32), (F, 1)), scale=np.full(F, 12.0, np.float32),
        landmarks68=np.zeros((F, 68, 2), np.float32), fit_error_px=np.zeros(F, np.float32),
        valid=np.ones(F, bool), segment=np.zeros(F, np.int32))
    # a tracker that saw exactly the fitted face
    L = model.embedding.triangles.shape[0]
    lm = np.stack([np.concatenate([tracker_points(rec, model, f), np.zeros((L, 1))], 1) for f in range(F)])
    track = SimpleNamespace(num_frames=F, valid=np.ones(F, bool), landmarks=lm)
    return rec, model, track


def test_a_pin_pulls_its_point_and_fades_over_the_neighbours(clip):
    rec, model, track = clip
    lip = int(handle_points()[57])  # the lower lip's middle (iBUG 58)
    f = 12
    target = tracker_points(rec, model, f)[lip] + np.array([0.0, 6.0])  # the mouth opens 6 px more
    res = refit_with_pins(rec, model, track, [Pin(f, lip, tuple(target))], radius=5)
    before, after = res.moved_px[0]
    assert before == pytest.approx(6.0) and after < 1.5
    assert list(res.frames) == list(range(7, 18))
    new = res.reconstruction
    move = [np.linalg.norm(tracker_points(new, model, g)[lip] - tracker_points(rec, model, g)[lip]) for g in range(F)]
    assert move[f] > 4.5
    assert move[f - 1] > move[f - 3] > move[f - 5] > 0 and move[f + 1] > move[f + 3] > move[f + 5] > 0
    for g in list(range(0, f - 5)) + list(range(f + 6, F)):
        assert move[g] == 0.0
        np.testing.assert_array_equal(new.expression[g], rec.expression[g])
    # the mouth's expression changed (not just the camera), the chin (tracked, not pinned) stayed
    assert np.abs(new.expression[f] - rec.expression[f]).max() > 0.05
    chin = int(handle_points()[8])
    assert np.linalg.norm(tracker_points(new, model, f)[chin] - tracker_points(rec, model, f)[chin]) < 2.0
    assert rec.expression is not new.expression and np.isfinite(new.fit_error_px).all()


def test_a_pin_dragged_far_off_the_face_never_mirrors_the_head(clip):
    """A handle dropped 300-1000 px away (a slip of the mouse): the frame is pulled towards it
    but its camera stays a camera (a positive scale; once it came out mirrored and the autosave
    wrote a project no reader accepts)."""
    rec, model, track = clip
    f = 12
    pts = tracker_points(rec, model, f)
    for k in (0, 33, 152, 263):
        for d in ((300.0, 0.0), (0.0, 1000.0), (-1000.0, -1000.0)):
            res = refit_with_pins(rec, model, track, [Pin(f, k, tuple(pts[k] + np.array(d)))])
            s = np.asarray(res.reconstruction.scale)
            assert (s > 0).all() and np.isfinite(s).all(), (k, d, s.min())
            R = np.asarray(res.reconstruction.rotation, np.float64)
            assert np.allclose(np.linalg.det(R), 1.0, atol=1e-4)


def test_bad_pins_are_refused(clip):
    rec, model, track = clip
    with pytest.raises(ValueError):
        refit_with_pins(rec, model, track, [Pin(F + 3, 0, (0.0, 0.0))])
    assert refit_with_pins(rec, model, track, []).reconstruction is rec


def test_a_personalised_reconstruction_is_corrected_with_its_subjects_model(clip):
    """Track > Personalise (issue 15): the coefficients belong to the subject's model, whose
    expressions here move 1.6 times as far as the generic ones; the refit must solve with it."""
    import dataclasses

    rec, model, track = clip
    mine = dataclasses.replace(rec, personal_mean=np.asarray(model.mean, np.float32).copy(),
                               personal_expression=1.6 * np.asarray(model.expression_basis, np.float32))
    assert mine.is_personalised
    # the tracker saw the subject's fitted face
    L = model.embedding.triangles.shape[0]
    lm = np.stack([np.concatenate([tracker_points(mine, model, g), np.zeros((L, 1))], 1) for g in range(F)])
    track = SimpleNamespace(num_frames=F, valid=np.ones(F, bool), landmarks=lm)
    lip, f = int(handle_points()[57]), 12
    target = tracker_points(mine, model, f)[lip] + np.array([0.0, 6.0])
    res = refit_with_pins(mine, model, track, [Pin(f, lip, tuple(target))], radius=5)
    new = res.reconstruction
    assert new.is_personalised
    # where the subject's model puts the pinned point now (the mesh the user sees)
    assert np.linalg.norm(tracker_points(new, model, f)[lip] - target) < 1.5
    # the neighbours, pulled less and less, are solved with the same model: their points stay on
    # what the tracker saw (mean of medians 0.26 px; solved with the generic model 0.58 px)
    seen = track.landmarks[:, :, :2]
    far = np.linalg.norm(seen[f] - seen[f, lip], axis=1) > 40
    off = [np.median(np.linalg.norm(tracker_points(new, model, g)[far] - seen[g][far], axis=1)) for g in res.frames]
    assert np.mean(off) < 0.4, off
