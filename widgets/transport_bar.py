"""TransportBar: play/pause, step, a scrub slider, and the frame number and time.

It only shows state and emits what the user asked for; the app decides what
happens (``play_toggled()``, ``step_requested(delta)``, ``seek_requested(index)``).
Frame indices start at 0; the label shows them as they are (frame 0 is the first).
A click on the timeline goes to the clicked frame (and the handle follows a drag from
there), as in a video player; Qt's own slider would step by a page towards the click.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider, QToolButton, QWidget


def format_time(seconds: float) -> str:
    """Seconds -> ``m:ss.cc`` (or ``h:mm:ss.cc`` past an hour)."""
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h >= 1:
        return f"{int(h)}:{int(m):02d}:{s:05.2f}"
    return f"{int(m)}:{s:05.2f}"


class TimelineSlider(QSlider):
    """A horizontal slider where a left click jumps to the clicked value (then drags)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)

    def value_at(self, x: float) -> int:
        """The value under widget x (pixels)."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        style = self.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              int(round(x - groove.x() - handle.width() / 2)), span)

    def mousePressEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        if ev.button() == Qt.MouseButton.LeftButton and self.isEnabled():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(ev.position().toPoint()):
                # jump, then let QSlider take the press on the handle that is now under the
                # mouse: a drag from here scrubs
                self.setValue(self.value_at(ev.position().x()))
        super().mousePressEvent(ev)


class TransportBar(QWidget):
    play_toggled = Signal()
    step_requested = Signal(int)
    seek_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        style = self.style()
        self._icon_play = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._icon_pause = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)

        self.back_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward),
                                        "Step back one frame (Left)")
        self.play_button = self._button(self._icon_play, "Play / pause (Space)")
        self.forward_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward),
                                           "Step forward one frame (Right)")
        self.slider = TimelineSlider()
        self.slider.setToolTip("Click or drag to go to a frame")
        # Keys belong to the window's shortcuts (Left/Right/Home/End), not to the slider.
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setTracking(True)
        self.label = QLabel()
        self.label.setMinimumWidth(190)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        for w in (self.back_button, self.play_button, self.forward_button):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)

        self.back_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.forward_button.clicked.connect(lambda: self.step_requested.emit(1))
        self.play_button.clicked.connect(self.play_toggled.emit)
        self.slider.valueChanged.connect(self._on_slider)

        self._count = 0
        self._fps = 0.0
        self._live = False
        self._setting = False
        self.set_media(0, 0.0)

    def _button(self, icon, tip: str) -> QToolButton:
        b = QToolButton()
        b.setIcon(icon)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return b

    # -- state from the app -----------------------------------------------------------
    def set_media(self, frame_count: int, fps: float, live: bool = False) -> None:
        """``frame_count`` frames at ``fps`` (0 = none loaded); ``live`` for a webcam (no scrubbing)."""
        self._count = max(0, int(frame_count))
        self._fps = float(fps or 0.0)
        self._live = live
        seekable = self._count > 1 and not live
        for w in (self.back_button, self.forward_button, self.slider):
            w.setEnabled(seekable)
        self.play_button.setEnabled(live or self._count > 1)
        self._setting = True
        self.slider.setRange(0, max(0, self._count - 1))
        self.slider.setPageStep(max(1, int(round(self._fps)) or 10))
        self.slider.setValue(0)
        self._setting = False
        self.set_position(0)

    def set_position(self, index: int) -> None:
        """Show frame ``index`` as current (does not emit ``seek_requested``)."""
        if self.slider.value() != index and not self._live:
            self._setting = True
            self.slider.setValue(int(index))
            self._setting = False
        self.label.setText(self.position_text(index))

    def position_text(self, index: int) -> str:
        if self._live:
            return "live"
        if self._count == 0:
            return "no media"
        if self._count == 1:
            return "still image"
        t = index / self._fps if self._fps > 0 else 0.0
        total = self._count / self._fps if self._fps > 0 else 0.0
        return f"frame {index} / {self._count - 1}   {format_time(t)} / {format_time(total)}"

    def set_playing(self, playing: bool) -> None:
        self.play_button.setIcon(self._icon_pause if playing else self._icon_play)

    def _on_slider(self, value: int) -> None:
        if not self._setting:
            self.seek_requested.emit(int(value))
