"""Colour-bar legends (a title, a colour ramp with tick labels in units, a note) drawn by the
video view and the 3D viewport over what they show. Plain drawing, no data of its own."""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QLinearGradient, QPainter

RAMP_WIDTH, RAMP_HEIGHT = 190.0, 12.0


@dataclass
class Legend:
    """title: what and in which unit ("fit error (px)"); stops: [(0..1, (r, g, b))] along the
    ramp; ticks: [(0..1, label)]; note: one line on how to read it ("" for none)."""

    title: str
    stops: list = field(default_factory=list)
    ticks: list = field(default_factory=list)
    note: str = ""

    def __post_init__(self):
        # plain numbers: legends are compared (==) to skip repaints, and numpy arrays in the
        # stops made that comparison raise
        self.stops = [(float(t), tuple(float(c) for c in rgb)) for t, rgb in self.stops]
        self.ticks = [(float(t), str(label)) for t, label in self.ticks]


def legend_font() -> QFont:
    f = QFont()
    f.setPointSizeF(8.5)
    return f


def legend_size(legend: Legend, font: QFont | None = None) -> tuple[float, float]:
    """(width, height) in pixels of a drawn legend."""
    m = QFontMetricsF(font or legend_font())
    lines = 2 + (1 if legend.note else 0)
    width = max(RAMP_WIDTH, m.horizontalAdvance(legend.title), m.horizontalAdvance(legend.note)) + 20
    return width, lines * m.height() + RAMP_HEIGHT + 12


def paint_legend(painter: QPainter, top_left: QPointF, legend: Legend, font: QFont | None = None) -> QRectF:
    """Draw ``legend`` with its top-left corner at ``top_left``; returns the rectangle drawn."""
    font = font or legend_font()
    m = QFontMetricsF(font)
    w, h = legend_size(legend, font)
    rect = QRectF(top_left, QPointF(top_left.x() + w, top_left.y() + h))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 175))
    painter.drawRoundedRect(rect, 4, 4)
    painter.setFont(font)
    painter.setPen(QColor(235, 235, 235))
    x0, y = rect.x() + 10, rect.y() + 4
    painter.drawText(QPointF(x0, y + m.ascent()), legend.title)
    y += m.height() + 2
    ramp = QRectF(x0, y, RAMP_WIDTH, RAMP_HEIGHT)
    g = QLinearGradient(ramp.topLeft(), ramp.topRight())
    for pos, rgb in legend.stops:
        g.setColorAt(float(pos), QColor(*[int(c) for c in rgb]))
    painter.setBrush(QBrush(g))
    painter.drawRect(ramp)
    y += RAMP_HEIGHT + 2
    for pos, label in legend.ticks:
        tw = m.horizontalAdvance(label)
        x = min(max(x0 + pos * RAMP_WIDTH - tw / 2, x0 - 4), x0 + RAMP_WIDTH - tw + 4)
        painter.drawText(QPointF(x, y + m.ascent()), label)
    if legend.note:
        painter.setPen(QColor(195, 195, 195))
        painter.drawText(QPointF(x0, y + m.height() + m.ascent()), legend.note)
    painter.restore()
    return rect
