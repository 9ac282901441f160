"""VideoView: shows one video frame with overlays (the tracked landmarks).

Pure display: it takes numpy arrays and plain data and never computes anything
about faces. The frame and its overlays live in one content item whose coordinates
are image pixels (origin top-left, x right, y down), so overlay points in pixel
coordinates are drawn as they are; the content item stretches the width by the
source's pixel aspect ratio (:meth:`VideoView.set_pixel_aspect`: d9's 512x480 pixels
are 15:16 and show as the square picture they are).

Interaction: mouse wheel zooms around the cursor, left-drag pans, double-click
(or :meth:`fit_to_window`) fits the frame to the view. While "fit" is on, the
frame follows window resizes; zooming by hand turns it off.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsItem, QGraphicsObject, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView,
)

from widgets.legend import Legend, legend_size, paint_legend

#: colour of landmarks the detector found in this frame
DETECTED_COLOUR = QColor(60, 230, 90)
#: colour of landmarks interpolated across a short track loss
BRIDGED_COLOUR = QColor(255, 150, 30)


def rgb_to_qimage(frame: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> a QImage that owns a copy of the pixels."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    frame = np.ascontiguousarray(frame)
    h, w, _ = frame.shape
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """QImage -> (H, W, 3) uint8 RGB array (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return buf.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


class PointsOverlayItem(QGraphicsItem):
    """A set of 2D points drawn as fixed-size dots (they stay a few screen pixels wide at any zoom).

    ``points``: (N, 2) float, scene (= image pixel) coordinates.
    """

    def __init__(self, colour: QColor, radius_px: float = 2.0, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self._points = np.zeros((0, 2), np.float64)
        self._polygon = QPolygonF()
        self._bounds = QRectF()
        self._pen = QPen(colour, 2 * radius_px, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self._pen.setCosmetic(True)  # width in screen pixels, not scene units

    def set_points(self, points: np.ndarray) -> None:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        self.prepareGeometryChange()
        self._points = pts
        self._polygon = QPolygonF([QPointF(float(x), float(y)) for x, y in pts])
        if len(pts):
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            # margin in scene units: generous enough for the cosmetic dot at moderate zoom-out
            m = 8.0
            self._bounds = QRectF(lo[0] - m, lo[1] - m, hi[0] - lo[0] + 2 * m, hi[1] - lo[1] + 2 * m)
        else:
            self._bounds = QRectF()
        self.update()

    def set_colour(self, colour: QColor) -> None:
        self._pen.setColor(colour)
        self.update()

    def colour(self) -> QColor:
        return self._pen.color()

    def points(self) -> np.ndarray:
        """The (N, 2) points currently drawn."""
        return self._points.copy()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._polygon.isEmpty():
            return
        painter.setPen(self._pen)
        painter.drawPoints(self._polygon)


class SegmentsOverlayItem(QGraphicsItem):
    """Line segments in scene (= image pixel) coordinates, cosmetic width.

    ``segments`` (M, 2, 2) float: [start, end] x (x, y); ``colours`` (M, 3) uint8 RGB per
    segment or None for the item's single colour. Segments are batched per colour, each
    batch one QPainterPath built straight from the array (pyqtgraph's arrayToQPath): a
    mesh wireframe of ~6000 edges takes ~0.5 ms instead of ~4-8 ms as QLineF objects, and
    it is rebuilt on every slider move.
    """

    def __init__(self, colour: QColor, width_px: float = 1.0, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self._colour = colour
        self._width = width_px
        self._batches: list[tuple[QColor, QPainterPath]] = []
        self._bounds = QRectF()
        self.count = 0

    def set_segments(self, segments: np.ndarray | None, colours: np.ndarray | None = None) -> None:
        from pyqtgraph import arrayToQPath

        self.prepareGeometryChange()
        self._batches = []
        self._bounds = QRectF()
        self.count = 0
        if segments is not None and len(segments):
            seg = np.asarray(segments, np.float64).reshape(-1, 2, 2)
            ok = np.isfinite(seg).all(axis=(1, 2))
            seg = seg[ok]
            if colours is None:
                groups = {None: np.arange(len(seg))}
            else:
                q = (np.asarray(colours)[ok] // 32).astype(np.int64)  # 8 levels per channel is plenty
                key = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
                groups = {int(k): np.flatnonzero(key == k) for k in np.unique(key)}
            for k, idx in groups.items():
                c = self._colour if k is None else QColor(int(k // 64) * 32 + 16, int(k // 8 % 8) * 32 + 16,
                                                          int(k % 8) * 32 + 16)
                pts = seg[idx].reshape(-1, 2)
                self._batches.append((c, arrayToQPath(pts[:, 0], pts[:, 1], connect="pairs")))
            self.count = len(seg)
            if len(seg):
                lo = seg.reshape(-1, 2).min(0)
                hi = seg.reshape(-1, 2).max(0)
                self._bounds = QRectF(lo[0] - 4, lo[1] - 4, hi[0] - lo[0] + 8, hi[1] - lo[1] + 8)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, path in self._batches:
            pen = QPen(colour, self._width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPath(path)


class ColouredPointsItem(QGraphicsItem):
    """Points with one colour each: (N, 2) pixels and (N, 3) uint8 RGB (e.g. an error heat map)."""

    def __init__(self, radius_px: float = 3.0, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self._radius = radius_px
        self._batches: list[tuple[QColor, QPolygonF]] = []
        self._bounds = QRectF()

    def set_points(self, points: np.ndarray | None, colours: np.ndarray | None = None) -> None:
        self.prepareGeometryChange()
        self._batches = []
        self._bounds = QRectF()
        if points is not None and len(points):
            pts = np.asarray(points, np.float64)[:, :2]
            cols = np.asarray(colours, np.uint8) if colours is not None else np.full((len(pts), 3), 255, np.uint8)
            ok = np.isfinite(pts).all(1)
            pts, cols = pts[ok], cols[ok]
            for c in np.unique(cols, axis=0):
                sel = (cols == c).all(1)
                self._batches.append((QColor(int(c[0]), int(c[1]), int(c[2])),
                                      QPolygonF([QPointF(x, y) for x, y in pts[sel]])))
            if len(pts):
                lo, hi = pts.min(0), pts.max(0)
                self._bounds = QRectF(lo[0] - 8, lo[1] - 8, hi[0] - lo[0] + 16, hi[1] - lo[1] + 16)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        for colour, poly in self._batches:
            pen = QPen(colour, 2 * self._radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPoints(poly)


class HandlesItem(QGraphicsObject):
    """Points the user can drag (correcting a fit by hand): drawn as rings a few screen pixels
    wide, the one under the mouse highlighted; pinned points as crosses at their targets.

    ``set_handles(points (N, 2) image pixels, ids (N,) int)``; ``set_pins(targets (P, 2))``.
    Signal ``dragged(id, x, y)``: handle ``id`` was dropped at image pixel (x, y).
    """

    dragged = Signal(int, float, float)
    RADIUS_PX = 5.0
    #: how near (screen pixels) a press must be to grab a handle
    GRAB_PX = 9.0

    def __init__(self, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self._pts = np.zeros((0, 2))
        self._ids = np.zeros(0, int)
        self._pins = np.zeros((0, 2))
        self._drag: int | None = None
        self._drag_pos: QPointF | None = None
        self._hover: int | None = None
        self._bounds = QRectF()
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def set_handles(self, points: np.ndarray, ids: np.ndarray) -> None:
        self.prepareGeometryChange()
        self._pts = np.asarray(points, np.float64).reshape(-1, 2)
        self._ids = np.asarray(ids, int).reshape(-1)
        self._update_bounds()

    def set_pins(self, targets: np.ndarray) -> None:
        self.prepareGeometryChange()
        self._pins = np.asarray(targets, np.float64).reshape(-1, 2)
        self._update_bounds()

    def handle_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(points (N, 2), ids (N,)) shown."""
        return self._pts.copy(), self._ids.copy()

    def _update_bounds(self) -> None:
        allp = np.concatenate([self._pts, self._pins]) if len(self._pins) else self._pts
        allp = allp[np.isfinite(allp).all(1)] if len(allp) else allp
        if len(allp):
            lo, hi = allp.min(0) - 40, allp.max(0) + 40
            self._bounds = QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        else:
            self._bounds = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._bounds

    def _screen_scale(self) -> float:
        """Screen pixels per image pixel (for hit testing at any zoom)."""
        views = self.scene().views() if self.scene() is not None else []
        if not views:
            return 1.0
        t = self.deviceTransform(views[0].viewportTransform())
        return max(1e-6, (abs(t.m11()) + abs(t.m22())) / 2)

    def index_at(self, pos: QPointF) -> int | None:
        """Index of the handle within GRAB_PX screen pixels of ``pos`` (item coordinates)."""
        if not len(self._pts):
            return None
        d = np.linalg.norm(self._pts - np.array([pos.x(), pos.y()]), axis=1) * self._screen_scale()
        i = int(np.argmin(d))
        return i if d[i] <= self.GRAB_PX else None

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        k = self._screen_scale()
        r = self.RADIUS_PX / k
        for i, (x, y) in enumerate(self._pts):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            hot = i == self._hover or i == self._drag
            pen = QPen(QColor(255, 255, 255) if hot else QColor(255, 220, 40), 2.0 if hot else 1.5)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(QColor(255, 220, 40, 90) if hot else Qt.BrushStyle.NoBrush)
            c = self._drag_pos if i == self._drag and self._drag_pos is not None else QPointF(x, y)
            painter.drawEllipse(c, r * (1.4 if hot else 1.0), r * (1.4 if hot else 1.0))
        # pins last and larger than a ring, magenta on a dark stroke: a pin sits a few pixels from its
        # re-solved handle, and drawn first at the ring's size it was half hidden under the ring
        q = 1.6 * r
        for width, colour in ((4.0, QColor(30, 0, 20)), (2.0, QColor(255, 60, 200))):
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            for x, y in self._pins:
                painter.drawLine(QPointF(x - q, y - q), QPointF(x + q, y + q))
                painter.drawLine(QPointF(x - q, y + q), QPointF(x + q, y - q))
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def hoverMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        i = self.index_at(event.pos())
        if i != self._hover:
            self._hover = i
            self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        i = self.index_at(event.pos()) if event.button() == Qt.MouseButton.LeftButton else None
        if i is None:
            event.ignore()  # (the view pans)
            return
        self._drag, self._drag_pos = i, event.pos()
        event.accept()
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._drag is not None:
            self._drag_pos = event.pos()
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._drag is None:
            return
        i, pos = self._drag, event.pos()
        self._drag, self._drag_pos = None, None
        self.update()
        if np.linalg.norm(self._pts[i] - np.array([pos.x(), pos.y()])) * self._screen_scale() >= 1.0:
            self.dragged.emit(int(self._ids[i]), float(pos.x()), float(pos.y()))


class CaptionItem(QGraphicsItem):
    """A short label in a dark box (e.g. "Original" over the left half of side by side); it
    keeps its screen size at any zoom, its top-left corner at its position."""

    def __init__(self, text: str, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._font = QFont()
        self._font.setBold(True)
        self._font.setPointSizeF(10.5)
        self.set_text(text)

    def set_text(self, text: str) -> None:
        self.prepareGeometryChange()
        self.text = text
        m = QFontMetricsF(self._font)
        self._rect = QRectF(0, 0, m.horizontalAdvance(text) + 14, m.height() + 6)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.setFont(self._font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class LegendItem(QGraphicsItem):
    """A colour-bar legend (widgets.legend) kept at screen size in a corner of the view."""

    def __init__(self, legend: Legend, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.set_legend(legend)

    def set_legend(self, legend: Legend) -> None:
        self.prepareGeometryChange()
        self.legend = legend
        w, h = legend_size(legend)
        self._rect = QRectF(0, 0, w, h)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        paint_legend(painter, QPointF(0, 0), self.legend)


class VideoView(QGraphicsView):
    """The central frame display.

    Signals: ``zoom_changed(float)`` (view scale, 1.0 = one screen pixel per image pixel).
    """

    zoom_changed = Signal(float)

    ZOOM_STEP = 1.25
    ZOOM_RANGE = (0.02, 40.0)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QBrush(QColor(30, 30, 32)))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        # Drops go to the main window (which opens files); the view never takes them.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)

        # the frame and its overlays, in image pixels; its transform applies the pixel aspect
        self._content = QGraphicsRectItem()
        self._content.setPen(QPen(Qt.PenStyle.NoPen))
        self._content.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self._scene.addItem(self._content)
        self._pixel_aspect = 1.0
        self._pixmap_item = QGraphicsPixmapItem(self._content)
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.landmarks_item = PointsOverlayItem(DETECTED_COLOUR, parent=self._content)
        self.landmarks_item.setZValue(10)
        self._captions: list[CaptionItem] = []
        # legends (colour bars) sit in the view's top-right corner, outside the content
        self._legends: dict[str, LegendItem] = {}
        # name -> item; later overlays (mesh wireframe, flow) register here too
        self._overlays: dict[str, QGraphicsItem] = {"landmarks": self.landmarks_item}
        self._overlay_enabled: dict[str, bool] = {"landmarks": True}
        self._overlay_has_data: dict[str, bool] = {"landmarks": False}

        self._frame: np.ndarray | None = None
        self._fit = True

    # -- frame ------------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray) -> None:
        """Show an (H, W, 3) uint8 RGB frame. A new frame size re-fits the view."""
        new_size = frame.shape[:2]
        old_size = None if self._frame is None else self._frame.shape[:2]
        self._frame = frame
        self._pixmap_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(frame)))
        if new_size != old_size:
            self._update_scene_rect()
            self._fit = True
        if self._fit:
            self._apply_fit()

    def set_pixel_aspect(self, aspect: float) -> None:
        """Show each pixel ``aspect`` times as wide as it is high (a source's pixel_aspect)."""
        aspect = float(aspect) if aspect and aspect > 0 else 1.0
        if aspect == self._pixel_aspect:
            return
        self._pixel_aspect = aspect
        self._content.setTransform(QTransform.fromScale(aspect, 1.0))
        self._update_scene_rect()
        self._fit = True
        self._apply_fit()

    def pixel_aspect(self) -> float:
        return self._pixel_aspect

    def _update_scene_rect(self) -> None:
        if self._frame is not None:
            h, w = self._frame.shape[:2]
            self._scene.setSceneRect(QRectF(0, 0, w * self._pixel_aspect, h))
            self._place_legends()

    def image_to_view(self, x: float, y: float) -> QPointF:
        """Widget (viewport) coordinates of image pixel (x, y)."""
        return QPointF(self.mapFromScene(self._content.mapToScene(QPointF(x, y))))

    def view_to_image(self, pos) -> QPointF:
        """Image pixel coordinates of a widget (viewport) position."""
        return self._content.mapFromScene(self.mapToScene(QPointF(pos).toPoint()))

    def set_captions(self, captions) -> None:
        """Labels over the frame: [(x, text)] with x in image pixels (each label's left edge,
        near the top); [] removes them. Side by side shows "Original" and "Edited" this way."""
        spec = [(float(x), str(t)) for x, t in captions]
        if spec == [(c.pos().x() - 8, c.text) for c in self._captions]:
            return
        for c in self._captions:
            self._scene.removeItem(c)
        self._captions = []
        for x, text in captions:
            c = CaptionItem(text, self._content)
            c.setPos(float(x) + 8, 8)
            c.setZValue(50)
            self._captions.append(c)

    def captions(self) -> list[str]:
        return [c.text for c in self._captions]

    def set_legend(self, name: str, legend: Legend | None) -> None:
        """A colour-bar legend ``name`` in the view's top-right corner (stacked in the order
        first set); None removes it."""
        if legend is None:
            item = self._legends.pop(name, None)
            if item is not None:
                self._scene.removeItem(item)
            self._place_legends()
            return
        item = self._legends.get(name)
        if item is None:
            item = LegendItem(legend)
            item.setZValue(60)
            self._scene.addItem(item)
            self._legends[name] = item
        else:
            item.set_legend(legend)
        self._place_legends()

    def legends(self) -> dict[str, str]:
        """The legends shown: name -> title."""
        return {n: it.legend.title for n, it in self._legends.items()}

    def _place_legends(self) -> None:
        # the legends sit in the viewport's top-right corner whatever the zoom and pan
        y = 6.0
        for item in self._legends.values():
            r = item.boundingRect()
            top_right = self.mapToScene(self.viewport().width() - int(r.width()) - 6, int(y))
            item.setPos(top_right)
            y += r.height() + 4

    def clear(self) -> None:
        self._frame = None
        self._pixmap_item.setPixmap(QPixmap())
        self.set_landmarks(None)

    def frame(self) -> np.ndarray | None:
        """The array last given to :meth:`set_frame` (not a copy)."""
        return self._frame

    def displayed_image(self) -> np.ndarray | None:
        """The pixels of the pixmap actually shown, as (H, W, 3) uint8 RGB."""
        pm = self._pixmap_item.pixmap()
        return None if pm.isNull() else qimage_to_rgb(pm.toImage())

    # -- overlays ---------------------------------------------------------------------
    def set_landmarks(self, points: np.ndarray | None, bridged: bool = False) -> None:
        """Landmarks of the shown frame: (N, 2) or (N, 3) pixels (x, y[, depth]); None hides them.

        ``bridged`` frames (interpolated across a track loss) are drawn in another colour.
        """
        if points is None:
            self.landmarks_item.set_points(np.zeros((0, 2)))
            self._overlay_has_data["landmarks"] = False
        else:
            self.landmarks_item.set_points(np.asarray(points)[:, :2])
            self.landmarks_item.set_colour(BRIDGED_COLOUR if bridged else DETECTED_COLOUR)
            self._overlay_has_data["landmarks"] = True
        self._update_overlay_visibility("landmarks")

    def add_overlay(self, name: str, item: QGraphicsItem, z: float = 5.0) -> None:
        """Register another overlay item (its coordinates are image pixels)."""
        item.setZValue(z)
        item.setParentItem(self._content)
        self._overlays[name] = item
        self._overlay_enabled[name] = True
        self._overlay_has_data[name] = True
        self._update_overlay_visibility(name)

    def set_overlay_has_data(self, name: str, has_data: bool) -> None:
        """Whether the overlay has something to show for the current frame (hidden if not)."""
        self._overlay_has_data[name] = bool(has_data)
        self._update_overlay_visibility(name)

    def set_overlay_enabled(self, name: str, enabled: bool) -> None:
        """The user's show/hide toggle of an overlay."""
        self._overlay_enabled[name] = bool(enabled)
        self._update_overlay_visibility(name)

    def overlay_enabled(self, name: str) -> bool:
        return self._overlay_enabled[name]

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    def _update_overlay_visibility(self, name: str) -> None:
        self._overlays[name].setVisible(self._overlay_enabled[name] and self._overlay_has_data[name])

    # -- zoom / pan -------------------------------------------------------------------
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit_to_window(self) -> None:
        self._fit = True
        self._apply_fit()

    def zoom_by(self, factor: float) -> None:
        lo, hi = self.ZOOM_RANGE
        target = min(hi, max(lo, self.zoom() * factor))
        factor = target / max(self.zoom(), 1e-9)
        if abs(factor - 1.0) < 1e-6:
            return
        self._fit = False
        self.scale(factor, factor)
        self._place_legends()
        self.zoom_changed.emit(self.zoom())

    def zoom_actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self._place_legends()
        self.zoom_changed.emit(self.zoom())

    def _apply_fit(self) -> None:
        rect = self._scene.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._place_legends()
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt API)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(self.ZOOM_STEP ** steps)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.fit_to_window()
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._fit:
            self._apply_fit()
        self._place_legends()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 (Qt API)
        super().scrollContentsBy(dx, dy)
        self._place_legends()
