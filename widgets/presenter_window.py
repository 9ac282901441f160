"""PresenterWindow: the live reenactment result shown big, for an audience.

A separate top-level window (it can go to a projector or full screen) with the
result filling it, the driving source as a small inset in the bottom-left corner,
and the frame rate / latency readout in the top-right corner. Pure display: the
reenactment panel forwards its frames and readout here.

Keys: F11 or double-click toggles full screen (on the screen chosen in the panel); S
shows/hides the source inset; I shows/hides the readout; Space or F6 starts/stops the live
preview; R or F7 starts/stops a recording (to a new file, no question asked); 1-9 drive the
gallery's targets; Esc leaves full screen, or closes the window when not full screen.
Closing it does not stop the live preview. While recording, a red "REC 0:12" shows in the
top-left corner.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPalette
from PySide6.QtWidgets import QLabel, QWidget

from widgets.frame_view import FrameView

#: the source inset's width as a fraction of the window's
INSET_FRACTION = 0.24
MARGIN = 12


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
        if source is not None:
            self.source_view.set_frame(source)
        if result is not None:
            self.result_view.set_frame(result)

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
    def _place(self) -> None:
        W, H = self.width(), self.height()
        self.result_view.setGeometry(0, 0, W, H)
        src = self.source_view.frame()
        aspect = (src.shape[0] / src.shape[1]) if src is not None and src.shape[1] else 0.75
        w = max(int(W * INSET_FRACTION), 80)
        h = max(int(w * aspect), 60)
        self.source_view.setGeometry(MARGIN, H - h - MARGIN, w, h)
        self.source_view.raise_()
        self.readout.move(W - self.readout.width() - MARGIN, MARGIN)
        self.readout.raise_()
        self.rec.move(MARGIN, MARGIN)
        self.rec.raise_()

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
