"""Viewport3D: shows the 3D viewport's rendered frames and turns the mouse into intent.

The widget draws nothing in 3D itself: :class:`app.viewport.ViewportController` holds the
camera and the mesh, renders each frame with the project's one renderer on its own
thread and hands the image here (:meth:`set_image`). The window holds no
QOpenGLWidget: with one, Qt composites the whole window through OpenGL on every repaint
(11-17 ms each with software GL), which stalled the event loop.

Signals (user intent):
    orbit_requested(d_yaw_deg, d_pitch_deg)   left drag
    pan_requested(dx, dy)                     right / middle / Shift+left drag, in view
                                              widths and heights (x right, y up)
    zoom_requested(factor)                    wheel (> 1 magnifies)
    reset_requested()                         double click: back to the preset
    resized()                                 the widget's size changed (a new frame is due)
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QToolTip, QWidget

from widgets.legend import Legend, legend_size, paint_legend, place_legend

BACKGROUND = QColor(38, 40, 43)


class Viewport3D(QWidget):
    orbit_requested = Signal(float, float)
    pan_requested = Signal(float, float)
    zoom_requested = Signal(float)
    reset_requested = Signal()
    resized = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(160, 120)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._frame: QImage | None = None
        self._message = ""
        self._message_is_error = False
        self._legend: Legend | None = None
        self._keep_clear: QRectF | None = None
        self._drag: tuple[str, QPointF] | None = None

    def pixel_size(self) -> tuple[int, int, float]:
        """(width, height) in device pixels and the device pixel ratio."""
        ratio = self.devicePixelRatioF()
        return max(1, int(self.width() * ratio)), max(1, int(self.height() * ratio)), ratio

    def set_image(self, image) -> None:
        """Show ``image``: (H, W, 3) uint8 RGB, contiguous."""
        h, w = image.shape[:2]
        self._frame = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._frame.setDevicePixelRatio(self.devicePixelRatioF())
        self.update()

    def set_message(self, text: str, error: bool = False) -> None:
        """A line shown over the view (a hint, or why nothing can be shown)."""
        self._message, self._message_is_error = text, error
        self.update()

    def set_legend(self, legend: Legend | None) -> None:
        """A colour-bar legend (the 3D flow's colours), or None. It goes in a corner clear of
        the mesh (:meth:`set_mesh_rect`), compact when the full one would cover the face."""
        self._legend = legend
        self.update()

    def legend(self) -> Legend | None:
        return self._legend

    def set_mesh_rect(self, rect: QRectF | None) -> None:
        """Where the mesh is on screen (its bounding box, widget pixels), for the legend to
        keep clear; None when unknown."""
        if rect != self._keep_clear:
            self._keep_clear = rect
            self.update()

    def mesh_rect(self) -> QRectF | None:
        return self._keep_clear

    def legend_placement(self) -> tuple[QRectF, bool] | None:
        """(rectangle, compact) of the legend as it is drawn now, or None when none is shown."""
        if self._legend is None or self._frame is None:
            return None
        return place_legend(QRectF(0, 0, self.width(), self.height()), legend_size(self._legend),
                            legend_size(self._legend, compact=True), self._keep_clear)

    def image(self) -> QImage:
        """The frame on screen (a null QImage before the first)."""
        return QImage(self._frame) if self._frame is not None else QImage()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        if self._frame is not None:
            p.drawImage(QRectF(0, 0, self.width(), self.height()), self._frame)
        else:
            p.fillRect(self.rect(), BACKGROUND)
        placed = self.legend_placement()
        if placed is not None:
            paint_legend(p, placed[0].topLeft(), self._legend, compact=placed[1])
        if self._message:
            p.setPen(QColor(230, 230, 230) if self._message_is_error else QColor(150, 150, 155))
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self._message)
        p.end()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.resized.emit()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.resized.emit()

    def legend_tooltip(self, pos: QPointF) -> str:
        """The text a tooltip at ``pos`` (widget pixels) shows: the legend's title and note
        when the pointer is on the legend (the compact layout has no room for the note)."""
        placed = self.legend_placement()
        if placed is None or not placed[0].contains(pos):
            return ""
        return "\n".join(t for t in (self._legend.title, self._legend.note) if t)

    def event(self, event) -> bool:  # noqa: D401 (Qt API)
        if event.type() == QEvent.Type.ToolTip:
            text = self.legend_tooltip(QPointF(event.pos()))
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    # -- mouse --------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        b = event.button()
        pan = b in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton) or (
            b == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._drag = ("pan" if pan else "orbit", event.position())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._drag is None:
            return
        kind, last = self._drag
        p = event.position()
        dx, dy = p.x() - last.x(), p.y() - last.y()
        self._drag = (kind, p)
        if kind == "orbit":
            self.orbit_requested.emit(-dx * 0.5, dy * 0.5)  # half a degree per pixel
        else:
            self.pan_requested.emit(2.0 * dx / max(1, self.width()), -2.0 * dy / max(1, self.height()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._drag = None

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.zoom_requested.emit(1.15 ** (event.angleDelta().y() / 120.0))
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.reset_requested.emit()
