"""Face models: built-in rig, ICT-FaceKit loaders, embedding, mesh export, validation."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.errors import InputError
from core.model import canonical as cm
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def builtin():
    from core.model.registry import load_model
    return load_model("builtin")


@pytest.fixture(scope="module")
def ict_npz_path():
    return shared_path("models", "ict_facekit", "ict_facemodel_light.npz")


@pytest.fixture(scope="module")
def ict(ict_npz_path):
    from core.model.ict import load_ict_npz
    return load_ict_npz(ict_npz_path)


# -- built-in mesh ------------------------------------------------------------------
def test_canonical_mesh_matches_reference_obj():
    from core.model.mesh_io import read_obj
    mesh = cm.read_canonical_mesh()
    ref = read_obj(shared_path("models", "mediapipe_canonical", "canonical_face_model.obj"))
    assert mesh.vertices.shape == (468, 3) and mesh.triangles.shape == (898, 3)
    np.testing.assert_allclose(mesh.vertices, ref.vertices, atol=1e-5)
    assert np.array_equal(mesh.triangles, np.asarray(ref.faces))
    # the .task stores v down; the OBJ stores v up, per face corner
    uv_ref = ref.uv[np.asarray(ref.face_uv)]
    np.testing.assert_allclose(1.0 - mesh.uv[mesh.triangles][..., 1], uv_ref[..., 1], atol=1e-5)
    v, t = mesh.vertices, mesh.triangles
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    front = v[t].mean(1)[:, 2] > 3.0  # the front of the face
    assert (n[front, 2] > 0).mean() > 0.97
    import json
    basis = json.loads(shared_path("models", "mediapipe_canonical", "landmark_basis.json").read_text())
    assert sorted(int(k) for k in basis) == sorted(mesh.procrustes_ids.tolist())
    for i, w in zip(mesh.procrustes_ids, mesh.procrustes_weights):
        assert abs(basis[str(i)] - w) < 1e-6


def test_builtin_basics(builtin):
    m = builtin
    assert m.mean.shape == (478, 3) and m.num_expressions == 51
    assert m.expression_names[0] == "browDownLeft" and "jawOpen" in list(m.expression_names)
    np.testing.assert_array_equal(m.vertices(np.zeros(m.num_identity), np.zeros(m.num_expressions)), m.mean)
    np.testing.assert_allclose(m.embedded_points(m.mean), m.mean, atol=1e-6)
    assert m.landmarks68 is not None and m.landmarks68.shape == (68,)
    # the subject's left eye has x > 0, and the chin is below the nose
    assert m.mean[263, 0] > 0 > m.mean[33, 0] and m.mean[cm.CHIN, 1] < m.mean[cm.NOSE_TIP, 1]
    # identity: smooth, one std ~ a few mm, no similarity motion inside
    rms = np.sqrt((m.identity_basis ** 2).sum(2).mean(1))
    assert 0.05 < rms.min() and rms.max() < 0.5


def _move(m, name):
    return np.linalg.norm(m.expression_basis[m.expression_index(name)], axis=1)


def test_builtin_rig_regions(builtin):
    m = builtin
    r = m.regions
    lips, leye, reye = r["lips"], r["left_eye"], r["right_eye"]
    # blinks close their own eye only
    for side, own, other in (("Left", cm.LEFT_EYE_UPPER, reye), ("Right", cm.RIGHT_EYE_UPPER, leye)):
        d = m.expression_basis[m.expression_index(f"eyeBlink{side}")]
        upper = own[2:-2]
        assert (d[upper, 1] < -0.25).all(), "upper lid moves down"
        assert np.abs(d[lips]).max() == 0 and np.abs(d[other]).max() == 0
    # jawOpen: chin goes down (and back), forehead and upper lip stay
    d = m.expression_basis[m.expression_index("jawOpen")]
    assert d[cm.CHIN, 1] < -1.2 and d[cm.CHIN, 2] < 0
    assert np.abs(d[cm.FOREHEAD]).max() == 0 and np.abs(d[r["upper_lip"]]).max() < 0.05
    assert (d[cm.LIPS_INNER_LOWER[1:-1], 1] < -1.0).all()
    # smiles: the own mouth corner rises and widens
    for side, corner, sign in (("Left", 291, 1), ("Right", 61, -1)):
        d = m.expression_basis[m.expression_index(f"mouthSmile{side}")]
        assert d[corner, 1] > 0.3 and sign * d[corner, 0] > 0.2
        assert np.abs(d[leye | reye]).max() < 0.02
    # brows rise
    d = m.expression_basis[m.expression_index("browInnerUp")]
    assert (d[[107, 336], 1] > 0.3).all() and np.abs(d[lips]).max() == 0
    for side, ids in (("Left", [300, 293]), ("Right", [70, 63])):
        d = m.expression_basis[m.expression_index(f"browOuterUp{side}")]
        assert (d[ids, 1] > 0.2).all() and np.abs(d[lips]).max() == 0
    # every shape moves something, nothing moves more than 4 cm
    mags = np.linalg.norm(m.expression_basis, axis=2).max(1)
    assert (mags > 0.05).all() and (mags < 4.0).all()


def test_torch_matches_numpy(builtin):
    torch = pytest.importorskip("torch")
    m = builtin
    rng = np.random.default_rng(0)
    idc = rng.normal(size=m.num_identity).astype(np.float32)
    ex = rng.uniform(0, 1, size=(3, m.num_expressions)).astype(np.float32)
    ref = m.vertices_batch(idc, ex)
    out = m.vertices_torch(torch.from_numpy(idc), torch.from_numpy(ex)).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-4)


# -- mesh export -------------------------------------------------------------------
def test_obj_ply_round_trip(builtin, tmp_path):
    from core.model.mesh_io import read_obj, read_ply, write_obj, write_ply
    v = builtin.vertices(None, np.eye(builtin.num_expressions)[builtin.expression_index("jawOpen")])
    write_obj(tmp_path / "a.obj", v, builtin.triangles, builtin.uv)
    o = read_obj(tmp_path / "a.obj")
    np.testing.assert_allclose(o.vertices, v, atol=1e-5)
    assert np.array_equal(np.asarray(o.faces), builtin.triangles)
    np.testing.assert_allclose(o.uv, builtin.uv, atol=1e-5)
    write_ply(tmp_path / "a.ply", v, builtin.triangles)
    pv, pt = read_ply(tmp_path / "a.ply")
    np.testing.assert_array_equal(pv, v)
    np.testing.assert_array_equal(pt, builtin.triangles)
    assert not list(tmp_path.glob(".*.tmp"))


# -- ICT -----------------------------------------------------------------------------
def test_ict_npz(ict):
    assert ict.num_vertices == 26719 and ict.num_identity == 100 and ict.num_expressions == 53
    assert ict.triangles.shape == (25836 * 2 + 548, 3)
    assert "eyeBlinkLeft" in list(ict.expression_names) and "jawOpen" in list(ict.expression_names)
    np.testing.assert_array_equal(ict.vertices(np.zeros(100), np.zeros(53)), ict.mean)
    # ARKit Left = subject's left = +x
    d = np.linalg.norm(ict.expression_basis[ict.expression_index("eyeBlinkLeft")], axis=1)
    assert ict.mean[d > 0.05, 0].mean() > 1.0
    face = ict.face_only()
    assert face.num_vertices < ict.num_vertices and face.landmarks68 is not None
    np.testing.assert_allclose(face.mean[face.landmarks68], ict.mean[ict.landmarks68])


def test_ict_derived_landmarks68(ict, ict_npz_path):
    """The data-derived 68-point table (tools/fit_ict_landmarks68.py) replaces ICT's jaw line
    only, stays left/right symmetric, moves the jaw outwards/down, and is what the
    loader uses by default; ``landmarks68="multipie"`` keeps the toolkit's table."""
    from core.model.ict import DERIVED68_FILE, load_ict_npz

    own = load_ict_npz(ict_npz_path, with_uv=False, landmarks68="multipie").landmarks68
    doc = json.loads(DERIVED68_FILE.read_text())
    np.testing.assert_array_equal(own, np.asarray(doc["multipie_vertex"]))
    np.testing.assert_array_equal(ict.landmarks68, np.asarray(doc["vertex"]))
    np.testing.assert_array_equal(ict.landmarks68[17:], own[17:])
    assert (ict.landmarks68[:17] != own[:17]).sum() >= 12
    jaw = ict.mean[ict.landmarks68[:17]]
    mirrored = jaw[::-1] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(jaw - mirrored).max() < 0.8  # cm: derived independently per point, still symmetric
    assert doc["jaw_error_after_percent"] < 0.5 * doc["jaw_error_before_percent"]


def test_ict_folder_equals_npz(ict_npz_path, tmp_path):
    from core.model.ict import load_ict_folder, load_ict_npz
    from core.model.mesh_io import write_obj
    src = ict_npz_path.parent
    z = np.load(ict_npz_path)
    folder = tmp_path / "ict"
    folder.mkdir()
    for name in ("generic_neutral_mesh.obj", "identity000.obj", "jawOpen.obj"):
        shutil.copy(src / name, folder / name)
    # a toolkit index listing 4 expressions keeps the test fast (53 OBJs take ~40 s to write and read)
    index = json.loads((src / "vertex_indices.json").read_text())
    names = ["browDown_L", "eyeBlink_R", "jawOpen", "mouthSmile_L"]
    index["expressions"] = names
    (folder / "vertex_indices.json").write_text(json.dumps(index))
    exp_ids = [list(z["expression_names"]).index(n) for n in names]
    neutral = z["neutral"]
    tri = np.zeros((1, 3), int)  # deltas are read from the vertex lines only
    for k in (1, 2):
        write_obj(folder / f"identity{k:03d}.obj", neutral + z["identity_deltas"][k], tri)
    for k in exp_ids:
        n = z["expression_names"][k]
        if not (folder / f"{n}.obj").exists():
            write_obj(folder / f"{n}.obj", neutral + z["expression_deltas"][k], tri)
    a = load_ict_folder(folder)
    b = load_ict_npz(ict_npz_path)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.triangles, b.triangles)
    np.testing.assert_array_equal(a.landmarks68, b.landmarks68)
    np.testing.assert_allclose(a.identity_basis, b.identity_basis[:3], atol=2e-5)
    np.testing.assert_allclose(a.expression_basis, b.expression_basis[exp_ids], atol=2e-5)
    assert list(a.expression_names) == list(b.expression_names[exp_ids])
    np.testing.assert_allclose(a.uv, b.uv)


def test_ict_embedding(ict, tmp_path, monkeypatch):
    from core.model import embedding as E  # noqa: N812 (short: used on every line below)
    monkeypatch.setenv("FACESTUDIO_CACHE_DIR", str(tmp_path))
    model = ict.face_only()
    emb, rep = E.compute_tracker_embedding(model)
    assert len(emb) == 478
    np.testing.assert_allclose(emb.barycentric.sum(1), 1.0, atol=1e-5)
    assert (rep.projection_mm < 2.0).all()
    assert np.median(rep.fit_residual_mm) < 1.5 and (rep.fit_residual_mm < 2.0).mean() > 0.9
    # semantic agreement: the canonical 68 points land near ICT's own 68 vertices
    assert rep.landmark68_mm[[36, 39, 42, 45]].max() < 4.0, rep.landmark68_mm[[36, 39, 42, 45]]
    assert rep.landmark68_mm[[48, 54]].max() < 4.0
    assert rep.landmark68_mm[17:].mean() < 4.0
    # cache: written once, then reused
    E.attach_tracker_embedding(model)
    files = list((tmp_path / "embeddings").glob("*.npz"))
    assert len(files) == 1
    model.embedding = None
    E.attach_tracker_embedding(model)
    np.testing.assert_array_equal(model.embedding.triangles, emb.triangles)
    pts = model.embedded_points(model.mean)
    assert pts.shape == (478, 3) and np.isfinite(pts).all()


# -- validation ------------------------------------------------------------------------
def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def small_ict_arrays(ict_npz_path):
    z = np.load(ict_npz_path)
    return {k: z[k][:3] if k in ("identity_deltas", "expression_deltas", "identity_names", "expression_names")
            else z[k] for k in z.files}


@pytest.mark.parametrize("case,pattern", [
    ("missing", "missing arrays"),
    ("nan", "NaN"),
    ("shape", r"must be \(K, 26719, 3\)"),
    ("index", "out of range"),
    ("truncated", "truncated or corrupt"),
])
def test_bad_ict_files(small_ict_arrays, tmp_path, case, pattern):
    from core.model.ict import load_ict_npz
    a = dict(small_ict_arrays)
    p = tmp_path / f"{case}.npz"
    if case == "missing":
        a.pop("faces_quad")
    elif case == "nan":
        a["expression_deltas"] = a["expression_deltas"].copy()
        a["expression_deltas"][0, 5, 1] = np.nan
    elif case == "shape":
        a["identity_deltas"] = a["identity_deltas"][:, :100]
    elif case == "index":
        a["faces_quad"] = a["faces_quad"].copy()
        a["faces_quad"][3, 1] = 10 ** 6
    _write_npz(p, **a)
    if case == "truncated":
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=pattern) as e:
        load_ict_npz(p, with_uv=False)
    assert str(p) in str(e.value)


def test_registry_errors(tmp_path, monkeypatch):
    from core.model import registry
    with pytest.raises(InputError, match="not found"):
        registry.load_model(str(tmp_path / "nope.npz"))
    monkeypatch.setenv(registry.ICT_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(registry, "REPO", tmp_path / "repo")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(InputError, match="Looked in") as e:
        registry.find_ict()
    assert str(tmp_path / "empty") in str(e.value)


def test_face_model_validation(builtin):
    from core.model.face_model import FaceModel
    m = builtin
    tri = m.triangles.copy()
    tri[0, 0] = m.num_vertices
    with pytest.raises(InputError, match="triangle indices out of range"):
        FaceModel(name="bad", mean=m.mean, identity_basis=m.identity_basis, identity_std=m.identity_std,
                  expression_basis=m.expression_basis, expression_names=m.expression_names, triangles=tri)


def test_rig_file_errors(tmp_path):
    from core.model.builtin import build_builtin_model
    p = tmp_path / "rig.json"
    p.write_text('{"order": ["jawOpen"], "shapes": {"jawOpen": {"terms": [{"where": {"near": ["nope"], "radius": 1},'
                 ' "motion": {"type": "translate", "vector": [0, 1, 0]}}]}}}')
    with pytest.raises(InputError, match="unknown group 'nope'"):
        build_builtin_model(rig_path=p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        build_builtin_model(rig_path=p)
