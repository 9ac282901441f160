"""FrameView: one numpy RGB frame shown scaled to fit its widget (live previews)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from widgets.video_view import qimage_to_rgb, rgb_to_qimage


class FrameView(QWidget):
    """One (H, W, 3) uint8 RGB frame drawn as a pixmap scaled to fit, aspect kept, centred.

    ``double_clicked`` is emitted on a double click (the reenact panel opens the presenter
    view with it).
    """

    double_clicked = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None,
                 background: QColor | None = None):
        super().__init__(parent)
        self._placeholder = placeholder
        self._background = QColor(30, 30, 32) if background is None else QColor(background)
        self._frame: np.ndarray | None = None
        self._pixmap = QPixmap()
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_frame(self, frame: np.ndarray | None) -> None:
        self._frame = frame
        self._pixmap = QPixmap() if frame is None else QPixmap.fromImage(rgb_to_qimage(frame))
        self.update()

    def frame(self) -> np.ndarray | None:
        """The array last given to :meth:`set_frame` (not a copy)."""
        return self._frame

    def displayed_image(self) -> np.ndarray | None:
        """The pixels of the pixmap shown (before scaling to the widget), (H, W, 3) uint8 RGB."""
        return None if self._pixmap.isNull() else qimage_to_rgb(self._pixmap.toImage())

    def image_rect(self) -> QRectF:
        """Where the frame is drawn in widget coordinates (empty without a frame)."""
        if self._pixmap.isNull():
            return QRectF()
        pw, ph = self._pixmap.width(), self._pixmap.height()
        k = min(self.width() / pw, self.height() / ph)
        w, h = pw * k, ph * k
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(320, 320)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.fillRect(self.rect(), self._background)
        if self._pixmap.isNull():
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawPixmap(self.image_rect(), self._pixmap, QRectF(self._pixmap.rect()))
        p.end()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.double_clicked.emit()
        event.accept()
