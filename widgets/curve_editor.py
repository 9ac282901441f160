"""Curve editor (a graph editor for the expression edits) and the fit-error plot (pyqtgraph).

CurveEditor shows the edits of one or more expression components over the clip, each in its
own colour (the channel list on the left is the legend; it never covers the data):

- per shown component its offset curve (the keyed curve, solid) with its keys as diamonds;
- for the active component (the slider being edited) also the fitted value (grey) and the
  edited result (dashed);
- a pending (unkeyed) value as a hollow orange diamond: with auto-key off a slider move
  only shows until K keys it;
- the playhead, and the optional edit range (a band) with its ease-in / ease-out.

Mouse (as in Blender's graph editor): click a key to select it (Shift adds), drag a key to
move it with every selected key (a key under the playhead is grabbed before the playhead),
left-drag on empty space draws a box that selects keys (Shift adds), a click on empty space
deselects and moves the playhead there, middle-drag pans, right-drag or the wheel zooms.
Keys with the plot focused: Home frames everything, F (or .) frames the selection,
Delete / X deletes the selected keys, Ctrl+A selects all. The side panel types a selected
key's frame and value and sets the type of the selected keys (core.edits.KEY_TYPES).

It only shows what it is given and emits intent:

    seek_requested(frame)
    keys_moved(list[(name, frame, new_frame, new_value)])  one drag or typed value
    keys_deleted(list[(name, frame)])
    key_type_requested(list[(name, frame)], key_type)
    set_key_requested(), delete_key_requested()            K / Shift+K buttons
    auto_key_toggled(bool)
    component_selected(name)                                a channel was clicked
    pin_toggled(name)                                       keep it shown / stop
    show_edited_toggled(bool)                               show every edited component
    range_changed(dict(first, last, ease_in, ease_out) or None)

FitErrorPlot shows the per-frame reprojection error (pixels) of a reconstruction; a click
jumps to the highest error near the click (a peak), the cursor follows the transport.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QListWidget, QListWidgetItem, QScrollArea, QSpinBox, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

#: key types in the order the side panel offers them, with their labels (core.edits.KEY_TYPES)
KEY_TYPE_LABELS = {"smooth": "Smooth (auto)", "linear": "Linear", "constant": "Constant (step)",
                   "flat": "Flat (ease in/out)"}
#: channel colours, given out in this order (colour-blind friendly first)
PALETTE = ((255, 160, 50), (90, 160, 255), (120, 220, 120), (230, 90, 200), (255, 225, 90),
           (90, 220, 220), (200, 140, 255), (255, 110, 110), (170, 200, 90), (240, 240, 240))
FITTED_PEN = pg.mkPen((150, 150, 150), width=1.2)
CURSOR_PEN = pg.mkPen((255, 80, 80), width=1.5)
PENDING_COLOUR = (255, 140, 0)
SELECTED_BRUSH = pg.mkBrush(255, 255, 255)
#: offsets are drawn and typed within this range
VALUE_LIMIT = 1.0
#: zoom limits of "frame all" / "frame selected": at least this many frames and this value span
MIN_FRAMES_SHOWN = 10
MIN_VALUE_SPAN = 0.2


def _plain_axes(plot: pg.PlotWidget) -> None:
    """Frames and values as plain numbers: no SI-prefix scaling, which labelled an empty
    or short plot's frame axis "frame (x0.001)"."""
    for name in ("bottom", "left"):
        plot.getAxis(name).enableAutoSIPrefix(False)


#: plot backgrounds and axis colours: (background, axis) per theme
PLOT_THEMES = {True: ((32, 32, 36), (170, 170, 175)), False: ((250, 250, 250), (60, 60, 64))}


def set_plot_theme(plot: pg.PlotWidget, dark: bool) -> None:
    """A plot's background and axes for a dark or light window."""
    bg, axis = PLOT_THEMES[bool(dark)]
    plot.setBackground(bg)
    for name in ("bottom", "left"):
        ax = plot.getAxis(name)
        ax.setPen(pg.mkPen(axis))
        ax.setTextPen(pg.mkPen(axis))


def _swatch(colour: QColor, dashed: bool = False) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    pen = QPen(colour, 3)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawLine(1, 7, 13, 7)
    p.end()
    return QIcon(pm)


class KeysItem(pg.ScatterPlotItem):
    """The keys of every shown component. A click selects (Shift: adds or removes); a
    left-drag moves the grabbed key and every other selected key (frames snap to integers)."""

    def __init__(self, editor: "CurveEditor"):
        super().__init__(size=11, symbol="d", pen=pg.mkPen("w", width=1))
        self.editor = editor
        self.names: list[str] = []
        self.frames = np.zeros(0, int)
        self.values = np.zeros(0)
        self.colours: list[QColor] = []
        self._drag: tuple | None = None  # (start point in view coords, [(i, frame, value)])

    def set_keys(self, names: list[str], frames: np.ndarray, values: np.ndarray, colours: list[QColor]) -> None:
        self.names = list(names)
        self.frames = np.asarray(frames, int)
        self.values = np.asarray(values, float)
        self.colours = list(colours)
        self._drag = None
        self.redraw()

    def redraw(self, frames=None, values=None) -> None:
        sel = self.editor.selected
        brushes, pens, sizes = [], [], []
        for n, f, c in zip(self.names, self.frames, self.colours):
            on = (n, int(f)) in sel
            brushes.append(SELECTED_BRUSH if on else pg.mkBrush(c))
            pens.append(pg.mkPen(c if on else QColor(20, 20, 20), width=2 if on else 1))
            sizes.append(14 if on else 11)
        self.setData(self.frames if frames is None else frames, self.values if values is None else values,
                     brush=brushes, pen=pens, size=sizes)

    def index_at(self, pos) -> int | None:
        """Index of the key under ``pos`` (item coordinates), the nearest one if several."""
        pts = self.pointsAt(pos)
        if len(pts) == 0:
            return None
        return int(pts[0].index())

    def key(self, i: int) -> tuple[str, int]:
        return self.names[i], int(self.frames[i])

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        i = self.index_at(ev.pos())
        if i is None:
            ev.ignore()
            return
        ev.accept()
        self.editor.select_keys([self.key(i)], additive=bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier),
                                toggle=True)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            i = self.index_at(ev.buttonDownPos())
            if i is None:
                ev.ignore()
                return
            if self.key(i) not in self.editor.selected:
                self.editor.select_keys([self.key(i)],
                                        additive=bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            moving = [(j, int(self.frames[j]), float(self.values[j])) for j in range(len(self.names))
                      if self.key(j) in self.editor.selected]
            self._drag = (ev.buttonDownPos(), moving)
        if self._drag is None:
            ev.ignore()
            return
        ev.accept()
        start, moving = self._drag
        df = int(round(ev.pos().x() - start.x()))
        dv = float(ev.pos().y() - start.y())
        last = max(0, self.editor.num_frames - 1)
        frames, values = self.frames.copy(), self.values.copy()
        moves = []
        for j, f, v in moving:
            nf = int(min(max(f + df, 0), last))
            nv = float(np.clip(v + dv, -VALUE_LIMIT, VALUE_LIMIT))
            frames[j], values[j] = nf, nv
            moves.append((self.names[j], f, nf, nv))
        self.redraw(frames, values)
        if ev.isFinish():
            self._drag = None
            if df != 0 or abs(dv) > 1e-9:
                self.editor.emit_moves(moves)


class CurveViewBox(pg.ViewBox):
    """The plot's view: left-drag on empty space draws a selection box, a click seeks."""

    def __init__(self, editor: "CurveEditor"):
        super().__init__(enableMenu=False)
        self.editor = editor

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() == Qt.MouseButton.LeftButton and axis is None:
            ev.accept()
            if ev.isFinish():
                self.rbScaleBox.hide()
                rect = self.childGroup.mapRectFromParent(QRectF(ev.buttonDownPos(), ev.pos())).normalized()
                self.editor.box_select(rect, additive=bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            else:
                self.updateScaleBox(ev.buttonDownPos(), ev.pos())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.editor.empty_click(self.mapToView(ev.pos()).x(),
                                    additive=bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            return
        super().mouseClickEvent(ev)


class CurvePlot(pg.PlotWidget):
    """The plot; with focus it takes the graph editor's keys (Home, F, ., Delete, X, Ctrl+A)
    before the window's shortcuts (Home is the window's "first frame" elsewhere)."""

    KEYS = (Qt.Key.Key_Home, Qt.Key.Key_F, Qt.Key.Key_Period, Qt.Key.Key_Delete, Qt.Key.Key_X)

    def __init__(self, editor: "CurveEditor"):
        self.editor = editor
        super().__init__(viewBox=CurveViewBox(editor), background=(32, 32, 36))
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def event(self, ev) -> bool:  # noqa: A003 (Qt API)
        if ev.type() == QEvent.Type.ShortcutOverride and ev.modifiers() == Qt.KeyboardModifier.NoModifier \
                and ev.key() in self.KEYS:
            ev.accept()
            return True
        return super().event(ev)

    def keyPressEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        k, mods = ev.key(), ev.modifiers()
        if k == Qt.Key.Key_Home:
            self.editor.frame_all()
        elif k in (Qt.Key.Key_F, Qt.Key.Key_Period):
            self.editor.frame_selected()
        elif k in (Qt.Key.Key_Delete, Qt.Key.Key_X):
            self.editor.delete_selected()
        elif k == Qt.Key.Key_A and mods & Qt.KeyboardModifier.ControlModifier:
            self.editor.select_all()
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()


class CurveEditor(QWidget):
    seek_requested = Signal(int)
    keys_moved = Signal(object)
    keys_deleted = Signal(object)
    key_type_requested = Signal(object, str)
    set_key_requested = Signal()
    delete_key_requested = Signal()
    auto_key_toggled = Signal(bool)
    component_selected = Signal(str)
    pin_toggled = Signal(str)
    show_edited_toggled = Signal(bool)
    range_changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.name: str | None = None          # the active component
        self.num_frames = 0
        self.selected: set[tuple[str, int]] = set()
        self._channels: dict[str, dict] = {}  # shown name -> its curves (EditorDocument.component_curves)
        self._colours: dict[str, QColor] = {}
        self._hidden: set[str] = set()
        self._pinned: set[str] = set()
        self._pending: tuple[str, int, float] | None = None
        self._setting = False
        self._build()
        self._connect()
        self.setEnabled(False)

    # -- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        def tool(text: str, tip: str, checkable: bool = False) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setCheckable(checkable)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            return b

        self.auto_key_button = tool("Auto-key", "Auto-key: when on, moving a slider sets a key at this frame. "
                                    "When off, a slider move only shows (orange) until you press K.", True)
        self.auto_key_button.setObjectName("auto_key")
        self.key_button = tool("Set key", "Key the selected component (or the pending values) at this frame (K)")
        self.del_button = tool("Delete key", "Delete the selected component's key at this frame (Shift+K)")
        self.pending_label = QLabel("")
        self.pending_label.setStyleSheet("color: #ff8c00; font-weight: bold;")
        self.frame_all_button = tool("Frame all", "Zoom to every shown curve (Home over the plot)")
        self.frame_sel_button = tool("Frame selected", "Zoom to the selected keys (F over the plot)")
        self.pin_button = tool("Pin", "Keep this component's curve shown when another slider is edited "
                               "(Ctrl+click a slider's name does the same)", True)
        self.edited_check = QCheckBox("All edited")
        self.edited_check.setToolTip("Show the curves of every edited component")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.auto_key_button, self.key_button, self.del_button):
            bar.addWidget(w)
        bar.addWidget(self.pending_label, 1)
        for w in (self.pin_button, self.edited_check, self.frame_all_button, self.frame_sel_button):
            bar.addWidget(w)

        # channel list (the legend of the colours)
        self.channels = QListWidget()
        self.channels.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.channels.setToolTip("The curves shown, in their colours: click one to edit it, untick to hide it")
        self.channels.setMinimumWidth(120)
        self.channels.setMinimumHeight(40)
        self.channels.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.channels.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.channels.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.style_key = QLabel()
        self.style_key.setWordWrap(True)
        self.style_key.setText("<span style='font-size:9pt'>solid: offset (keys)<br>dashed: result"
                               "<br><span style='color:#999'>grey: fitted</span></span>")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.channels, 1)
        ll.addWidget(self.style_key)

        # the plot
        self.plot = CurvePlot(self)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot)
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "offset")
        self.vb: CurveViewBox = self.plot.getPlotItem().getViewBox()
        self.keys = KeysItem(self)
        self.keys.setZValue(20)  # above the playhead: a key under it is grabbed first
        self.pending_item = pg.ScatterPlotItem(size=16, symbol="d", brush=pg.mkBrush(None),
                                               pen=pg.mkPen(PENDING_COLOUR, width=2.5))
        self.pending_item.setZValue(21)
        self.region = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(255, 255, 255, 18), movable=True)
        self.region.setZValue(-10)
        self.region.hide()
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=CURSOR_PEN)
        self.cursor.setZValue(10)
        self._curve_items: list[pg.PlotDataItem] = []
        for it in (self.region, self.cursor, self.keys, self.pending_item):
            self.plot.addItem(it)
        self.plot.setYRange(-1.05, 1.05)
        self.plot.setXRange(0, 100, padding=0.02)  # until a clip is set

        # side panel: the selected key, the edit range
        self.key_frame = QSpinBox()
        self.key_frame.setRange(0, 10 ** 7)
        self.key_frame.setKeyboardTracking(False)
        self.key_value = QDoubleSpinBox()
        self.key_value.setRange(-VALUE_LIMIT, VALUE_LIMIT)
        self.key_value.setDecimals(3)
        self.key_value.setSingleStep(0.01)
        self.key_value.setKeyboardTracking(False)
        self.key_type = QComboBox()
        for t, label in KEY_TYPE_LABELS.items():
            self.key_type.addItem(label, t)
        self.key_type.setToolTip("Interpolation of the segment after the selected keys (Flat: a horizontal "
                                 "tangent at the key). With no key selected: every key of the active curve.")
        self.key_info = QLabel("no key selected")
        key_box = QGroupBox("Key")
        kf = QFormLayout(key_box)
        kf.setContentsMargins(6, 4, 6, 4)
        kf.addRow(self.key_info)
        kf.addRow("Frame", self.key_frame)
        kf.addRow("Value", self.key_value)
        kf.addRow("Type", self.key_type)
        self.range_check = QCheckBox("Edit range")
        self.range_check.setToolTip("Limit all edits to a frame range (drag the band) with ease-in/out")
        self.ease_in = QSpinBox()
        self.ease_out = QSpinBox()
        for sb, tip in ((self.ease_in, "Ease-in length (frames)"), (self.ease_out, "Ease-out length (frames)")):
            sb.setRange(0, 100000)
            sb.setToolTip(tip)
            sb.setKeyboardTracking(False)
        range_box = QGroupBox()
        rf = QFormLayout(range_box)
        rf.setContentsMargins(6, 4, 6, 4)
        rf.addRow(self.range_check)
        rf.addRow("Ease in", self.ease_in)
        rf.addRow("Ease out", self.ease_out)
        side_inner = QWidget()
        sl = QVBoxLayout(side_inner)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(key_box)
        sl.addWidget(range_box)
        sl.addStretch(1)
        side = QScrollArea()  # (a short dock scrolls the side panel instead of growing the window)
        side.setWidget(side_inner)
        side.setWidgetResizable(True)
        side.setFrameShape(QScrollArea.Shape.NoFrame)
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side.setMinimumWidth(side_inner.sizeHint().width() + 16)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.plot)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([170, 800, 190])
        self.splitter.setChildrenCollapsible(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(bar)
        lay.addWidget(self.splitter, 1)
        self._update_key_panel()

    def _connect(self) -> None:
        self.cursor.sigPositionChanged.connect(self._on_cursor)
        self.key_button.clicked.connect(self.set_key_requested.emit)
        self.del_button.clicked.connect(self.delete_key_requested.emit)
        self.auto_key_button.toggled.connect(self._on_auto_key)
        self.frame_all_button.clicked.connect(self.frame_all)
        self.frame_sel_button.clicked.connect(self.frame_selected)
        self.pin_button.clicked.connect(lambda: self.name and self.pin_toggled.emit(self.name))
        self.edited_check.toggled.connect(lambda on: None if self._setting else self.show_edited_toggled.emit(on))
        self.channels.itemClicked.connect(self._on_channel_clicked)
        self.channels.itemChanged.connect(self._on_channel_checked)
        self.key_frame.valueChanged.connect(self._on_typed_frame)
        self.key_value.valueChanged.connect(self._on_typed_value)
        self.key_type.activated.connect(self._on_key_type)
        self.range_check.toggled.connect(self._emit_range)
        self.region.sigRegionChangeFinished.connect(self._emit_range)
        self.ease_in.valueChanged.connect(self._emit_range)
        self.ease_out.valueChanged.connect(self._emit_range)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(900, 240)

    # -- data from the app ----------------------------------------------------------------
    def set_clip(self, num_frames: int) -> None:
        self.num_frames = int(num_frames)
        self.setEnabled(self.num_frames > 0)
        self.plot.setXRange(0, max(1, self.num_frames - 1) if self.num_frames else 100, padding=0.02)
        if not self.num_frames:
            self.plot.setYRange(-1.05, 1.05)  # (as when made: not the previous clip's values)
        self.cursor.setBounds((0, max(0, self.num_frames - 1)))
        self.key_frame.setMaximum(max(0, self.num_frames - 1))

    def colour(self, name: str) -> QColor:
        """The colour of ``name``'s curves (given out in PALETTE order, kept for the session)."""
        if name not in self._colours:
            self._colours[name] = QColor(*PALETTE[len(self._colours) % len(PALETTE)])
        return self._colours[name]

    def set_channels(self, active: str | None, curves: dict[str, dict], pinned=(),
                     pending: tuple[str, int, float] | None = None) -> None:
        """Show the curves of ``curves`` (name -> EditorDocument.component_curves(name), in the
        order given), ``active`` drawn in full; ``pinned`` names have their pin shown;
        ``pending``: (name, frame, offset) of an unkeyed value, or None."""
        self.name = active if active in curves else None
        self._channels = dict(curves)
        self._pinned = set(pinned)
        self._pending = pending
        self.selected = {k for k in self.selected if k[0] in curves and k[1] in self._key_frames(k[0])}
        self._fill_channel_list()
        self._redraw()
        self._setting = True
        self.pin_button.setChecked(self.name in self._pinned)
        self._setting = False
        if pending is not None:
            n, f, v = pending
            self.pending_label.setText(f"{n} {v:+.2f} at frame {f} not keyed: K keys it")
        else:
            self.pending_label.setText("")

    def show_component(self, name: str | None, **curves) -> None:
        """One component only (or None: nothing)."""
        self.set_channels(name, {} if name is None or not curves else {name: curves})

    def _key_frames(self, name: str) -> set[int]:
        c = self._channels.get(name)
        return set() if c is None else {int(f) for f in c["key_frames"]}

    def _fill_channel_list(self) -> None:
        self._setting = True
        self.channels.clear()
        for n, c in self._channels.items():
            nkeys = len(c["key_frames"])
            it = QListWidgetItem(_swatch(self.colour(n)), n + ("  (pinned)" if n in self._pinned else ""))
            it.setToolTip(f"{n}: {nkeys} key{'s' if nkeys != 1 else ''}"
                          + (", pinned" if n in self._pinned else "") + ("" if n == self.name else
                                                                         "; click to edit it"))
            it.setData(Qt.ItemDataRole.UserRole, n)
            it.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked if n in self._hidden else Qt.CheckState.Checked)
            if n == self.name:
                f = it.font()
                f.setBold(True)
                it.setFont(f)
            self.channels.addItem(it)
        self._setting = False

    def _redraw(self) -> None:
        for it in self._curve_items:
            self.plot.removeItem(it)
        self._curve_items = []
        names, frames, values, colours = [], [], [], []
        for n, c in self._channels.items():
            if n in self._hidden:
                continue
            col = self.colour(n)
            x = np.arange(len(c["offset"]))
            active = n == self.name
            if active:
                self._add_curve(x, c["fitted"], FITTED_PEN)
                dashed = QColor(col)
                dashed.setAlpha(200)
                self._add_curve(x, c["edited"], pg.mkPen(dashed, width=1.6, style=Qt.PenStyle.DashLine))
            self._add_curve(x, c["offset"], pg.mkPen(col, width=2.4 if active else 1.4))
            kf = np.asarray(c["key_frames"], int)
            names += [n] * len(kf)
            frames += list(kf)
            values += list(np.asarray(c["key_values"], float))
            colours += [col] * len(kf)
        self.keys.set_keys(names, np.array(frames, int), np.array(values, float), colours)
        p = self._pending
        if p is not None and p[0] in self._channels and p[0] not in self._hidden:
            self.pending_item.setData([p[1]], [p[2]])
        else:
            self.pending_item.setData([], [])
        self._update_key_panel()

    def _add_curve(self, x, y, pen) -> None:
        item = pg.PlotDataItem(x, np.asarray(y, float), pen=pen)
        item.setZValue(1)
        self.plot.addItem(item)
        self._curve_items.append(item)

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

    def set_dark(self, dark: bool) -> None:
        """Follow a dark or light window (the plot's background and axes)."""
        set_plot_theme(self.plot, dark)

    def set_auto_key(self, on: bool) -> None:
        self._setting = True
        self.auto_key_button.setChecked(bool(on))
        self._setting = False
        self._style_auto_key(on)

    def set_show_edited(self, on: bool) -> None:
        self._setting = True
        self.edited_check.setChecked(bool(on))
        self._setting = False

    # -- selection and view ------------------------------------------------------------------
    def select_keys(self, keys, additive: bool = False, toggle: bool = False) -> None:
        """Select ``keys`` ((name, frame) pairs); ``additive`` keeps the others (and with
        ``toggle`` a selected key is deselected)."""
        keys = {(str(n), int(f)) for n, f in keys}
        if additive and toggle:
            self.selected ^= keys
        elif additive:
            self.selected |= keys
        else:
            self.selected = keys
        self.keys.redraw()
        self._update_key_panel()

    def select_all(self) -> None:
        self.select_keys(zip(self.keys.names, self.keys.frames))

    def box_select(self, rect: QRectF, additive: bool = False) -> None:
        """Select the keys inside ``rect`` (view coordinates: frames x offsets)."""
        inside = [(n, int(f)) for n, f, v in zip(self.keys.names, self.keys.frames, self.keys.values)
                  if rect.left() <= f <= rect.right() and rect.top() <= v <= rect.bottom()]
        self.select_keys(inside, additive=additive)

    def empty_click(self, x: float, additive: bool = False) -> None:
        """A click on no key: deselect (unless Shift) and move the playhead there."""
        if not additive and self.selected:
            self.select_keys([])
        if self.num_frames:
            self.seek_requested.emit(int(max(0, min(self.num_frames - 1, round(x)))))

    def frame_all(self) -> None:
        """Zoom to the whole clip and every shown curve."""
        ys = [np.asarray(c[k], float) for n, c in self._channels.items() if n not in self._hidden
              for k in (("fitted", "edited", "offset") if n == self.name else ("offset",))]
        ys = [y[np.isfinite(y)] for y in ys if len(y)]
        lo, hi = (min(y.min() for y in ys if y.size), max(y.max() for y in ys if y.size)) if any(
            y.size for y in ys) else (-1.0, 1.0)
        self._show_range(0, max(1, self.num_frames - 1), lo, hi)

    def frame_selected(self) -> None:
        """Zoom to the selected keys (all keys of the shown curves when none is selected)."""
        pts = [(f, v) for n, f, v in zip(self.keys.names, self.keys.frames, self.keys.values)
               if (n, int(f)) in self.selected] or list(zip(self.keys.frames, self.keys.values))
        if not pts:
            self.frame_all()
            return
        f = np.array([p[0] for p in pts], float)
        v = np.array([p[1] for p in pts], float)
        self._show_range(f.min(), f.max(), v.min(), v.max())

    def _show_range(self, f0: float, f1: float, lo: float, hi: float) -> None:
        if f1 - f0 < MIN_FRAMES_SHOWN:
            mid = (f0 + f1) / 2
            f0, f1 = mid - MIN_FRAMES_SHOWN / 2, mid + MIN_FRAMES_SHOWN / 2
        if hi - lo < MIN_VALUE_SPAN:
            mid = (lo + hi) / 2
            lo, hi = mid - MIN_VALUE_SPAN / 2, mid + MIN_VALUE_SPAN / 2
        self.plot.setXRange(f0, f1, padding=0.05)
        self.plot.setYRange(lo, hi, padding=0.1)

    def delete_selected(self) -> None:
        if self.selected:
            keys = sorted(self.selected)
            self.selected = set()
            self.keys_deleted.emit(keys)

    def emit_moves(self, moves) -> None:
        """Keys were dragged: the moved keys stay selected at their new frames."""
        self.selected = {(n, nf) for n, _f, nf, _v in moves} | (
            self.selected - {(n, f) for n, f, _nf, _v in moves})
        self.keys_moved.emit(list(moves))

    def view_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)) shown."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        return (x0, x1), (y0, y1)

    # -- the side panel -------------------------------------------------------------------
    def _selected_points(self) -> list[tuple[str, int, float]]:
        return [(n, int(f), float(v)) for n, f, v in zip(self.keys.names, self.keys.frames, self.keys.values)
                if (n, int(f)) in self.selected]

    def _update_key_panel(self) -> None:
        pts = self._selected_points()
        self._setting = True
        self.key_frame.setEnabled(len(pts) == 1)
        self.key_value.setEnabled(bool(pts))
        if len(pts) == 1:
            n, f, v = pts[0]
            self.key_info.setText(n)
            self.key_frame.setValue(f)
            self.key_value.setValue(v)
        elif pts:
            self.key_info.setText(f"{len(pts)} keys selected")
            self.key_value.setValue(float(np.mean([p[2] for p in pts])))
        else:
            self.key_info.setText("no key selected")
            self.key_frame.setValue(0)  # (not the last selection's, perhaps another clip's)
            self.key_value.setValue(0.0)
        types = {self._key_type(n, f) for n, f, _v in pts} if pts else (
            {self._key_type(self.name, f) for f in self._key_frames(self.name)} if self.name else set())
        self.key_type.setCurrentIndex(self.key_type.findData(types.pop()) if len(types) == 1 else -1)
        self._setting = False

    def _key_type(self, name: str, frame: int) -> str:
        c = self._channels.get(name)
        if c is None:
            return "smooth"
        frames = [int(f) for f in c["key_frames"]]
        types = c.get("key_types") or []
        return types[frames.index(frame)] if frame in frames and len(types) == len(frames) else \
            c.get("interpolation", "smooth")

    def _on_typed_frame(self, frame: int) -> None:
        pts = self._selected_points()
        if self._setting or len(pts) != 1 or pts[0][1] == frame:
            return
        n, f, v = pts[0]
        self.emit_moves([(n, f, int(frame), v)])

    def _on_typed_value(self, value: float) -> None:
        pts = self._selected_points()
        if self._setting or not pts:
            return
        self.emit_moves([(n, f, f, float(value)) for n, f, _v in pts])

    def _on_key_type(self, index: int) -> None:
        t = self.key_type.itemData(index)
        if t is None:
            return
        keys = [(n, f) for n, f, _v in self._selected_points()]
        if not keys and self.name:
            keys = [(self.name, f) for f in sorted(self._key_frames(self.name))]
        if keys:
            self.key_type_requested.emit(keys, str(t))

    # -- user -------------------------------------------------------------------------------
    def _on_cursor(self) -> None:
        if not self._setting:
            self.seek_requested.emit(int(round(self.cursor.value())))

    def _on_auto_key(self, on: bool) -> None:
        self._style_auto_key(on)
        if not self._setting:
            self.auto_key_toggled.emit(bool(on))

    def _style_auto_key(self, on: bool) -> None:
        self.auto_key_button.setStyleSheet(
            "QToolButton { background: #c0392b; color: white; font-weight: bold; border-radius: 3px; }"
            if on else "")
        self.auto_key_button.setText("\u25cf Auto-key on" if on else "Auto-key off")

    def _on_channel_clicked(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        if name and name != self.name:
            self.component_selected.emit(str(name))

    def _on_channel_checked(self, item: QListWidgetItem) -> None:
        if self._setting:
            return
        name = str(item.data(Qt.ItemDataRole.UserRole))
        if item.checkState() == Qt.CheckState.Checked:
            self._hidden.discard(name)
        else:
            self._hidden.add(name)
            self.selected = {k for k in self.selected if k[0] != name}
        self._redraw()

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
    """Per-frame fit error (pixels) with a time cursor. A click jumps to the highest error
    within ``PEAK_RADIUS`` frames of the click (a peak); the frames flagged as worst (the
    error's peaks, worst first) are ``worst_frames``."""

    seek_requested = Signal(int)
    #: a click snaps to the highest error this many frames around it
    PEAK_RADIUS = 6

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=(32, 32, 36))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        _plain_axes(self.plot)
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "fit error (px)")
        self.plot.setXRange(0, 100, padding=0.02)  # until errors are set
        self.plot.setYRange(0, 5)
        self.plot.getPlotItem().getViewBox().setMouseEnabled(y=False)
        self.curve = self.plot.plot(pen=pg.mkPen((120, 220, 120), width=1.5), fillLevel=0,
                                    brush=pg.mkBrush(120, 220, 120, 40))
        self.invalid = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(255, 90, 90), pen=None)
        self.plot.addItem(self.invalid)
        self.peaks = pg.ScatterPlotItem(size=9, symbol="t", brush=pg.mkBrush(255, 200, 60), pen=None)
        self.plot.addItem(self.peaks)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=CURSOR_PEN)
        self.plot.addItem(self.cursor)
        self.summary = QLabel("No reconstruction")
        self.summary.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.summary)
        lay.addWidget(self.plot, 1)
        self._errors = np.zeros(0)
        self.worst_frames: list[int] = []
        self._setting = False
        self.cursor.sigPositionChanged.connect(
            lambda: None if self._setting else self.seek_requested.emit(int(round(self.cursor.value()))))
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    def set_errors(self, errors: np.ndarray | None, valid: np.ndarray | None = None,
                   worst: list[int] | None = None) -> None:
        """Show ``errors`` (F,) px (NaN: not fitted); ``worst``: the worst frames, worst first
        (marked with a triangle)."""
        self.worst_frames = list(worst or [])
        if errors is None:
            self._errors = np.zeros(0)
            self.curve.setData([], [])
            self.invalid.setData([], [])
            self.peaks.setData([], [])
            self.summary.setText("No reconstruction")
            # an empty scale, not the previous clip's frames and errors
            self.plot.setXRange(0, 100, padding=0.02)
            self.plot.setYRange(0, 4)
            self.cursor.setBounds((0, 100))
            return
        e = np.asarray(errors, float)
        self._errors = e
        x = np.arange(e.size)
        ok = np.isfinite(e)
        self.curve.setData(x, np.where(ok, e, 0.0))
        self.plot.setXRange(0, max(1, e.size - 1), padding=0.02)
        self.plot.enableAutoRange(axis="y")
        bad = ~ok if valid is None else (~ok | ~np.asarray(valid, bool))
        self.invalid.setData(x[bad], np.zeros(int(bad.sum())))
        w = np.array([f for f in self.worst_frames if 0 <= f < e.size], int)
        self.peaks.setData(w, e[w] if w.size else [])
        if ok.any():
            self.summary.setText(f"Fit error: median {np.median(e[ok]):.2f} px, 95th pct "
                                 f"{np.percentile(e[ok], 95):.2f} px, max {e[ok].max():.2f} px; "
                                 f"{int(bad.sum())} frames without a fitted face (red). "
                                 "Click a peak to go there; ] / [ step through the worst frames (triangles).")
        self.cursor.setBounds((0, max(0, e.size - 1)))

    def peak_near(self, frame: float) -> int:
        """The frame with the highest error within PEAK_RADIUS frames of ``frame``."""
        e = self._errors
        f = int(round(frame))
        if e.size == 0:
            return max(0, f)
        f = int(np.clip(f, 0, e.size - 1))
        lo, hi = max(0, f - self.PEAK_RADIUS), min(e.size, f + self.PEAK_RADIUS + 1)
        w = np.where(np.isfinite(e[lo:hi]), e[lo:hi], -np.inf)
        return lo + int(np.argmax(w)) if np.isfinite(w).any() else f

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.isAccepted() or self._errors.size == 0:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        self.seek_requested.emit(self.peak_near(vb.mapSceneToView(ev.scenePos()).x()))

    def set_position(self, frame: int) -> None:
        self._setting = True
        self.cursor.setValue(frame)
        self._setting = False

    def set_dark(self, dark: bool) -> None:
        """Follow a dark or light window (the plot's background and axes)."""
        set_plot_theme(self.plot, dark)


