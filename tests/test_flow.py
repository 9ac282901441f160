"""Dense 3D flow from meshes (Eq. 6.1), its colour codings, and the photometric
evaluation against OpenCV DIS on a real pair of frames. The renderer runs in a
module-scoped RenderThread (never on the main thread: Qt tests share the process)."""
from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from conftest import shared_path
from core.camera import euler_to_matrix, project
from core.flow import (clip_flow, clip_max_magnitude, dense_flow, flow2d_to_rgb, flow3d_to_rgb,
                       flow_from_buffers, legend_2d, legend_3d, vertex_displacement)
from core.flow.evaluate import compare_flows, dis_flow, endpoint_error, photometric_error, warp_backward
from core.render import RenderThread
from core.render.geometry import triangulate

FACE_VERTICES = 9409
SIZE = (480, 480)


@pytest.fixture(scope="module")
def rt():
    with RenderThread() as r:
        m = ict()
        r.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
        yield r


@functools.lru_cache(maxsize=1)
def ict():
    z = np.load(shared_path("models", "ict_facekit", "ict_facemodel_light.npz"))
    tri = triangulate(z["faces_quad"])
    return {"neutral": z["neutral"][:FACE_VERTICES], "triangles": tri[np.all(tri < FACE_VERTICES, axis=1)],
            "expression": z["expression_deltas"][:, :FACE_VERTICES],
            "names": list(z["expression_names"])}


def posed(shape, yaw=0.2, pitch=0.05, roll=0.0, s=14.0, t=(240.0, 250.0)):
    return project(shape, s, euler_to_matrix(yaw, pitch, roll), np.asarray(t))


def test_flow_of_a_mesh_with_itself_is_zero(rt):
    v = posed(ict()["neutral"])
    f = dense_flow(rt, v, v, SIZE)
    assert f.mask.mean() > 0.2
    assert np.abs(f.flow).max() == 0.0


def test_flow_of_a_translation_is_the_translation(rt):
    v = posed(ict()["neutral"])
    shift = np.array([3.25, -1.5, 2.0])
    f = dense_flow(rt, v, v + shift, SIZE)
    assert np.allclose(f.flow[f.mask], shift, atol=1e-4)
    assert np.all(f.flow[~f.mask] == 0)
    assert np.allclose(f.optical_flow[f.mask], shift[:2], atol=1e-4)


def test_gpu_flow_equals_eq_6_1_from_buffers(rt):
    m = ict()
    a = posed(m["neutral"] + 0.3 * m["expression"][m["names"].index("jawOpen")])
    b = posed(m["neutral"] + 0.9 * m["expression"][m["names"].index("jawOpen")], yaw=0.26, pitch=0.02)
    out = rt.render(a, SIZE, "none", buffers=True)
    ref = flow_from_buffers(out.triangle_id, out.barycentric, m["triangles"], a, b)
    f = dense_flow(rt, a, b, SIZE)
    assert np.array_equal(ref.mask, f.mask)
    mag = np.linalg.norm(ref.flow[ref.mask], axis=1)
    assert mag.max() > 5.0                                     # a real motion
    assert np.abs(ref.flow - f.flow).max() < 1e-3 * mag.max() + 1e-4
    # The x, y part is an optical flow: moving each pixel centre by it lands on the
    # same surface point projected in frame t+k (checked through the barycentrics).
    fg = ref.mask
    corners_b = b[m["triangles"][out.triangle_id[fg]]]
    target = np.einsum("mk,mkc->mc", out.barycentric[fg], corners_b[:, :, :2])
    rows, cols = np.nonzero(fg)
    assert np.percentile(np.abs(np.c_[cols, rows] + ref.flow[fg][:, :2] - target), 99) < 0.02


def test_clip_flow_streams_pairs(rt):
    v = posed(ict()["neutral"])
    frames = [v + [dx, 0.0, 0.0] for dx in (0.0, 1.0, 3.0, 6.0)]
    seen = []
    got = list(clip_flow(rt, iter(frames), SIZE, step=2, progress=lambda d, t, m: seen.append(d), total=4))
    assert [t for t, _ in got] == [0, 1] and seen == [1, 2]
    assert np.allclose(got[0][1].flow[got[0][1].mask][:, 0], 3.0, atol=1e-4)
    assert np.allclose(got[1][1].flow[got[1][1].mask][:, 0], 5.0, atol=1e-4)
    d = vertex_displacement(frames[0], frames[3])
    assert d.shape == v.shape and np.allclose(d, [6.0, 0.0, 0.0])


def test_hsv_coding_of_3d_flow():
    f = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -2.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    rgb = flow3d_to_rgb(f, max_magnitude=2.0)
    assert rgb[0].tolist() == [0, 0, 0]                       # still = black
    assert rgb[1].tolist() == [128, 255, 255]                 # theta 0: hue 180 deg, phi 0: s 0.5, v 1
    assert rgb[2].tolist() == [255, 255, 255]                 # straight at the viewer: s 0 -> white
    assert rgb[3].tolist() == [128, 64, 64]                  # theta pi: hue 360 (red), s 0.5, v 0.5
    assert rgb[4].max() == 255 and rgb[4].min() == 0          # away: s 1, fully saturated
    masked = flow3d_to_rgb(f, 2.0, mask=np.array([False, True, True, True, True]))
    assert masked[0].tolist() == [0, 0, 0]
    assert clip_max_magnitude([f], percentile=100) == pytest.approx(4.0)
    assert legend_3d(64).shape == (64, 64 * 2 + 16, 3)


def test_middlebury_wheel():
    f = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [3.0, 0.0]])
    rgb = flow2d_to_rgb(f, 1.0).astype(int)
    assert rgb[0].tolist() == [255, 255, 255]                 # still = white
    assert rgb[1][0] == 255 and rgb[1][1] < 10                # right = red
    assert rgb[3][2] == 255 and rgb[3][0] < 10 and rgb[3][1] > 200   # left = cyan
    assert rgb[2][0] == 255 and rgb[2][1] > 150 and rgb[2][2] < 10   # down (image y) = orange-yellow
    assert rgb[4][2] == 255 and rgb[4][0] > 80 and rgb[4][1] < 10    # up = blue-violet
    assert rgb[5].max() < 200                                 # beyond the maximum: darkened
    leg = legend_2d(65)
    assert leg[32, 32].tolist() == [255, 255, 255] and leg[32, 64, 0] == 255


def test_warp_with_true_flow_undoes_a_shift():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), (5, 5), 1.5)
    moved = np.roll(img, (1, 2), axis=(0, 1))                 # content moves by (+2, +1)
    flow = np.zeros((64, 80, 2), np.float32)
    flow[...] = (2.0, 1.0)
    warped, inside = warp_backward(moved, flow)
    inner = np.zeros((64, 80), bool)
    inner[4:-4, 4:-4] = True
    assert photometric_error(img, warped, inner).mae == 0.0
    assert photometric_error(img, moved, inner).mae > 5.0
    assert inside[:-2, :-3].all() and not inside[:, -1].any()
    assert endpoint_error(flow, np.zeros_like(flow)) == pytest.approx(np.hypot(2, 1))


def test_dis_flow_beats_zero_flow_on_a_real_pair():
    cap = cv2.VideoCapture(str(shared_path("data", "videos", "d6.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    frames = []
    for _ in range(4):
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    a, b = frames[0], frames[3]
    flow = dis_flow(a, b)
    assert flow.shape == a.shape[:2] + (2,) and flow.dtype == np.float32
    mask = np.zeros(a.shape[:2], bool)
    mask[60:-60, 60:-60] = True
    res = compare_flows(a, b, {"dis": flow, "zero": np.zeros_like(flow)}, mask)
    assert res["dis"].pixels == res["zero"].pixels > 1000
    assert res["dis"].rmse < res["zero"].rmse
    assert res["dis"].psnr > res["zero"].psnr


def test_one_flow_normalisation_per_clip_for_the_editors_mesh_flow():
    """The editor colours its vertex flow (viewport, overlay arrows) with the clip's scale: the
    99th percentile of the fitted meshes' displacements over frame pairs spread over the clip,
    the same rule as the QA video (core.flow.colour)."""
    from core.flow import FLOW_PERCENTILE, clip_vertex_flow_scales, flow_pair, magnitude_scale
    from core.fitting.reconstruction import Reconstruction
    from core.model.registry import load_model

    m = load_model("builtin")
    F = 10
    rng = np.random.default_rng(5)
    E = np.clip(rng.normal(0.2, 0.2, (F, m.num_expressions)), 0, 1).astype(np.float32)
    E[4] = E[3]  # a repeated picture: the flow at 3 is shown to frame 5
    t = np.cumsum(rng.normal(0, 2, (F, 2)), 0).astype(np.float32) + 200
    t[4] = t[3]
    rec = Reconstruction(
        model_name=m.name, model_spec="builtin", identity=np.zeros(m.num_identity, np.float32), expression=E,
        expression_names=np.asarray(m.expression_names), rotation=np.tile(np.diag([1.0, -1, -1]).astype(np.float32),
                                                                          (F, 1, 1)),
        translation=t, scale=np.full(F, 10.0, np.float32), landmarks68=np.zeros((F, 68, 2), np.float32),
        fit_error_px=np.zeros(F, np.float32), valid=np.ones(F, bool), segment=np.zeros(F, np.int32),
        repeated=np.arange(F) == 4)
    cm, px = clip_vertex_flow_scales(rec, m)
    pairs = sorted({flow_pair(rec.repeated, f) for f in range(F)})
    assert (3, 5) in pairs and (3, 4) not in pairs
    want_cm = magnitude_scale(np.concatenate([np.linalg.norm(rec.vertices(m, b) - rec.vertices(m, a), axis=1)
                                              for a, b in pairs]), FLOW_PERCENTILE)
    want_px = magnitude_scale(np.concatenate([np.linalg.norm(rec.posed_vertices(m, b) - rec.posed_vertices(m, a),
                                                             axis=1) for a, b in pairs]), FLOW_PERCENTILE)
    assert cm == pytest.approx(want_cm, rel=1e-5) and px == pytest.approx(want_px, rel=1e-5)
    assert px > 1.0  # the camera moves ~2 px a frame
