"""ExpressionPanel: one slider per expression component, grouped, with search and resets.

Each row shows the component's ARKit name, a slider for the user's *offset*
(-1..+1, centre = no edit), a bar with the fitted value at the current frame
(grey tick) and the edited result (orange), the numbers, a key marker (filled
diamond: a keyframe at this frame; hollow: keyed elsewhere; orange dot: a value not
keyed yet) and a reset button. Group headers fold and reset their group.

The slider snaps to 0 within ``SNAP`` of it (hold Shift for fine moves through 0); a
double click on the slider or its numbers types a value (Enter sets it, Esc cancels).
A click on the groove does not jump or page (it would change the edit by accident): drag
the handle, or press on the groove and drag. The panel only shows values and emits intent:

    offset_changed(name, value)    while dragging or typing (value in offset units)
    drag_started(name), drag_finished(name)    one slider gesture (for undo merging)
    reset_requested(names: list)   reset of one row, a group or everything
    component_selected(name)       the row was clicked (the curve editor follows)
    pin_requested(name)            Ctrl+click on a name: keep its curve shown
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication, QDoubleSpinBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QSizePolicy,
    QSlider, QStyle, QStyleOptionSlider, QToolButton, QVBoxLayout, QWidget,
)

from core.model.arkit import GROUPS as ARKIT_GROUPS
from core.model.arkit import OTHER, expression_group
from widgets.theme_colours import DARK

#: the rows' groups in display order: core's one table (core.model.arkit), then the rest
GROUPS = ARKIT_GROUPS + (OTHER,)
SLIDER_STEPS = 1000  # slider ticks per unit of offset
OFFSET_RANGE = 1.0
#: a slider within this offset of 0 snaps to 0 (Shift held: no snapping)
SNAP = 0.03
SELECTED_STYLE = "QToolButton { font-weight: bold; color: #ffb347; }"
#: the numbers of a row whose value is pending (shown, not keyed: auto-key off)
PENDING_STYLE = "font-family: monospace; font-size: 10px; color: #ff8c00; font-weight: bold;"
VALUE_STYLE = "font-family: monospace; font-size: 10px;"
#: the value bars' track outline on a dark window: the dark theme's check box frame
TRACK_OUTLINE_DARK = DARK["frame"]


class ValueSlider(QSlider):
    """A horizontal slider for a value: the handle drags as usual; a press on the groove
    followed by a drag moves the handle to the mouse (a plain click changes nothing, as it
    would page by a tenth otherwise); a double click emits ``edit_requested``."""

    edit_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._groove_press = False

    def _on_handle(self, pos) -> bool:
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        r = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                        QStyle.SubControl.SC_SliderHandle, self)
        return r.contains(pos.toPoint())

    def value_at(self, x: float) -> int:
        """The slider value under widget x (pixels)."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              int(x - groove.x() - handle.width() / 2), span)

    def mousePressEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        if ev.button() == Qt.MouseButton.LeftButton and not self._on_handle(ev.position()):
            self._groove_press = True
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        if self._groove_press:
            if not self.isSliderDown():
                self.setSliderDown(True)  # (sliderPressed: one gesture)
            self.setValue(self.value_at(ev.position().x()))
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        if self._groove_press:
            self._groove_press = False
            if self.isSliderDown():
                self.setSliderDown(False)
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        ev.accept()
        self.edit_requested.emit()


class ValueBar(QWidget):
    """Fitted value (grey tick) and edited value (orange fill) on the component's range."""

    def __init__(self, lo: float, hi: float, parent=None):
        super().__init__(parent)
        self.lo, self.hi = float(lo), float(hi)
        self.fitted = 0.0
        self.edited = 0.0
        self.setFixedSize(46, 12)

    def set_values(self, fitted: float, edited: float) -> None:
        if (fitted, edited) != (self.fitted, self.edited):
            self.fitted, self.edited = float(fitted), float(edited)
            self.update()

    def track_colours(self) -> tuple[QColor, QColor | None]:
        """(fill, outline or None) of the bar's track. On a dark window the dark grey track
        all but vanished (1.2:1), so there it is the window's base with a light outline
        (above 3:1 against the window), which also keeps the orange fill and the fitted
        tick standing out inside it."""
        pal = self.palette()
        if pal.color(QPalette.ColorRole.Window).lightness() < 128:
            return pal.color(QPalette.ColorRole.Base), QColor(TRACK_OUTLINE_DARK)
        return QColor(60, 60, 64), None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        w, h = self.width(), self.height()
        span = max(self.hi - self.lo, 1e-9)
        fill, outline = self.track_colours()
        p.fillRect(0, 2, w, h - 4, outline or fill)
        if outline is not None:
            p.fillRect(1, 3, w - 2, h - 6, fill)
        x = lambda v: (min(max(v, self.lo), self.hi) - self.lo) / span * (w - 1)  # noqa: E731
        zero = x(max(self.lo, 0.0))
        e = x(self.edited)
        p.fillRect(QRectF(min(zero, e), 3, abs(e - zero) + 1, h - 6), QColor(255, 160, 50))
        p.fillRect(QRectF(x(self.fitted) - 1, 0, 2, h), QColor(220, 220, 220))
        p.end()


class ComponentRow(QWidget):
    def __init__(self, panel: "ExpressionPanel", name: str, lo: float, hi: float):
        super().__init__()
        self.name = name
        self.panel = panel
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 0, 2, 0)
        lay.setSpacing(4)
        self.name_button = QToolButton()
        self.name_button.setText(name)
        self.name_button.setAutoRaise(True)
        self.name_button.setMinimumWidth(130)
        self.name_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.name_button.setToolTip(f"{name}: click to show its curve; Ctrl+click keeps it shown with others")
        self.key_label = QLabel("")
        self.key_label.setFixedWidth(12)
        self.key_label.setToolTip("Keyframe at this frame (K sets, Shift+K deletes)")
        self.slider = ValueSlider()
        self.slider.setRange(-int(OFFSET_RANGE * SLIDER_STEPS), int(OFFSET_RANGE * SLIDER_STEPS))
        self.slider.setPageStep(SLIDER_STEPS // 10)
        self.slider.setToolTip(f"{name}: offset added to the fitted value (centre = no edit; snaps to 0 "
                               "near it, Shift for fine moves). Double-click to type a value.")
        self.slider.setMinimumWidth(90)
        self.bar = ValueBar(lo, hi)
        self.value_label = QLabel("0.00")
        self.value_label.setFixedWidth(92)
        self.value_label.setStyleSheet(VALUE_STYLE)
        self.value_label.setToolTip("fitted + offset = result at this frame; double-click to type the offset")
        self.value_label.installEventFilter(self)
        self.editor = QDoubleSpinBox(self)
        self.editor.setRange(-OFFSET_RANGE, OFFSET_RANGE)
        self.editor.setDecimals(3)
        self.editor.setSingleStep(0.01)
        self.editor.setKeyboardTracking(False)
        self.editor.hide()
        self.editor.installEventFilter(self)
        self._pending = False
        self.reset_button = QToolButton()
        self.reset_button.setText("\u21ba")
        self.reset_button.setAutoRaise(True)
        self.reset_button.setToolTip(f"Reset {name} (remove its edit)")
        for w in (self.key_label, self.name_button, self.slider, self.bar, self.value_label, self.reset_button):
            lay.addWidget(w)
        lay.setStretchFactor(self.slider, 1)
        self._setting = False
        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderPressed.connect(lambda: panel.drag_started.emit(name))
        self.slider.sliderReleased.connect(lambda: panel.drag_finished.emit(name))
        self.slider.edit_requested.connect(self.start_typing)
        self.editor.editingFinished.connect(self._typed)
        self.reset_button.clicked.connect(lambda: panel.reset_requested.emit([name]))
        self.name_button.clicked.connect(self._on_name_clicked)

    def _on_name_clicked(self) -> None:
        if QApplication.keyboardModifiers() & Qt.KeyboardModifier.ControlModifier:
            self.panel.pin_requested.emit(self.name)
        else:
            self.panel.select(self.name)

    def _on_value(self, v: int) -> None:
        if self._setting:
            return
        if v != 0 and abs(v) <= SNAP * SLIDER_STEPS and \
                not QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            # snap to "no edit": a hand rarely lands on exactly 0
            self._setting = True
            self.slider.setValue(0)
            self._setting = False
            v = 0
        self.panel.offset_changed.emit(self.name, v / SLIDER_STEPS)

    # -- typing a value -------------------------------------------------------------------
    def start_typing(self) -> None:
        """Show a number field over the slider (Enter sets the offset, Esc cancels)."""
        self.editor.setGeometry(self.slider.geometry().adjusted(0, -2, 0, 2))
        self.editor.blockSignals(True)
        self.editor.setValue(self.slider.value() / SLIDER_STEPS)
        self.editor.blockSignals(False)
        self.editor.show()
        self.editor.raise_()
        self.editor.setFocus(Qt.FocusReason.MouseFocusReason)
        self.editor.selectAll()

    @property
    def typing(self) -> bool:
        return self.editor.isVisible()

    def _typed(self) -> None:
        if not self.editor.isVisible():
            return
        value = float(self.editor.value())
        self.editor.hide()
        self.panel.drag_started.emit(self.name)
        self.panel.offset_changed.emit(self.name, value)
        self.panel.drag_finished.emit(self.name)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        if obj is self.value_label and ev.type() == QEvent.Type.MouseButtonDblClick:
            self.start_typing()
            return True
        if obj is self.editor:
            if ev.type() == QEvent.Type.KeyPress and ev.key() == Qt.Key.Key_Escape:
                self.editor.hide()
                return True
            if ev.type() == QEvent.Type.FocusOut and self.editor.isVisible():
                self.editor.hide()  # clicked elsewhere: nothing typed is applied
        return super().eventFilter(obj, ev)

    def set_values(self, fitted: float, offset: float, edited: float, keyed: bool, has_edit: bool,
                   pending: bool = False) -> None:
        self._setting = True
        if not self.slider.isSliderDown():
            self.slider.setValue(int(round(offset * SLIDER_STEPS)))
        self._setting = False
        self.bar.set_values(fitted, edited)
        sign = "+" if offset >= 0 else "-"
        self.value_label.setText(f"{fitted:4.2f}{sign}{abs(offset):4.2f}={edited:4.2f}")
        if pending != self._pending:
            self._pending = pending
            self.value_label.setStyleSheet(PENDING_STYLE if pending else VALUE_STYLE)
        if pending:
            self.key_label.setText("\u25cf")
            self.key_label.setStyleSheet("color: #ff8c00;")
            self.key_label.setToolTip("Not keyed: press K to key this value (it goes when the frame changes)")
        else:
            self.key_label.setText("\u25c6" if keyed else ("\u25c7" if has_edit else ""))
            self.key_label.setStyleSheet("")
            self.key_label.setToolTip("Keyframe at this frame (K sets, Shift+K deletes)")
        self.reset_button.setEnabled(has_edit)


class ExpressionPanel(QWidget):
    offset_changed = Signal(str, float)
    drag_started = Signal(str)
    drag_finished = Signal(str)
    reset_requested = Signal(list)
    component_selected = Signal(str)
    pin_requested = Signal(str)
    components_ready = Signal()

    #: pause between two row batches of an incremental build (ms). Not 0: Qt runs zero
    #: timers before the repaint and other due timers, so the batches would run back to back
    BUILD_INTERVAL_MS = 15

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search components (e.g. smile, jaw)")
        self.search.setClearButtonEnabled(True)
        # focus comes here only by a click: when a dock closes Qt hands the focus to the next
        # widget in the tab chain, and single-key shortcuts (K, O, B, Space) typed into a
        # search box would be text instead
        self.search.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.reset_all_button = QPushButton("Reset all")
        self.reset_all_button.setToolTip("Remove every expression edit")
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.reset_all_button)
        self._body = QWidget()
        self._body_lay = QVBoxLayout(self._body)
        self._body_lay.setContentsMargins(0, 0, 0, 0)
        self._body_lay.setSpacing(0)
        self._body_lay.addStretch(1)
        scroll = self._scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._body)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.empty_label = QLabel("Reconstruct the clip (Edit > Reconstruct, Ctrl+R) to edit its expressions.")
        self.empty_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.empty_label)
        lay.addWidget(scroll, 1)
        self.rows: dict[str, ComponentRow] = {}
        self.group_headers: dict[str, QWidget] = {}
        self._group_rows: dict[str, list[str]] = {}
        self._collapsed: set[str] = set()
        self.selected: str | None = None
        self._pending: list[tuple] = []
        self._pos = 0
        self._rows_per_turn = 0
        self._build_timer = QTimer(self)
        self._build_timer.setInterval(self.BUILD_INTERVAL_MS)
        self._build_timer.timeout.connect(self._build_next)
        self.search.textChanged.connect(self._filter)
        self.reset_all_button.clicked.connect(lambda: self.reset_requested.emit(list(self.rows)))
        self.setEnabled(False)

    def set_components(self, names, bounds: np.ndarray | None = None, rows_per_turn: int = 0) -> None:
        """Build the rows: ``names`` (Ke,) str, ``bounds`` (Ke, 2) [lo, hi] (default [0, 1]).

        ``rows_per_turn`` > 0 builds that many rows per event-loop turn (a timer) instead of
        all at once: ~50 rows and their first layout and paint cost ~100 ms of GUI thread,
        which would stall the window. ``components_ready()`` is emitted when all rows exist
        (at once when building in one go). A new call drops a build still in progress.
        """
        self._build_timer.stop()
        for w in list(self.rows.values()) + list(self.group_headers.values()):
            w.setParent(None)
            w.deleteLater()
        self.rows.clear()
        self.group_headers.clear()
        self._group_rows = {g: [] for g in GROUPS}
        names = [str(n) for n in names]
        for n in names:
            self._group_rows[expression_group(n)].append(n)
        # the build plan: group headers and rows in display order
        self._pending = []
        for g in GROUPS:
            members = self._group_rows[g]
            if members:
                self._pending.append(("header", g, len(members)))
            for n in members:
                k = names.index(n)
                lo, hi = (0.0, 1.0) if bounds is None else (float(bounds[k][0]), float(bounds[k][1]))
                self._pending.append(("row", n, (lo, hi)))
        self._pos = 0
        self.empty_label.setVisible(not names)
        self.setEnabled(bool(names))
        if rows_per_turn > 0 and self._pending:
            self._rows_per_turn = int(rows_per_turn)
            self._build_timer.start()
        else:
            self._build_some(len(self._pending))

    @property
    def building(self) -> bool:
        """True while rows are still being built over several event-loop turns."""
        return bool(self._pending)

    def _build_next(self) -> None:
        self._build_some(self._rows_per_turn)

    def _build_some(self, count: int) -> None:
        """Create the next ``count`` rows of the plan (with their group headers)."""
        done = 0
        while self._pending and done < count:
            kind, name, extra = self._pending.pop(0)
            if kind == "header":
                w = self._make_header(name, extra)
                self.group_headers[name] = w
            else:
                w = ComponentRow(self, name, *extra)
                self.rows[name] = w
                done += 1
            self._body_lay.insertWidget(self._pos, w)
            self._pos += 1
        self._filter(self.search.text())
        if not self._pending:
            self._build_timer.stop()
            if self.selected in self.rows:
                self.rows[self.selected].name_button.setStyleSheet(SELECTED_STYLE)
            self.components_ready.emit()

    def _make_header(self, group: str, count: int) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 4, 2, 0)
        fold = QToolButton()
        fold.setArrowType(Qt.ArrowType.DownArrow)
        fold.setAutoRaise(True)
        fold.setText(f"{group.capitalize()}  ({count})")
        fold.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        fold.setStyleSheet("font-weight: bold;")
        fold.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        reset = QToolButton()
        reset.setText("Reset group")
        reset.setAutoRaise(True)
        reset.setToolTip(f"Remove the edits of every {group} component")
        lay.addWidget(fold, 1)
        lay.addWidget(reset)
        fold.clicked.connect(lambda: self.toggle_group(group, fold))
        reset.clicked.connect(lambda: self.reset_requested.emit(list(self._group_rows[group])))
        w.fold_button = fold
        w.reset_button = reset
        return w

    def toggle_group(self, group: str, button: QToolButton | None = None) -> None:
        if group in self._collapsed:
            self._collapsed.discard(group)
        else:
            self._collapsed.add(group)
        if button is not None:
            button.setArrowType(Qt.ArrowType.RightArrow if group in self._collapsed else Qt.ArrowType.DownArrow)
        self._filter(self.search.text())

    def _filter(self, text: str) -> None:
        t = text.strip().lower()
        for g, members in self._group_rows.items():
            any_visible = False
            for n in members:
                match = not t or t in n.lower() or t in g
                if n in self.rows:  # (not yet built during an incremental build)
                    self.rows[n].setVisible(match and (g not in self._collapsed or bool(t)))
                any_visible |= match
            if g in self.group_headers:
                self.group_headers[g].setVisible(any_visible)

    def select(self, name: str) -> None:
        if name not in self.rows:
            return
        if self.selected in self.rows:
            self.rows[self.selected].name_button.setStyleSheet("")
        self.selected = name
        row = self.rows[name]
        row.name_button.setStyleSheet(SELECTED_STYLE)
        if not row.isHidden():  # (a folded group stays folded)
            self._scroll.ensureWidgetVisible(row, 0, 8)  # chosen elsewhere (curve list, code): its slider shows
        self.component_selected.emit(name)

    def set_values(self, names, fitted: np.ndarray, offsets: np.ndarray, edited: np.ndarray,
                   keyed: set[str], edited_names: set[str], pending: set[str] = frozenset()) -> None:
        """Show frame values: fitted, offset, edited (Ke,) in ``names`` order; ``pending``:
        names whose shown offset is not keyed."""
        for k, n in enumerate(names):
            row = self.rows.get(str(n))
            if row is not None:
                row.set_values(float(fitted[k]), float(offsets[k]), float(edited[k]), str(n) in keyed,
                               str(n) in edited_names, str(n) in pending)
