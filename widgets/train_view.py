"""TrainView: a neural renderer's training as it runs: the generator's and the discriminators'
losses per iteration (pyqtgraph), the speed and time left, and the newest validation sheet.

Display only: the controller (:mod:`app.reenact_controller`) gives it the figures and the
sheet (an (H, W, 3) uint8 RGB array); it reads no file and runs nothing.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class TrainView(QWidget):
    """Loss curve, speed line and the newest validation sheet of a training."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(-10, 10))
        self.curve = self.plot.plot([], [], pen=pg.mkPen((80, 160, 255), width=1.5), name="generator (G)")
        #: the three discriminators' losses summed (image, mouth, dynamics: Eqs 7.7-7.9)
        self.curve_d = self.plot.plot([], [], pen=pg.mkPen((255, 150, 60), width=1.5), name="discriminators (D)")
        self.info = QLabel("")
        self.sheet = QLabel("no validation sheet yet")
        self.sheet.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sheet.setMinimumHeight(120)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.info)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.sheet, 1)
        self._x: list[int] = []
        self._y: list[float] = []
        self._d: list[float] = []
        self._sheet_rgb: np.ndarray | None = None

    def clear(self) -> None:
        self._x, self._y, self._d = [], [], []
        self.curve.setData([], [])
        self.curve_d.setData([], [])
        self.info.setText("")

    def add_point(self, iteration: int, loss_g: float, its_per_s: float, eta_s: float,
                  loss_d: float | None = None) -> None:
        """One training step's figures (a step already shown is replaced, e.g. after a resume);
        ``loss_d`` None (no discriminators) leaves a gap in their curve."""
        while self._x and self._x[-1] >= iteration:
            self._x.pop()
            self._y.pop()
            self._d.pop()
        self._x.append(int(iteration))
        self._y.append(float(loss_g))
        self._d.append(float("nan") if loss_d is None else float(loss_d))
        self.curve.setData(self._x, self._y)
        self.curve_d.setData(self._x, self._d, connect="finite")
        m, s = divmod(int(round(eta_s)), 60)
        d = f"   D {loss_d:.3f}" if loss_d is not None else ""
        self.info.setText(f"iteration {iteration}   {its_per_s:.2f} it/s   G {loss_g:.3f}{d}   {m}:{s:02d} left")

    def points(self) -> tuple[list[int], list[float]]:
        """(iterations, generator losses) shown."""
        return list(self._x), list(self._y)

    def discriminator_points(self) -> list[float]:
        """The discriminators' summed losses shown, one per iteration (NaN: none reported)."""
        return list(self._d)

    def set_sheet(self, rgb: np.ndarray | None) -> None:
        """Show the newest validation sheet (H, W, 3) uint8 RGB, scaled to the view's width."""
        self._sheet_rgb = rgb
        if rgb is None:
            self.sheet.setPixmap(QPixmap())
            self.sheet.setText("no validation sheet yet")
            return
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        width = max(200, self.sheet.width())
        self.sheet.setPixmap(QPixmap.fromImage(img).scaledToWidth(width, Qt.TransformationMode.SmoothTransformation))

    def has_sheet(self) -> bool:
        return self._sheet_rgb is not None
