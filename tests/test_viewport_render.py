"""The 3D viewport's camera and frames (core/render/viewport.py) drawn by the one renderer:
presets look where they should, every mode draws the face, overlays land on the mesh, and
the view follows orbit, zoom and pan. Runs on the viewport's own render thread class."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from conftest import shared_path
from core.render.geometry import triangulate
from core.render.viewport import (
    BACKGROUND, MODES, OrbitView, ViewportRenderThread, ViewportScene, mesh_edges, preset_rotation,
)

FACE_VERTICES = 9409  # ICT-FaceKit "Face" geometry: vertices [0, 9408]


def ict() -> dict:
    z = np.load(shared_path("models", "ict_facekit", "ict_facemodel_light.npz"))
    tri = triangulate(z["faces_quad"])
    return {"neutral": z["neutral"][:FACE_VERTICES], "triangles": tri[np.all(tri < FACE_VERTICES, axis=1)]}

W, H = 160, 200


@pytest.fixture(scope="module")
def viewport():
    """A render thread and a synchronous render(scene) -> image."""
    m = ict()
    topo = (1, m["triangles"], FACE_VERTICES, m["neutral"])
    results: dict[int, np.ndarray] = {}
    errors: list[str] = []
    done = threading.Condition()

    def on_frame(img, serial, ms):
        with done:
            results[serial] = img
            done.notify_all()

    def on_error(msg):
        with done:
            errors.append(msg)
            done.notify_all()

    t = ViewportRenderThread(on_frame, on_error)
    serial = [0]

    def render(scene):
        serial[0] += 1
        s = serial[0]
        t.post(topo, scene, s)
        with done:
            assert done.wait_for(lambda: s in results or errors, timeout=60), "no frame"
        assert not errors, errors
        return results.pop(s)
    yield m, render
    t.stop()


def _scene(m, view, mode="shaded", **kw):
    V = m["neutral"]
    return ViewportScene(size=(W, H), mode=mode, vertices=V, camera=view.camera(W, H), light=view.light_direction(),
                         extent=view.extent, edges=mesh_edges(m["triangles"]), **kw)


def _face_mask(img):
    return np.abs(img.astype(int) - np.array(BACKGROUND)).sum(2) > 12


def test_front_preset_shows_an_upright_centred_face_in_every_mode(viewport):
    m, render = viewport
    view = OrbitView(preset="front")
    view.frame_mesh(m["neutral"])
    flow = np.zeros_like(m["neutral"])
    flow[:, 1] = 0.3
    colours = np.tile(np.array([[200, 40, 40]], np.uint8), (FACE_VERTICES, 1))
    image = np.full((64, 64, 3), 90, np.uint8)
    pts = np.zeros((FACE_VERTICES, 2), np.float32) + 30
    for mode in MODES:
        img = render(_scene(m, view, mode, flow=flow, flow_colours=colours, image=image, image_points=pts))
        mask = _face_mask(img)
        assert img.shape == (H, W, 3) and 0.15 < mask.mean() < 0.9, (mode, mask.mean())
        ys, xs = np.nonzero(mask)
        assert abs(xs.mean() - W / 2) < 0.1 * W, mode
    # upright: the forehead (high model y) is drawn above the chin
    top = m["neutral"][:, 1].argmax()
    bottom = m["neutral"][:, 1].argmin()
    cam = view.camera(W, H)
    p = cam.project(m["neutral"][[top, bottom]], W, H)
    assert p[0, 1] < p[1, 1]
    # flow colours show in "flow" mode: red-dominant face pixels
    img = render(_scene(m, view, "flow", flow=flow, flow_colours=colours))
    face = img[_face_mask(img)].astype(int)
    assert (face[:, 0] > face[:, 1] + 60).mean() > 0.9


def test_presets_orbit_zoom_and_pan_move_the_face(viewport):
    m, render = viewport
    view = OrbitView(preset="front")
    view.frame_mesh(m["neutral"])
    front = _face_mask(render(_scene(m, view)))
    view.reset("side")
    side = _face_mask(render(_scene(m, view)))
    assert abs(front.mean() - side.mean()) > 0.02 or (front ^ side).mean() > 0.1
    # the side preset looks along model -x: the nose tip (max z) is the leftmost or rightmost point
    R = preset_rotation("side", None)
    x_view = (m["neutral"] @ R.T)[:, 0]
    nose = m["neutral"][:, 2].argmax()
    assert x_view[nose] in (x_view.min(), x_view.max()) or abs(x_view[nose]) > 0.8 * np.abs(x_view).max()
    view.reset("front")
    view.zoom_by(2.0)
    zoomed = _face_mask(render(_scene(m, view)))
    assert zoomed.mean() > 1.5 * front.mean()
    view.reset("front")
    view.pan = np.array([0.5, 0.0])   # a quarter of the view to the right
    xs_pan = np.nonzero(_face_mask(render(_scene(m, view))))[1].mean()
    xs_front = np.nonzero(front)[1].mean()
    assert xs_pan - xs_front == pytest.approx(0.25 * W, abs=0.05 * W)
    view.reset("front")
    view.orbit(math.radians(40), 0.0)
    assert view.moved and not np.allclose(view.rotation(), preset_rotation("front", None))
    view.projection = "perspective"
    persp = _face_mask(render(_scene(m, view)))
    assert 0.1 < persp.mean() < 0.9


def test_landmark_points_and_wireframe_are_drawn_over_the_surface(viewport):
    m, render = viewport
    view = OrbitView(preset="front")
    view.frame_mesh(m["neutral"])
    plain = render(_scene(m, view, show_landmarks=False))
    lm = np.array([m["neutral"][:, 2].argmax()])   # the nose tip: in front, visible
    dots = render(_scene(m, view, show_landmarks=True, landmarks=lm))
    green = (dots[..., 1].astype(int) - dots[..., 0] > 100) & (dots[..., 1] > 180)
    assert 4 <= green.sum() <= 80
    p = view.camera(W, H).project(m["neutral"][lm], W, H)[0]
    ys, xs = np.nonzero(green)
    assert abs(xs.mean() - p[0]) < 2 and abs(ys.mean() - p[1]) < 2
    wire = render(_scene(m, view, show_wireframe=True))
    assert (np.abs(wire.astype(int) - plain.astype(int)).sum(2) > 40).mean() > 0.05
