"""Curve editor and fit-error plot (pyqtgraph), both with a time cursor synced to the transport.

CurveEditor shows, for the selected component over the whole clip: the fitted
value (grey), the user's offset (blue, dashed, keyframes as draggable diamonds)
and the edited result (orange), plus the optional edit range (a draggable band)
with its ease-in / ease-out lengths. It only emits intent:

    seek_requested(frame)                       the cursor was dragged / the plot clicked
    key_moved(name, frame, new_frame, offset)   a key was dragged (on release)
    set_key_requested(), delete_key_requested() buttons (same as K / Shift+K)
    interpolation_changed(name, mode)           "linear" | "smooth"
    range_changed(object)                       dict(first, last, ease_in, ease_out) or None

FitErrorPlot shows the per-frame reprojection error (pixels) of a reconstruction.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

FITTED_PEN = pg.mkPen((170, 170, 170), width=1.5)
OFFSET_PEN = pg.mkPen((90, 160, 255), width=1.5, style=Qt.PenStyle.DashLine)
EDITED_PEN = pg.mkPen((255, 160, 50), width=2.2)
CURSOR_PEN = pg.mkPen((255, 80, 80), width=1.5)


def _plain_axes(plot: pg.PlotWidget) -> None:
    """Frames and values as plain numbers: no SI-prefix scaling, which labelled an empty
    or short plot's frame axis "frame (x0.001)"."""
    for name in ("bottom", "left"):
        plot.getAxis(name).enableAutoSIPrefix(False)


class KeyframeItem(pg.ScatterPlotItem):
    """Keyframes as diamonds; left-drag moves one (frame snaps to integers)."""

    def __init__(self, editor: "CurveEditor"):
        super().__init__(size=12, symbol="d", brush=pg.mkBrush(90, 160, 255), pen=pg.mkPen("w", width=1))
        self.editor = editor
        self._drag_index: int | None = None
        self._frames = np.zeros(0)
        self._values = np.zeros(0)

    def set_keys(self, frames: np.ndarray, values: np.ndarray) -> None:
        self._frames = np.asarray(frames, float)
        self._values = np.asarray(values, float)
        self.setData(self._frames, self._values)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            pts = self.pointsAt(ev.buttonDownPos())
            if len(pts) == 0:
                ev.ignore()
                return
            self._drag_index = int(pts[0].index())
        if self._drag_index is None:
            ev.ignore()
            return
        ev.accept()
        pos = ev.pos()
        i = self._drag_index
        frames, values = self._frames.copy(), self._values.copy()
        frames[i] = max(0, min(self.editor.num_frames - 1, round(pos.x())))
        values[i] = float(np.clip(pos.y(), -1.0, 1.0))
        self.setData(frames, values)
        if ev.isFinish():
            old = int(self._frames[i])
            self._drag_index = None
            self.editor.key_moved.emit(self.editor.name or "", old, int(frames[i]), float(values[i]))


class CurveEditor(QWidget):
    seek_requested = Signal(int)
    key_moved = Signal(str, int, int, float)
    set_key_requested = Signal()
    delete_key_requested = Signal()
    interpolation_changed = Signal(str, str)
    range_changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.name: str | None = None
        self.num_frames = 0
        self.title = QLabel("No component selected")
        self.title.setStyleSheet("font-weight: bold;")
        self.interp = QComboBox()
        self.interp.addItems(["smooth", "linear"])
        self.interp.setToolTip("Interpolation between this component's keyframes")
        self.key_button = QPushButton("Set key (K)")
        self.del_button = QPushButton("Delete key (Shift+K)")
        self.range_check = QCheckBox("Edit range")
        self.range_check.setToolTip("Limit all edits to a frame range (drag the band) with ease-in/out")
        self.ease_in = QSpinBox()
        self.ease_out = QSpinBox()
        for sb, tip in ((self.ease_in, "Ease-in length (frames)"), (self.ease_out, "Ease-out length (frames)")):
            sb.setRange(0, 100000)
            sb.setToolTip(tip)
        bar = QHBoxLayout()
        for w in (self.title,):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (QLabel("Interp."), self.interp, self.key_button, self.del_button, self.range_check,
                  QLabel("ease in"), self.ease_in, QLabel("out"), self.ease_out):
            bar.addWidget(w)

        self.plot = pg.PlotWidget(background=(32, 32, 36))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot)
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "value")
        self.plot.addLegend(offset=(8, 8))
        self.fitted_curve = self.plot.plot(pen=FITTED_PEN, name="fitted")
        self.offset_curve = self.plot.plot(pen=OFFSET_PEN, name="offset (edit)")
        self.edited_curve = self.plot.plot(pen=EDITED_PEN, name="result")
        self.keys = KeyframeItem(self)
        self.plot.addItem(self.keys)
        self.region = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(255, 255, 255, 18), movable=True)
        self.region.setZValue(-10)
        self.region.hide()
        self.plot.addItem(self.region)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=CURSOR_PEN)
        self.plot.addItem(self.cursor)
        self.plot.setYRange(-1.05, 1.05)
        self.plot.setXRange(0, 100, padding=0.02)  # until a clip is set
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)

        self._setting = False
        self.cursor.sigPositionChanged.connect(self._on_cursor)
        self.key_button.clicked.connect(self.set_key_requested.emit)
        self.del_button.clicked.connect(self.delete_key_requested.emit)
        self.interp.currentTextChanged.connect(
            lambda t: None if self._setting or not self.name else self.interpolation_changed.emit(self.name, t))
        self.range_check.toggled.connect(self._emit_range)
        self.region.sigRegionChangeFinished.connect(self._emit_range)
        self.ease_in.valueChanged.connect(self._emit_range)
        self.ease_out.valueChanged.connect(self._emit_range)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.setEnabled(False)

    # -- data from the app --------------------------------------------------------------
    def set_clip(self, num_frames: int) -> None:
        self.num_frames = int(num_frames)
        self.setEnabled(self.num_frames > 0)
        self.plot.setXRange(0, max(1, self.num_frames - 1) if self.num_frames else 100, padding=0.02)
        self.cursor.setBounds((0, max(0, self.num_frames - 1)))

    def show_component(self, name: str | None, fitted: np.ndarray | None = None, offset: np.ndarray | None = None,
                       edited: np.ndarray | None = None, key_frames: np.ndarray | None = None,
                       key_values: np.ndarray | None = None, interpolation: str = "smooth") -> None:
        """Curves (F,) of ``name`` and its keys; None clears."""
        self.name = name
        if name is None or fitted is None:
            self.title.setText("No component selected")
            for c in (self.fitted_curve, self.offset_curve, self.edited_curve):
                c.setData([], [])
            self.keys.set_keys(np.zeros(0), np.zeros(0))
            return
        x = np.arange(len(fitted))
        self.title.setText(name)
        self.fitted_curve.setData(x, fitted)
        self.offset_curve.setData(x, offset)
        self.edited_curve.setData(x, edited)
        self.keys.set_keys(key_frames if key_frames is not None else np.zeros(0),
                           key_values if key_values is not None else np.zeros(0))
        self._setting = True
        self.interp.setCurrentText(interpolation)
        self._setting = False

    def set_range(self, rng: dict | None) -> None:
        self._setting = True
        self.range_check.setChecked(rng is not None)
        self.region.setVisible(rng is not None)
        if rng is not None:
            self.region.setRegion((rng["first"], rng["last"]))
            self.ease_in.setValue(int(round(rng["ease_in"])))
            self.ease_out.setValue(int(round(rng["ease_out"])))
        self._setting = False

    def set_position(self, frame: int) -> None:
        self._setting = True
        self.cursor.setValue(frame)
        self._setting = False

    # -- user -----------------------------------------------------------------------------
    def _on_cursor(self) -> None:
        if not self._setting:
            self.seek_requested.emit(int(round(self.cursor.value())))

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.isAccepted() or self.num_frames == 0:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = vb.mapSceneToView(ev.scenePos()).x()
        self.seek_requested.emit(int(max(0, min(self.num_frames - 1, round(x)))))

    def _emit_range(self, *_args) -> None:
        if self._setting:
            return
        on = self.range_check.isChecked()
        if on and not self.region.isVisible():
            # first time: the middle half of the clip
            self._setting = True
            n = max(1, self.num_frames - 1)
            self.region.setRegion((n * 0.25, n * 0.75))
            self._setting = False
        self.region.setVisible(on)
        if not on:
            self.range_changed.emit(None)
            return
        a, b = self.region.getRegion()
        self.range_changed.emit(dict(first=int(round(a)), last=int(round(b)), ease_in=float(self.ease_in.value()),
                                     ease_out=float(self.ease_out.value())))


class FitErrorPlot(QWidget):
    """Per-frame fit error (pixels) with a time cursor; clicking seeks."""

    seek_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=(32, 32, 36))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot)
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "fit error (px)")
        self.plot.setXRange(0, 100, padding=0.02)  # until errors are set
        self.plot.setYRange(0, 5)
        self.curve = self.plot.plot(pen=pg.mkPen((120, 220, 120), width=1.5), fillLevel=0,
                                    brush=pg.mkBrush(120, 220, 120, 40))
        self.invalid = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(255, 90, 90), pen=None)
        self.plot.addItem(self.invalid)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=CURSOR_PEN)
        self.plot.addItem(self.cursor)
        self.summary = QLabel("No reconstruction")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.summary)
        lay.addWidget(self.plot, 1)
        self._setting = False
        self.cursor.sigPositionChanged.connect(
            lambda: None if self._setting else self.seek_requested.emit(int(round(self.cursor.value()))))

    def set_errors(self, errors: np.ndarray | None, valid: np.ndarray | None = None) -> None:
        if errors is None:
            self.curve.setData([], [])
            self.invalid.setData([], [])
            self.summary.setText("No reconstruction")
            return
        e = np.asarray(errors, float)
        x = np.arange(e.size)
        ok = np.isfinite(e)
        self.curve.setData(x, np.where(ok, e, 0.0))
        self.plot.setXRange(0, max(1, e.size - 1), padding=0.02)
        self.plot.enableAutoRange(axis="y")
        bad = ~ok if valid is None else (~ok | ~np.asarray(valid, bool))
        self.invalid.setData(x[bad], np.zeros(int(bad.sum())))
        if ok.any():
            self.summary.setText(f"Fit error: median {np.median(e[ok]):.2f} px, 95th pct "
                                 f"{np.percentile(e[ok], 95):.2f} px, max {e[ok].max():.2f} px; "
                                 f"{int(bad.sum())} frames without a fitted face (red)")
        self.cursor.setBounds((0, max(0, e.size - 1)))

    def set_position(self, frame: int) -> None:
        self._setting = True
        self.cursor.setValue(frame)
        self._setting = False
