"""Colour-bar legends (a title, a colour ramp with tick labels in units, a note) drawn by the
video view and the 3D viewport over what they show. Plain drawing, no data of its own.

A legend has two layouts: the full one (a horizontal ramp, the note under it) and a compact
one (a short vertical ramp, the ticks beside it, the title over two lines, the note left to the
view's tooltip) that fits
the strip beside a face in a small view. :func:`place_legend` picks the layout and corner
that keep a rectangle (the face on screen) clear.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QLinearGradient, QPainter

RAMP_WIDTH, RAMP_HEIGHT = 190.0, 12.0
#: the compact layout's vertical ramp (width x height)
COMPACT_RAMP = (12.0, 64.0)
PAD = 10.0


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


def title_lines(title: str) -> list[str]:
    """The compact layout's title: the unit in brackets goes on a line of its own
    ("3D flow speed", "(mm per frame)"), so the legend is as narrow as its longest half."""
    head, sep, unit = title.rpartition(" (")
    return [head, "(" + unit] if sep and head else [title]


def legend_size(legend: Legend, font: QFont | None = None, compact: bool = False) -> tuple[float, float]:
    """(width, height) in pixels of a drawn legend."""
    m = QFontMetricsF(font or legend_font())
    if compact:
        lines = title_lines(legend.title)
        ticks = max((m.horizontalAdvance(label) for _t, label in legend.ticks), default=0.0)
        width = max(max(m.horizontalAdvance(s) for s in lines), COMPACT_RAMP[0] + 6 + ticks) + 2 * PAD
        # half a line above and below the ramp: its end ticks are centred on its ends
        return width, len(lines) * m.height() + 6 + COMPACT_RAMP[1] + m.height() + 4
    lines = 2 + (1 if legend.note else 0)
    width = max(RAMP_WIDTH, m.horizontalAdvance(legend.title), m.horizontalAdvance(legend.note)) + 2 * PAD
    return width, lines * m.height() + RAMP_HEIGHT + 12


def paint_legend(painter: QPainter, top_left: QPointF, legend: Legend, font: QFont | None = None,
                 compact: bool = False) -> QRectF:
    """Draw ``legend`` with its top-left corner at ``top_left``; returns the rectangle drawn."""
    font = font or legend_font()
    m = QFontMetricsF(font)
    w, h = legend_size(legend, font, compact)
    rect = QRectF(top_left, QPointF(top_left.x() + w, top_left.y() + h))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 175))
    painter.drawRoundedRect(rect, 4, 4)
    painter.setFont(font)
    painter.setPen(QColor(235, 235, 235))
    x0, y = rect.x() + PAD, rect.y() + 4
    if compact:
        _paint_compact(painter, m, legend, x0, y)
        painter.restore()
        return rect
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


def _paint_compact(painter: QPainter, m: QFontMetricsF, legend: Legend, x0: float, y: float) -> None:
    """The compact layout: title lines, then a vertical ramp (high values at the top, as on a
    chart's axis) with each tick's label level with its place on the ramp."""
    for line in title_lines(legend.title):
        painter.drawText(QPointF(x0, y + m.ascent()), line)
        y += m.height()
    y += 6 + m.height() / 2
    rw, rh = COMPACT_RAMP
    ramp = QRectF(x0, y, rw, rh)
    g = QLinearGradient(ramp.bottomLeft(), ramp.topLeft())
    for pos, rgb in legend.stops:
        g.setColorAt(float(pos), QColor(*[int(c) for c in rgb]))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(g))
    painter.drawRect(ramp)
    painter.setPen(QColor(235, 235, 235))
    for pos, label in legend.ticks:
        cy = y + (1.0 - pos) * rh
        painter.drawLine(QPointF(x0 + rw, cy), QPointF(x0 + rw + 3, cy))
        painter.drawText(QPointF(x0 + rw + 6, cy - m.height() / 2 + m.ascent()), label)


def _overlap(a: QRectF, b: QRectF | None) -> float:
    if b is None:
        return 0.0
    r = a.intersected(b)
    return max(r.width(), 0.0) * max(r.height(), 0.0)


def place_legend(view: QRectF, full: tuple[float, float], compact: tuple[float, float],
                 keep_clear: QRectF | None, margin: float = 6.0) -> tuple[QRectF, bool]:
    """(rectangle, compact) for a legend in ``view`` that keeps ``keep_clear`` (what the
    legend must not cover, e.g. the mesh's bounding box on screen; None: nothing) visible.

    Tries the full layout in each corner (top right first, where it always was), then the
    compact one; when nothing keeps it clear (a view smaller than the face), the compact
    layout in the corner that covers least of it.
    """
    def corners(w: float, h: float) -> list[QRectF]:
        left, right = view.left() + margin, view.right() - w - margin
        top, bottom = view.top() + margin, view.bottom() - h - margin
        return [QRectF(x, y, w, h) for x, y in ((right, top), (left, top), (right, bottom), (left, bottom))]

    fits = lambda r: view.contains(r) and _overlap(r, keep_clear) == 0.0  # noqa: E731
    for size, is_compact in ((full, False), (compact, True)):
        for r in corners(*size):
            if fits(r):
                return r, is_compact
    best = min(corners(*compact), key=lambda r: _overlap(r, keep_clear))
    return best, True
