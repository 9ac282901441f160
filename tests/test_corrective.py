"""Per-clip corrective deformation (core/fitting/corrective.py) and its storage in the Reconstruction."""
from __future__ import annotations

import json

import cv2
import imageio.v3 as iio
import numpy as np
import pytest

from conftest import shared_path
from core.camera import FRONTAL, OrthoCameras
from core.errors import InputError
from core.fitting import FitSettings, Reconstruction
from core.fitting.corrective import control_points, learn_corrective
from core.model.registry import load_model


@pytest.fixture(scope="module")
def builtin():
    return load_model("builtin")


def _bump(shape, centre, sigma):
    """(H, W) Gaussian bump of unit height at ``centre`` (x, y) px."""
    H, W = shape
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma ** 2))


def _synthetic_clip(model, frames=40):
    """A real portrait whose region around one brow is pushed up and down by a smooth local
    warp no blendshape combination makes (a bump-shaped displacement), under a static fit.

    Returns (images, fit cameras, projected control points (F, M, 2), true displacement of
    each control point per frame (F, M, 2))."""
    img = iio.imread(shared_path("data", "portraits", "stills", "d12.jpg"))[..., :3]
    H, W = img.shape[:2]
    F = frames
    neutral = model.vertices(None, None).astype(np.float64)
    width = np.ptp(neutral[:, 0])
    scale = 0.55 * W / width
    R = np.tile(FRONTAL, (F, 1, 1))
    centre = neutral.mean(0)
    t = np.array([W / 2, H / 2]) - scale * (FRONTAL[:2] @ centre)
    cams = OrthoCameras(np.full(F, scale), R, np.tile(t, (F, 1)))
    points = control_points(model, neutral, FitSettings().corrective_spacing_cm)
    # the built-in mesh's vertex i is tracker point i: control point k sits on point ids[k]
    ids = np.concatenate([points.vertices, points.tracker])
    p = cams.project(points.basis(model).points(None, np.zeros((F, model.num_expressions))))[..., :2]
    brow = p[0][ids == 105][0]                      # MediaPipe 105: on the subject's right brow
    bump = _bump((H, W), brow, sigma=0.05 * W)
    amp = 4.0 * np.sin(2 * np.pi * np.arange(F) / 16.0)        # px, up and down
    images, true = [], np.zeros((F, len(ids), 2))
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(F):
        dy = (-amp[f] * bump).astype(np.float32)    # content moves up by amp * bump
        # backward warp: output(x) = input(x - d(x)) (d small and smooth, so its inverse is -d)
        images.append(cv2.remap(img, xs, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
        true[f, :, 1] = -amp[f] * cv2.remap(bump, p[f, :, 0].astype(np.float32).reshape(-1, 1),
                                            p[f, :, 1].astype(np.float32).reshape(-1, 1), cv2.INTER_LINEAR)[:, 0]
    return images, cams, p, true, ids


def test_corrective_recovers_a_deformation_outside_the_blendshapes(builtin):
    images, cams, p, true, ids = _synthetic_clip(builtin)
    F = len(images)
    K = builtin.num_expressions
    corr = learn_corrective(builtin, np.zeros(builtin.num_identity), np.zeros((F, K)), cams, np.ones(F, bool),
                            np.zeros(F, np.int32), images, FitSettings())
    assert corr is not None and corr.offsets.shape == (F, len(ids), 3)
    # the corrective's image motion of each control point (orthographic: s R[:2] d)
    got = np.einsum("ij,fmj->fmi", FRONTAL[:2], corr.offsets.astype(np.float64)) * cams.scale[0]
    moving = np.abs(true[..., 1]).max(0) > 1.5          # points the bump moves by > 1.5 px
    assert moving.sum() >= 8
    err = np.linalg.norm(got - true, axis=-1)
    # frame-to-frame motion (what the flow shows) is what the image decides: close to the truth
    vel_err = np.linalg.norm(np.diff(got - true, axis=0), axis=-1)
    assert np.median(vel_err[:, moving]) < 0.25
    # positions: most of the up-and-down motion is recovered, the rest of the face stays put
    amp_true = np.abs(true[:, moving, 1]).mean()
    assert err[:, moving].mean() < 0.35 * amp_true
    assert np.median(np.linalg.norm(got[:, ~moving], axis=-1)) < 0.3
    # the vertices follow: the model vertex nearest the brow point moves like it
    rec = _rec(builtin, cams, corr)
    v = builtin.vertices(None, None)
    j = int(np.argmin(np.linalg.norm(v - builtin.embedded_points(v)[105], axis=1)))
    d = rec.vertices(builtin, 4) - builtin.vertices(rec.identity, rec.expression[4])
    moved = cams.scale[4] * (FRONTAL[:2] @ d[j])
    want = true[4, ids == 105][0]
    assert np.linalg.norm(moved - want) < 0.35 * np.linalg.norm(want)


def _rec(model, cams, corr=None, F=None):
    F = cams.scale.shape[0] if F is None else F
    K = model.num_expressions
    rng = np.random.default_rng(0)
    return Reconstruction(
        model_name=model.name, model_spec="builtin", identity=rng.normal(0, 0.3, model.num_identity).astype(np.float32),
        expression=rng.uniform(0, 0.3, (F, K)).astype(np.float32), expression_names=np.asarray(model.expression_names),
        rotation=cams.rotation.astype(np.float32), translation=cams.translation.astype(np.float32),
        scale=cams.scale.astype(np.float32), landmarks68=np.zeros((F, 68, 2), np.float32),
        fit_error_px=np.zeros(F, np.float32), valid=np.ones(F, bool), segment=np.zeros(F, np.int32),
        corrective=None if corr is None else corr.offsets, corrective_index=None if corr is None else corr.index,
        corrective_weight=None if corr is None else corr.weight)


def test_reconstruction_with_corrective_round_trips_and_version1_still_loads(builtin, tmp_path):
    F, M = 6, 20
    cams = OrthoCameras(np.full(F, 10.0), np.tile(FRONTAL, (F, 1, 1)), np.zeros((F, 2)))
    rng = np.random.default_rng(1)

    class C:   # a corrective as learn_corrective returns it
        offsets = rng.normal(0, 0.1, (F, M, 3)).astype(np.float32)
        index = rng.integers(0, M, (builtin.num_vertices, 4)).astype(np.int32)
        weight = rng.uniform(0, 0.25, (builtin.num_vertices, 4)).astype(np.float32)

    rec = _rec(builtin, cams, C)
    rec.save(tmp_path / "v2.npz")
    back = Reconstruction.load(tmp_path / "v2.npz")
    assert json.loads(str(np.load(tmp_path / "v2.npz")["meta"]))["version"] == 2
    for f in (0, 3, 5):
        want = builtin.vertices(rec.identity, rec.expression[f]) + np.einsum(
            "nkc,nk->nc", C.offsets[f][C.index], C.weight)
        np.testing.assert_allclose(back.vertices(builtin, f), want, atol=1e-5)
    np.testing.assert_allclose(back.vertices_batch(builtin, np.array([1, 4])),
                               np.stack([back.vertices(builtin, 1), back.vertices(builtin, 4)]), atol=1e-6)
    # without a corrective: written as version 1, as before, and the mesh is the model's alone
    plain = _rec(builtin, cams)
    plain.save(tmp_path / "v1.npz")
    data = dict(np.load(tmp_path / "v1.npz"))
    assert json.loads(str(data["meta"]))["version"] == 1 and "corrective" not in data
    old = Reconstruction.load(tmp_path / "v1.npz")
    assert not old.has_corrective
    np.testing.assert_array_equal(old.vertices(builtin, 2), builtin.vertices(old.identity, old.expression[2]))
    # a corrective with a missing or inconsistent part is refused with the file named
    bad = dict(np.load(tmp_path / "v2.npz"))
    del bad["corrective_weight"]
    with pytest.raises(InputError, match="bad.npz"):
        Reconstruction.from_arrays(bad, "bad.npz")
    bad = dict(np.load(tmp_path / "v2.npz"))
    bad["corrective_index"] = bad["corrective_index"] + M
    with pytest.raises(InputError, match="inconsistent"):
        Reconstruction.from_arrays(bad, "bad.npz")


def test_edited_and_exported_meshes_keep_the_frames_corrective(builtin, tmp_path):
    """An edit changes the face by its blendshapes only: the editor's posed mesh, the viewport
    mesh and exported meshes of an edited frame carry that frame's corrective, as the fit does."""
    from core.edits.export import export_meshes
    from core.edits.curves import ExpressionEdits
    from core.model.mesh_io import read_obj

    F, M = 4, 30
    cams = OrthoCameras(np.full(F, 12.0), np.tile(FRONTAL, (F, 1, 1)), np.tile([200.0, 180.0], (F, 1)))
    rng = np.random.default_rng(3)

    class C:
        offsets = rng.normal(0, 0.2, (F, M, 3)).astype(np.float32)
        index = rng.integers(0, M, (builtin.num_vertices, 4)).astype(np.int32)
        weight = rng.uniform(0, 0.25, (builtin.num_vertices, 4)).astype(np.float32)

    rec = _rec(builtin, cams, C)
    edited = rec.expression[2].astype(np.float64).copy()
    edited[list(builtin.expression_names).index("jawOpen")] += 0.4
    corr = np.einsum("nkc,nk->nc", C.offsets[2][C.index], C.weight)
    want = builtin.vertices(rec.identity, edited) + corr
    np.testing.assert_allclose(rec.vertices(builtin, 2, edited), want, atol=1e-5)
    got = rec.posed_vertices(builtin, 2, edited)
    np.testing.assert_allclose(got, cams.project(want.astype(np.float64), 2), atol=1e-3)
    # unposed OBJ export of the unedited clip: the reconstruction's own meshes
    paths = export_meshes(tmp_path, rec, builtin, ExpressionEdits(), "obj", posed=False)
    np.testing.assert_allclose(read_obj(paths[1], vertices_only=True).vertices, rec.vertices(builtin, 1), atol=1e-4)
