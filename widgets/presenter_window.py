"""PresenterWindow: the live reenactment result shown big, for an audience.

A separate top-level window (it can go to a projector or full screen) with the
result as big as it fits, the driving source as a small inset at the bottom left,
and the frame rate / latency readout in the top-right corner. Pure display: the
reenactment panel forwards its frames and readout here.

The inset never covers the result (:func:`presenter_layout`): it goes in the black band
left of the centred result when the band is wide enough (a square or 4:3 result on a 16:9
screen), the result moving right when only both bands together are; when the result
fills the width, it gives up a column on the left for the inset. S hides the inset, and
the result then fills the window.

Keys: F11 or double-click toggles full screen (on the screen chosen in the panel); S
shows/hides the source inset; I shows/hides the readout; Space or F6 starts/stops the live
preview; R or F7 starts/stops a recording (to a new file, no question asked); 1-9 drive the
gallery's targets; Esc leaves full screen, or closes the window when not full screen.
Closing it does not stop the live preview. While recording, a red "REC 0:12" shows in the
top-left corner.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from widgets.frame_view import FrameView

#: the source inset's width as a fraction of the window's (at most)
INSET_FRACTION = 0.24
#: and at least (a fraction of the window's, and pixels): smaller, the source is not legible
INSET_MIN_FRACTION, INSET_MIN_PX = 0.14, 96
MARGIN = 12


def presenter_layout(width: int, height: int, result_size: tuple[int, int] | None, source_aspect: float,
                     inset: bool = True) -> tuple[QRect, QRect]:
    """(result rectangle, inset rectangle) in a ``width`` x ``height`` window, the result
    rectangle being where its picture is drawn (aspect kept) and never meeting the inset.

    result_size : the result frame's (w, h), None before the first (then it fills the window)
    source_aspect : the source's height / width (the inset's shape)
    inset : whether the inset is shown (hidden: the result fills the window)
    """
    W, H = max(1, width), max(1, height)
    if result_size is None or min(result_size) <= 0:
        rw, rh = W, H
    else:
        k = min(W / result_size[0], H / result_size[1])
        rw, rh = max(1, round(result_size[0] * k)), max(1, round(result_size[1] * k))
    iw_max = max(int(W * INSET_FRACTION), INSET_MIN_PX)
    iw_min = min(max(int(W * INSET_MIN_FRACTION), INSET_MIN_PX), iw_max)
    free = W - rw  # the width the result leaves (both bands together)
    if not inset or result_size is None:
        iw = iw_max
        x = (W - rw) // 2
    elif free // 2 >= iw_min + 2 * MARGIN:
        # in the left band, the full-size result centred (the inset smaller rather than the
        # result off centre)
        iw = min(iw_max, free // 2 - 2 * MARGIN)
        x = (W - rw) // 2
    elif free >= iw_min + 2 * MARGIN:
        # only both bands together hold it: the full-size result moves right, no further than needed
        iw = iw_min
        x = iw + 2 * MARGIN
    else:
        # the result fills the width: it gives up a column for the inset
        iw = iw_min
        col = iw + 2 * MARGIN
        k = min((W - col) / result_size[0], H / result_size[1])
        rw, rh = max(1, round(result_size[0] * k)), max(1, round(result_size[1] * k))
        x = col + (W - col - rw) // 2
    ih = max(int(iw * source_aspect), 60)
    if ih > H - 2 * MARGIN:  # a tall source in a short window: the inset keeps its shape
        ih = max(H - 2 * MARGIN, 1)
        iw = max(int(ih / max(source_aspect, 1e-6)), 1)
    return QRect(x, (H - rh) // 2, rw, rh), QRect(MARGIN, H - ih - MARGIN, iw, ih)


class PresenterWindow(QWidget):
    closed = Signal()
    start_stop_requested = Signal()
    record_requested = Signal()
    target_number_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        # a top-level window even with a parent (so it closes with the app)
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("FaceStudio: presenter view (F11 full screen, Space start/stop, R record, "
                            "1-9 targets, S source, I figures, Esc)")
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(0, 0, 0))
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        self.result_view = FrameView("Waiting for the live preview...", background=QColor(0, 0, 0))
        self.result_view.setParent(self)
        self.source_view = FrameView("", background=QColor(0, 0, 0))
        self.source_view.setParent(self)
        self.readout = QLabel("", self)
        self.readout.setStyleSheet("QLabel { color: white; background: rgba(0, 0, 0, 140); "
                                   "padding: 4px 8px; border-radius: 4px; }")
        self.readout.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.rec = QLabel("", self)
        self.rec.setStyleSheet("QLabel { color: white; background: rgba(192, 57, 43, 220); font-weight: bold; "
                               "font-size: 16px; padding: 4px 10px; border-radius: 4px; }")
        self.rec.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.rec.hide()
        self._screen = None  # the screen for full screen (None: where the window is)
        self.source_view.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.result_view.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.resize(960, 720)

    # -- what the panel forwards -----------------------------------------------------------
    def set_frames(self, source: np.ndarray | None = None, result: np.ndarray | None = None) -> None:
        """Show new frames; None leaves that view as it is."""
        shapes = self._shapes()
        if source is not None:
            self.source_view.set_frame(source)
        if result is not None:
            self.result_view.set_frame(result)
        if self._shapes() != shapes:  # the layout depends on the pictures' shapes only
            self._place()

    def _shapes(self) -> tuple:
        return tuple(None if f is None else f.shape[:2] for f in (self.source_view.frame(), self.result_view.frame()))

    def set_readout(self, text: str) -> None:
        self.readout.setText(text)
        self.readout.adjustSize()
        self._place()

    @property
    def source_inset_visible(self) -> bool:
        return not self.source_view.isHidden()

    @property
    def readout_visible(self) -> bool:
        return not self.readout.isHidden()

    def set_recording(self, text: str | None) -> None:
        """The REC indicator's text ("REC 0:12"), or None to hide it."""
        self.rec.setVisible(text is not None)
        if text is not None:
            self.rec.setText(text)
            self.rec.adjustSize()
        self._place()

    def set_full_screen_screen(self, screen) -> None:
        """The QScreen F11 goes full screen on (None: the one the window is on)."""
        self._screen = screen

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            return
        screen = self._screen
        if screen is not None and self.screen() is not screen:
            # onto the chosen screen first: full screen fills the screen the window is on
            handle = self.windowHandle()
            if handle is not None:
                handle.setScreen(screen)
            self.setGeometry(screen.geometry())
        self.showFullScreen()

    # -- layout and keys -----------------------------------------------------------------------
    def result_rect(self) -> QRect:
        """Where the result's picture is drawn, in window coordinates (empty before a frame)."""
        return self.result_view.image_rect().translated(self.result_view.pos()).toAlignedRect()

    def _place(self) -> None:
        src, res = self.source_view.frame(), self.result_view.frame()
        aspect = (src.shape[0] / src.shape[1]) if src is not None and src.shape[1] else 0.75
        result_size = (res.shape[1], res.shape[0]) if res is not None else None
        W, H = self.width(), self.height()
        result, inset = presenter_layout(W, H, result_size, aspect, self.source_inset_visible)
        # the readout (top right) and REC (top left) go beside or above the result's picture;
        # where neither band holds them, the result gives up a strip at the top
        labels = [(w, w.isVisibleTo(self) and bool(w.text())) for w in (self.readout, self.rec)]
        # (presenter_layout's result rectangle is where the picture is drawn, inset or not)
        picture = result if result_size is not None and min(result_size) > 0 else None
        clash = [w for w, shown in labels if shown and picture is not None
                 and QRect(self._label_pos(w), w.size()).adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)
                 .intersects(picture)]
        if clash:
            strip = max(w.height() for w in clash) + 2 * MARGIN
            result, inset = presenter_layout(W, max(H - strip, 1), result_size, aspect, self.source_inset_visible)
            result, inset = result.translated(0, strip), inset.translated(0, strip)
            if not self.source_inset_visible:
                result = QRect(0, strip, W, max(H - strip, 1))
        elif not self.source_inset_visible or result_size is None:
            result = self.rect()  # (the view centres the picture itself)
        self.result_view.setGeometry(result)
        self.source_view.setGeometry(inset)
        self.source_view.raise_()
        for w in (self.readout, self.rec):
            w.move(self._label_pos(w))
            w.raise_()

    def _label_pos(self, label: QLabel) -> QPoint:
        """Top-left corner of the readout (window's top right) or the REC label (top left)."""
        if label is self.readout:
            return QPoint(self.width() - label.width() - MARGIN, MARGIN)
        return QPoint(MARGIN, MARGIN)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._place()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._place()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.toggle_full_screen()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        if key == Qt.Key.Key_F11:
            self.toggle_full_screen()
        elif key == Qt.Key.Key_S:
            self.source_view.setVisible(self.source_view.isHidden())
        elif key == Qt.Key.Key_I:
            self.readout.setVisible(self.readout.isHidden())
        elif key in (Qt.Key.Key_Space, Qt.Key.Key_F6):
            self.start_stop_requested.emit()
        elif key in (Qt.Key.Key_R, Qt.Key.Key_F7):
            self.record_requested.emit()
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.target_number_requested.emit(int(key - Qt.Key.Key_1) + 1)
        elif key == Qt.Key.Key_Escape:
            if self.isFullScreen():
                self.showNormal()
            else:
                self.close()
        else:
            super().keyPressEvent(event)
            return
        self._place()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().closeEvent(event)
        self.closed.emit()
