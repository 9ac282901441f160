"""The 3D viewport's colour legend keeps clear of the face: at the docked (default) size of the
real window the legend sits beside the mesh (compact when the full one would cover it), never
over the mesh's box on screen, and a wide view keeps the full legend."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")
if sys.platform == "linux" and not os.environ.get("DISPLAY"):
    pytest.skip("the editor's 3D viewport needs Xvfb (run under xvfb-run)", allow_module_level=True)

from PySide6.QtCore import QRectF  # noqa: E402

from conftest import shared_path  # noqa: E402
from core.render.geometry import triangulate  # noqa: E402
from core.render.viewport import BACKGROUND  # noqa: E402
from widgets.legend import Legend, legend_size, place_legend  # noqa: E402

pytestmark = pytest.mark.gui
FACE_VERTICES = 9409  # ICT-FaceKit "Face" geometry




def _flow_legend() -> Legend:
    from app.editor.legends import flow_speed_legend

    return flow_speed_legend(0.088, "mm", factor=10.0)


def _face_box(image: np.ndarray) -> QRectF:
    """The drawn face's bounding box: the pixels that are not the viewport's background."""
    mask = np.abs(image.astype(int) - np.array(BACKGROUND)).sum(2) > 12
    ys, xs = np.nonzero(mask)
    return QRectF(float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_the_legend_keeps_clear_of_the_mesh_at_the_docked_size(qtbot, win, size):
    z = np.load(shared_path("models", "ict_facekit", "ict_facemodel_light.npz"))
    tri = triangulate(z["faces_quad"])
    tri = tri[np.all(tri < FACE_VERTICES, axis=1)]
    V = z["neutral"][:FACE_VERTICES]
    win.resize(*size)
    qtbot.wait(100)
    vc = win.editor.viewport
    vc.set_topology(tri, FACE_VERTICES, V)
    vc.set_preset("front")
    vc.set_mesh(V)
    vc.widget.set_legend(_flow_legend())
    qtbot.waitUntil(lambda: vc.up_to_date and vc.frames_rendered > 0 and vc.widget.mesh_rect() is not None,
                    timeout=60000)
    w = vc.widget
    rect, compact = w.legend_placement()
    face = _face_box(np.asarray(_rgb(vc.grab_image())))
    assert w.mesh_rect().contains(face.adjusted(2, 2, -2, -2)), (w.mesh_rect(), face)  # the box is the face's
    assert not rect.intersects(w.mesh_rect()), (size, w.size(), rect, w.mesh_rect())
    assert QRectF(0, 0, w.width(), w.height()).contains(rect)
    # readable: the compact legend keeps the normal legend font and every tick
    assert rect.width() >= 60 and rect.height() >= 60, rect
    # the note the compact layout has no room for is the legend's tooltip
    legend = w.legend()
    assert legend.note and legend.note in w.legend_tooltip(rect.center())
    assert w.legend_tooltip(w.mesh_rect().center()) == ""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    at = rect.center().toPoint()
    QApplication.sendEvent(w, QHelpEvent(QEvent.Type.ToolTip, at, w.mapToGlobal(at)))
    qtbot.waitUntil(lambda: legend.note in QToolTip.text(), timeout=3000)
    QToolTip.hideText()


def _rgb(img) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = img.convertToFormat(QImage.Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * img.height())
    return a.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3].reshape(img.height(), img.width(), 3)


def test_a_wide_view_keeps_the_full_legend_and_a_tiny_one_the_compact_one_in_the_emptiest_corner(qtbot):
    from app.gui_main import create_application

    create_application()
    legend = _flow_legend()
    full, compact = legend_size(legend), legend_size(legend, compact=True)
    face = QRectF(300, 20, 200, 260)
    rect, is_compact = place_legend(QRectF(0, 0, 800, 300), full, compact, face)
    assert not is_compact and not rect.intersects(face)
    assert compact[0] < full[0]
    # a view no wider than the face: compact, over as little of the face as can be
    face = QRectF(20, 10, 160, 180)
    rect, is_compact = place_legend(QRectF(0, 0, 200, 200), full, compact, face)
    assert is_compact
    others = [QRectF(x, y, *compact) for x in (6, 200 - 6 - compact[0]) for y in (6, 200 - 6 - compact[1])]
    inter = lambda r: r.intersected(face).width() * r.intersected(face).height()  # noqa: E731
    assert inter(rect) <= min(inter(r) for r in others) + 1e-6
