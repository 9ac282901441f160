"""reconstruct() from a TrackResult, and the ``reconstruct`` command on a real image."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from core.camera import project
from core.errors import NoFaceError
from core.fitting import FitSettings, Reconstruction, basis_from_embedding, reconstruct
from core.model.face_model import LandmarkEmbedding
from core.tracking.result import TrackResult
from test_fitting import ict_model, synthetic_clip


@pytest.fixture(scope="module")
def model():
    m = ict_model(str(shared_path("models", "ict_facekit", "ict_facemodel_light.npz")))
    # a synthetic 478-point embedding on the front of the face: enough to drive the pipeline
    rng = np.random.default_rng(0)
    front = np.flatnonzero((m.mean[m.triangles].mean(1)[:, 2] > 6) & (np.abs(m.mean[m.triangles].mean(1)[:, 0]) < 6))
    tri = rng.choice(front, 478, replace=False).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), size=478).astype(np.float32)
    m.embedding = LandmarkEmbedding(tri, bary)
    return m


def _track(model, F, gap=None):
    basis = basis_from_embedding(model)
    tr = synthetic_clip(F, basis.num_identity, basis.num_expressions, seed=11)
    tr["identity"][20:] = 0  # keep to the modes a short clip can see
    X = basis.points(tr["identity"], tr["expression"])
    lm = project(X, tr["scale"], tr["rotation"], tr["translation"]).astype(np.float32)
    valid = np.ones(F, bool)
    if gap is not None:
        valid[gap] = False
        lm[gap] = np.nan
    seg = np.where(valid, 0, -1).astype(np.int32)
    if gap is not None:
        seg[gap.stop:] = 1
    names = np.array(["_neutral", "jawOpen"] + [f"x{k}" for k in range(50)])
    bs = np.zeros((F, 52), np.float32)
    return TrackResult(landmarks=lm, valid=valid, blendshapes=bs, blendshape_names=names,
                       pose=np.tile(np.eye(4, dtype=np.float32), (F, 1, 1)), fps=30.0, size=(480, 640),
                       segment=seg, source="synthetic"), tr


def test_reconstruct_video_and_per_frame(model, tmp_path):
    track, truth = _track(model, 40, gap=slice(15, 20))
    rec = reconstruct(track, model, "ict-test", FitSettings())
    assert rec.expression.shape == (40, model.num_expressions) and rec.landmarks68.shape == (40, 68, 2)
    assert not rec.valid[15:20].any() and rec.valid[:15].all() and rec.valid[20:].all()
    assert (rec.segment[15:20] == -1).all() and rec.segment[25] == 1
    # noise-free input: what is left is the bias of the priors and the temporal smoothing
    assert np.nanmean(rec.fit_error_px[rec.valid]) < 1.0
    l68 = model.landmarks68
    X68 = model.mean[l68] + np.tensordot(truth["identity"], model.identity_basis[:, l68], 1) \
        + np.tensordot(truth["expression"], model.expression_basis[:, l68], 1)
    gt68 = project(X68, truth["scale"], truth["rotation"], truth["translation"])[..., :2]
    assert np.linalg.norm(rec.landmarks68 - gt68, axis=-1)[rec.valid].mean() < 2.0
    assert np.isfinite(rec.landmarks68).all()  # invalid frames copy a neighbour
    rec.save(tmp_path / "r.npz")
    again = Reconstruction.load(tmp_path / "r.npz")
    v = again.posed_vertices(model, 3)
    assert v.shape == (model.num_vertices, 3)
    pf = reconstruct(track, model, "ict-test", per_frame=True)
    assert pf.method == "per-frame" and not pf.valid[15:20].any()
    assert np.nanmean(pf.fit_error_px[pf.valid]) < 1.0


def test_no_face_at_all(model):
    track, _ = _track(model, 5, gap=slice(0, 5))
    with pytest.raises(NoFaceError):
        reconstruct(track, model, "ict-test")


def test_reconstruct_command_on_image(tmp_path, capsys):
    """The real pipeline on an AFLW2000-3D photo: tracker -> fit (built-in model) -> file, meshes."""
    img = shared_path("data", "landmarks3d", "aflw2000_3d_images", "image00050.jpg")
    from main import main

    out = tmp_path / "rec.npz"
    rc = main(["reconstruct", str(img), "-o", str(out), "--export-meshes", str(tmp_path / "meshes")])
    assert rc == 0
    rec = Reconstruction.load(out)
    assert rec.num_frames == 1 and rec.valid[0] and rec.model_spec == "builtin"
    gt = np.load(img.with_name("image00050_pt3d_68.npy"))[:2].T
    w, h = gt.max(0) - gt.min(0)
    nme = np.linalg.norm(rec.landmarks68[0] - gt, axis=1).mean() / np.sqrt(w * h)
    assert nme < 0.06, nme  # bench: 2.5 % on this image, 4.2 % mean over 15 images
    assert (tmp_path / "meshes" / "mesh_000000.obj").stat().st_size > 10000
    line = capsys.readouterr().out
    assert "1 frames" in line and "mean fit error" in line
    assert main(["reconstruct", str(tmp_path / "missing.mp4"), "-o", str(out)]) == 2


def test_reconstruct_command_learns_the_corrective_unless_told_not_to(tmp_path):
    """A track result of a real clip: the command fits with the clip's frames (found through the
    track's source), so the reconstruction carries a corrective; --no-corrective leaves it out and
    the two differ only by it (same expressions and cameras)."""
    from core.tracking import track_video
    from main import main

    d6 = shared_path("data", "videos", "d6.mp4")
    track = tmp_path / "track.npz"
    track_video(str(d6), max_frames=20).save(track)
    with_c, without = tmp_path / "with.npz", tmp_path / "without.npz"
    assert main(["reconstruct", str(track), "-o", str(with_c)]) == 0
    assert main(["reconstruct", str(track), "-o", str(without), "--no-corrective"]) == 0
    a, b = Reconstruction.load(with_c), Reconstruction.load(without)
    assert a.has_corrective and not b.has_corrective
    np.testing.assert_array_equal(a.expression, b.expression)
    np.testing.assert_array_equal(a.rotation, b.rotation)
    from core.model.registry import load_model

    m = load_model("builtin")
    moved = np.linalg.norm(a.posed_vertices(m, 6)[:, :2] - b.posed_vertices(m, 6)[:, :2], axis=1)
    # d6 raises her brows at frames 5-6 beyond what the rig's brow shapes do: the corrective
    # moves some of the face by pixels, most of it by far less
    assert moved.max() > 1.0 and np.median(moved) < 1.0, (moved.max(), np.median(moved))


def test_per_frame_fit_fills_a_gap_from_the_nearest_fitted_frame(model):
    """Frames without a face borrow the fit of the *nearest* fitted frame: with fitted frames
    {0, 1, 9}, frames 2-4 copy frame 1 and frames 6-8 copy frame 9 (frame 5 is as far from
    both and takes the later one)."""
    track, _ = _track(model, 10, gap=slice(2, 9))
    pf = reconstruct(track, model, "ict-test", per_frame=True)
    assert pf.valid.tolist() == [True, True] + [False] * 7 + [True]
    for f, src in ((2, 1), (3, 1), (4, 1), (5, 9), (6, 9), (7, 9), (8, 9)):
        np.testing.assert_array_equal(pf.expression[f], pf.expression[src], err_msg=f"frame {f}")
        np.testing.assert_array_equal(pf.translation[f], pf.translation[src], err_msg=f"frame {f}")
    # the whole-video fit follows the same rule
    wv = reconstruct(track, model, "ict-test")
    for f, src in ((2, 1), (4, 1), (5, 9), (8, 9)):
        np.testing.assert_array_equal(wv.expression[f], wv.expression[src], err_msg=f"frame {f}")
