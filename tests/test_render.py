"""Offscreen renderer (core/render): silhouettes and buffers against a numpy rasteriser,
NMFC invariance, textured identity warp, perspective vs orthographic, overlays.

The renderer lives in a RenderThread (module-scoped): Qt GL widget tests run in the
same pytest process, and an EGL context current on the main thread would break them.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

import cv2
import numpy as np
import pytest

from conftest import shared_path
from core.camera import euler_to_matrix, project
from core.render import RenderThread, ViewCamera, look_at, perspective
from core.render.encodings import pncc_from_depth
from core.render.geometry import nmfc_reference, nmfc_triangle_colours, triangulate
from core.render.overlay import draw_landmarks, draw_reprojection_error, draw_wireframe
from core.render.renderer import OffscreenRenderer

FACE_VERTICES = 9409  # ICT-FaceKit "Face" geometry: vertices [0, 9408]


@pytest.fixture(scope="module")
def rt():
    with RenderThread() as r:
        yield r


@functools.lru_cache(maxsize=1)
def ict():
    z = np.load(shared_path("models", "ict_facekit", "ict_facemodel_light.npz"))
    tri = triangulate(z["faces_quad"])
    face_tri = tri[np.all(tri < FACE_VERTICES, axis=1)]
    return {"neutral": z["neutral"][:FACE_VERTICES], "triangles": face_tri,
            "identity": z["identity_deltas"][:, :FACE_VERTICES],
            "expression": z["expression_deltas"][:, :FACE_VERTICES]}


def icosphere(subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere: (N, 3) vertices, (T, 3) counter-clockwise (outward) triangles."""
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
         (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    faces = f
    for _ in range(subdivisions):
        cache, new = {}, []

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.array(verts), np.array(faces, np.int32)


def numpy_rasterise(screen: np.ndarray, triangles: np.ndarray, width: int, height: int):
    """Reference z-buffer rasteriser: pixel (r, c) is covered when its centre (c, r) lies in
    a triangle; the nearest (smallest depth) wins. Returns (triangle_id, depth)."""
    ids = np.full((height, width), -1, np.int64)
    zbuf = np.full((height, width), np.inf)
    for j, (a, b, c) in enumerate(screen[triangles]):
        x0, x1 = int(np.floor(min(a[0], b[0], c[0]))), int(np.ceil(max(a[0], b[0], c[0])))
        y0, y1 = int(np.floor(min(a[1], b[1], c[1]))), int(np.ceil(max(a[1], b[1], c[1])))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
        if x1 < x0 or y1 < y0:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(float)
        area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(area) < 1e-12:
            continue
        w1 = ((xx - a[0]) * (c[1] - a[1]) - (yy - a[1]) * (c[0] - a[0])) / area
        w2 = ((b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0])) / area
        w0 = 1 - w1 - w2
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        sub_z, sub_id = zbuf[y0:y1 + 1, x0:x1 + 1], ids[y0:y1 + 1, x0:x1 + 1]
        win = inside & (z < sub_z)
        sub_z[win] = z[win]
        sub_id[win] = j
    return ids, zbuf


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def edge_pixels(ids: np.ndarray) -> np.ndarray:
    """Pixels next to a change of triangle id (where rasterisation rules may differ)."""
    e = np.zeros(ids.shape, bool)
    e[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    e[:, :-1] |= ids[:, 1:] != ids[:, :-1]
    e[1:] |= ids[1:] != ids[:-1]
    e[:-1] |= ids[1:] != ids[:-1]
    return e


def compare_with_reference(out, ref_ids):
    ref_mask = ref_ids >= 0
    assert iou(out.mask, ref_mask) > 0.98
    edges = edge_pixels(ref_ids)
    silhouette_edges = edge_pixels(ref_mask.astype(np.int64))
    assert abs(int(out.mask.sum()) - int(ref_mask.sum())) <= silhouette_edges.sum() * 0.1 + 2
    assert np.all(out.mask[~silhouette_edges] == ref_mask[~silhouette_edges])
    interior = ref_mask & ~edges
    assert np.mean(out.triangle_id[interior] == ref_ids[interior]) > 0.995


def test_few_triangles_match_numpy_rasteriser(rt):
    # Two overlapping triangles at different depths and one apart, sub-pixel corners.
    v = np.array([[10.3, 12.7, 5.0], [90.2, 20.1, 5.0], [40.6, 88.9, 5.0],
                  [30.1, 30.4, 2.0], [110.7, 50.3, 8.0], [60.2, 100.6, 2.0],
                  [100.5, 5.2, 1.0], [125.4, 9.9, 1.0], [118.8, 40.1, 1.0]])
    tri = np.arange(9, dtype=np.int32).reshape(3, 3)
    rt.set_mesh(tri, len(v))
    out = rt.render(v, (128, 112), "none", buffers=True)
    ref_ids, ref_z = numpy_rasterise(v, tri, 128, 112)
    compare_with_reference(out, ref_ids)
    assert set(np.unique(out.triangle_id)) == {-1, 0, 1, 2}
    assert out.triangle_id.shape == (112, 128) and out.triangle_id.dtype == np.int32


def test_sphere_silhouette_ids_and_depth(rt):
    verts, tri = icosphere(2)
    R = euler_to_matrix(0.4, -0.3, 0.2)
    screen = project(verts, 52.0, R, np.array([70.3, 64.8]))
    rt.set_mesh(tri, len(verts))
    out = rt.render(screen, (140, 130), "none", buffers=True)
    ref_ids, ref_z = numpy_rasterise(screen, tri, 140, 130)
    compare_with_reference(out, ref_ids)
    both = out.mask & (ref_ids >= 0)
    assert np.abs(out.depth[both] - ref_z[both]).max() < 0.5  # depth-test ties at shared edges
    assert np.isinf(out.depth[~out.mask]).all()


def test_ids_and_barycentrics_reproduce_depth(rt):
    m = ict()
    screen = project(m["neutral"], 18.0, euler_to_matrix(0.35, 0.1, -0.05), np.array([240.0, 250.0]))
    rt.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
    out = rt.render(screen, (480, 480), "nmfc", buffers=True)
    fg = out.mask
    assert 0.2 < fg.mean() < 0.8
    corners = screen[m["triangles"][out.triangle_id[fg]]]            # (M, 3, 3)
    b = out.barycentric[fg]
    assert np.allclose(b.sum(1), 1.0, atol=1e-5)
    depth = np.einsum("mk,mk->m", b, corners[:, :, 2])
    err = np.abs(depth - out.depth[fg])
    assert err.max() < 0.05 and np.median(err) < 1e-3
    # The barycentrics also reproduce the pixel centre (orthographic: screen = surface).
    xy = np.einsum("mk,mkc->mc", b, corners[:, :, :2])
    rows, cols = np.nonzero(fg)
    assert np.percentile(np.abs(xy - np.c_[cols, rows]).max(1), 99) < 0.01
    # PNCC from the same buffers
    pncc = pncc_from_depth(out.depth, fg, (screen[:, 2].min(), screen[:, 2].max()))
    assert np.allclose(pncc[fg][:, 0], cols / 480.0) and pncc[fg][:, 2].min() >= -1e-3
    assert pncc[fg][:, 2].max() <= 1 + 1e-3


def test_nmfc_colour_of_a_vertex_is_invariant(rt):
    m = ict()
    rng = np.random.default_rng(3)
    shapes = [m["neutral"] + np.tensordot(rng.normal(size=100).astype(np.float32) * 0.8, m["identity"], 1)
              + 0.7 * m["expression"][k] for k in (0, 24)]
    poses = [(0.0, 0.0, 0.0, 16.0), (-0.4, 0.2, 0.1, 21.0)]
    rt.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
    expected = nmfc_triangle_colours(nmfc_reference(m["neutral"], m["triangles"]), m["triangles"])
    nose_tip = 6346 if 6346 < FACE_VERTICES else 0
    renders = []
    for shape, (yaw, pitch, roll, s) in zip(shapes, poses):
        screen = project(shape, s, euler_to_matrix(yaw, pitch, roll), np.array([250.0, 240.0]))
        renders.append(rt.render(screen, (500, 480), "nmfc", buffers=True))
    # Triangles around the nose tip visible in both renders have identical colours.
    around = np.flatnonzero(np.any(m["triangles"] == nose_tip, axis=1))
    checked = 0
    for j in around:
        cols = []
        for out in renders:
            hit = out.triangle_id == j
            if not hit.any():
                break
            c = out.image[hit]
            assert np.all(c == c[0])              # flat per triangle
            cols.append(c[0])
        if len(cols) == 2:
            assert np.array_equal(cols[0], cols[1])
            assert np.abs(cols[0] / 255.0 - expected[j]).max() <= 1 / 255 + 1e-6
            checked += 1
    assert checked >= 2
    # Over the whole image: every visible pixel has its triangle's reference colour.
    out = renders[1]
    exp8 = np.round(expected[out.triangle_id[out.mask]] * 255)
    assert np.abs(out.image[out.mask] - exp8).max() <= 1


def test_nmfc_image_is_the_same_with_or_without_buffers(rt):
    m = ict()
    screen = project(m["neutral"], 15.0, euler_to_matrix(-0.3, 0.1, 0.05), np.array([200.0, 190.0]))
    rt.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
    with_ids = rt.render(screen, (400, 380), "nmfc", buffers=True)
    alone = rt.render(screen, (400, 380), "nmfc")
    assert alone.triangle_id is None and alone.barycentric is None and alone.depth is None
    assert np.array_equal(alone.mask, with_ids.mask) and np.array_equal(alone.image, with_ids.image)
    assert alone.image.shape == (380, 400, 3) and alone.image.dtype == np.uint8
    grey = rt.render(screen, (400, 380), "nmfc", background=(10, 200, 30))
    assert np.all(grey.image[~grey.mask] == [10, 200, 30])
    assert np.array_equal(grey.image[grey.mask], alone.image[alone.mask])


def test_outputs_stay_valid_after_later_renders(rt):
    # Readback buffers are reused between frames; what render() returned must not change,
    # including barycentrics and depth unpacked lazily after the next render.
    m = ict()
    a = project(m["neutral"], 18.0, euler_to_matrix(0.3, 0.0, 0.0), np.array([240.0, 250.0]))
    b = project(m["neutral"], 16.0, euler_to_matrix(-0.3, 0.2, 0.1), np.array([230.0, 240.0]))
    rt.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
    out_a = rt.render(a, (480, 480), "none", buffers=True)
    ids_a = out_a.triangle_id.copy()
    rt.render(b, (480, 480), "nmfc", buffers=True)
    assert np.array_equal(out_a.triangle_id, ids_a)
    fg = out_a.mask
    corners = a[m["triangles"][out_a.triangle_id[fg]]]
    bary = out_a.barycentric[fg]
    rows, cols = np.nonzero(fg)
    xy = np.einsum("mk,mkc->mc", bary, corners[:, :, :2])
    assert np.percentile(np.abs(xy - np.c_[cols, rows]).max(1), 99) < 0.01
    assert np.abs(np.einsum("mk,mk->m", bary, corners[:, :, 2]) - out_a.depth[fg]).max() < 1e-3
    assert np.all(out_a.barycentric[~fg] == 0)
    # What the id pass reads back: 8 bytes per pixel (id + two 16-bit barycentrics).
    assert rt.call(lambda r: r.last_readback_bytes) == 480 * 480 * 8


def test_textured_identity_warp_reproduces_frame(rt):
    cap = cv2.VideoCapture(str(shared_path("data", "videos", "d6.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = frame.shape[:2]
    m = ict()
    screen = project(m["neutral"], 13.0, euler_to_matrix(0.2, -0.1, 0.05), np.array([w / 2, h / 2 + 10]))
    rt.set_mesh(m["triangles"], FACE_VERTICES, nmfc_mean=m["neutral"])
    out = rt.render(screen, (w, h), "textured", texture=frame, source_pixels=screen[:, :2])
    fg = out.mask
    assert fg.mean() > 0.2
    mse = np.mean((out.image[fg].astype(float) - frame[fg]) ** 2)
    psnr = 10 * np.log10(255 ** 2 / max(mse, 1e-12))
    assert psnr > 40, psnr
    # A shifted lookup samples a shifted frame: texture coordinates are really used.
    out2 = rt.render(screen, (w, h), "textured", texture=frame, source_pixels=screen[:, :2] + [3.0, 0.0])
    shifted = np.roll(frame, -3, axis=1)
    inner = fg & (np.arange(w)[None, :] < w - 4)
    assert np.mean(np.abs(out2.image[inner].astype(float) - shifted[inner])) < 1.0


def test_perspective_agrees_with_orthographic_for_far_camera(rt):
    verts, tri = icosphere(2)
    verts = verts * np.array([6.0, 8.0, 5.0])          # an ellipsoid, cm
    W, H, s = 160, 120, 6.0                             # 6 px per cm
    ortho = project(verts, s, euler_to_matrix(0, 0, 0), np.array([W / 2 - 0.5, H / 2 - 0.5]))
    dist = 20000.0
    fov = 2 * np.arctan((H / 2) / (s * dist))
    cam = ViewCamera(look_at((0, 0, dist), (0, 0, 0)), perspective(fov, W / H, dist - 100, dist + 100))
    rt.set_mesh(tri, len(verts))
    from core.render import Lighting
    # Light directions live in the input space: screen (y down, depth away) vs world (y up, +z to the viewer).
    screen_light = np.array([-0.35, -0.5, -1.0])
    a = rt.render(ortho, (W, H), "shaded", buffers=True, lighting=Lighting(direction=tuple(screen_light)))
    b = rt.render(verts, (W, H), "shaded", buffers=True, view=cam,
                  lighting=Lighting(direction=tuple(screen_light * [1, -1, -1])))
    assert iou(a.mask, b.mask) > 0.98
    both = a.mask & b.mask
    assert np.mean(a.triangle_id[both] == b.triangle_id[both]) > 0.97
    # depth: orthographic depth is s * (-z); eye depth is dist - z
    assert np.allclose(b.depth[both], dist + a.depth[both] / s, atol=0.05)
    assert np.mean(np.abs(a.image[both].astype(int) - b.image[both]).max(-1) <= 3) > 0.97
    assert np.allclose(cam.project(verts, W, H)[:, :2], ortho[:, :2], atol=0.1)


def test_shading_is_brightest_towards_the_light(rt):
    verts, tri = icosphere(3)
    screen = project(verts, 50.0, np.diag([1.0, -1.0, -1.0]), np.array([64.0, 64.0]))
    rt.set_mesh(tri, len(verts))
    from core.render import Lighting
    light = Lighting(direction=(0.0, 0.0, -1.0), specular=0.0)  # from the viewer
    for mode in ("shaded", "shaded_flat"):
        out = rt.render(screen, (128, 128), mode, lighting=light)
        grey = out.image.mean(-1)
        r, c = np.unravel_index(np.argmax(grey), grey.shape)
        assert abs(r - 64) <= 6 and abs(c - 64) <= 6, (mode, r, c)
        assert grey[64, 64] > 2 * grey[64, 16]       # rim is darker (Lambert)
    smooth = rt.render(screen, (128, 128), "shaded", lighting=light, supersample=2)
    assert smooth.image.shape == (128, 128, 3) and smooth.mask.mean() > 0.4
    # light from the image left (x negative): the left half is brighter
    out = rt.render(screen, (128, 128), "shaded", lighting=Lighting(direction=(-1.0, 0.0, -0.2)))
    grey = out.image.mean(-1)
    assert grey[40:88, 20:60].mean() > grey[40:88, 68:108].mean() + 40


def test_stream_frames_uploads_only_vertices(rt):
    verts, tri = icosphere(1)
    rt.set_mesh(tri, len(verts))
    base = project(verts, 20.0, np.diag([1.0, -1.0, -1.0]), np.array([32.0, 32.0]))
    frames = (base + [dx, 0.0, 0.0] for dx in (0.0, 5.0, 10.0))
    outs = list(rt.render_frames(frames, (96, 64), "none", buffers=True))
    cx = [np.nonzero(o.mask)[1].mean() for o in outs]
    assert np.allclose(np.diff(cx), 5.0, atol=0.3)


def test_no_egl_context_on_the_main_thread(rt):
    verts, tri = icosphere(1)
    rt.set_mesh(tri, len(verts))
    rt.render(project(verts, 20.0, np.eye(3), np.array([32.0, 32.0])), (64, 64), "nmfc" if False else "none")
    assert threading.current_thread() is threading.main_thread()
    egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    assert not egl.eglGetCurrentContext()
    # The renderer itself refuses the main thread once Qt widgets are loaded.
    pytest.importorskip("PySide6.QtWidgets")
    with pytest.raises(RuntimeError, match="main thread"):
        OffscreenRenderer()


def test_errors_are_reported(rt):
    verts, tri = icosphere(1)
    rt.set_mesh(tri, len(verts))
    with pytest.raises(ValueError, match="vertices must be"):
        rt.render(np.zeros((5, 3)), (32, 32))
    with pytest.raises(ValueError, match="nmfc"):
        rt.render(verts, (32, 32), "nmfc")
    with pytest.raises(ValueError, match="unknown render mode"):
        rt.render(verts, (32, 32), "bogus")


def test_overlays():
    img = np.zeros((100, 100, 3), np.uint8)
    v = np.array([[20.0, 20.0, 0.0], [80.0, 20.0, 0.0], [50.0, 80.0, 0.0]])
    tri = np.array([[0, 2, 1]])  # counter-clockwise seen from the viewer (normal towards -depth)
    wf = draw_wireframe(img, v, tri, colour=(0, 255, 0))
    assert wf[20, 50, 1] > 200 and wf[50, 50].sum() == 0 and img.sum() == 0
    assert draw_wireframe(img, v, tri[:, ::-1]).sum() == 0          # back-facing: culled
    lm = draw_landmarks(img, v[:, :2], colour=(255, 0, 0), radius=3)
    assert lm[20, 20, 0] > 200 and lm[20, 20, 1] == 0
    obs = np.array([[30.0, 30.0], [70.0, 70.0]])
    out, vmax = draw_reprojection_error(img, obs, obs + [[0.0, 0.0], [6.0, 8.0]])
    assert vmax == pytest.approx(10.0)
    p0, p1 = out[30, 30].astype(int), out[78, 76].astype(int)
    assert p0[2] > p0[0] + 100            # zero error: blue
    assert p1[0] > p1[2] + 100            # largest error: red
