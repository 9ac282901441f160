"""The editor's dock panels and video overlays, built and laid out (no behaviour here).

:class:`EditorPanels` makes the 3D viewport (a :class:`~app.viewport.ViewportController`
with its bar: display mode, camera presets, wireframe and landmark switches), the
expression sliders, the curve editor and the fit-error plot as dock panels of the main
window, and the mesh, fit-error and flow overlay items of the video view. The editor
connects them (app/editor/controller.py).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QDockWidget, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from app.icons import icon
from app.viewport import MODE_LABELS, MODE_TIPS, MODES, PRESETS, ViewportController
from widgets.curve_editor import CurveEditor, FitErrorPlot
from widgets.expression_panel import ExpressionPanel
from widgets.video_view import ColouredPointsItem, HandlesItem, SegmentsOverlayItem

PRESET_TIPS = {"camera": "The fitted camera view of this frame", "front": "Front view",
               "side": "Side view (profile)", "top": "Top view"}
#: the video overlays: name -> z order (landmarks, the window's own, sit at 5)
OVERLAYS = {"mesh": 6, "flow": 7, "error": 8, "handles": 12}


class EditorPanels:
    """The editor's docks and overlay items, installed into ``win`` (the main window)."""

    def __init__(self, win, parent):
        s = win.settings
        self.win = win
        self.viewport = ViewportController(parent=parent)
        mode = str(s.value("view/viewport_mode", "shaded"))
        self.viewport.set_mode(mode if mode in MODES else "shaded")
        # always the camera view at start: a reconstruction first appears as the camera saw it
        self.viewport.preset = "camera"
        self.viewport.set_overlays(wireframe=s.value("view/viewport_wireframe", False, type=bool),
                                   landmarks=s.value("view/viewport_landmarks", True, type=bool))
        self.mode_combo = QComboBox()
        for i, m in enumerate(MODES):
            self.mode_combo.addItem(MODE_LABELS[m], m)
            self.mode_combo.setItemData(i, MODE_TIPS[m], Qt.ItemDataRole.ToolTipRole)
        self.mode_combo.setCurrentIndex(MODES.index(self.viewport.mode))
        self.mode_combo.setToolTip("Display mode of the 3D viewport")
        self.preset_buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 2)
        bar.addWidget(self.mode_combo)
        for p in PRESETS:
            b = QToolButton()
            b.setText(p.capitalize())
            b.setCheckable(True)
            b.setChecked(p == self.viewport.preset)
            b.setToolTip(PRESET_TIPS[p])
            self.preset_buttons[p] = b
            bar.addWidget(b)
        self.mode_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        # wide enough for the longest (short) label: a cut label reads as a different mode
        self.mode_combo.setMinimumContentsLength(max(len(label) for label in MODE_LABELS.values()))
        self.wire_check = QCheckBox("Wire")
        self.wire_check.setChecked(self.viewport.show_wireframe)
        self.lm_check = QCheckBox("Landmarks")
        self.lm_check.setChecked(self.viewport.show_landmarks)
        bar.addWidget(self.wire_check)
        bar.addWidget(self.lm_check)
        bar.addStretch(1)
        self.maximise_button = QToolButton()
        self.maximise_button.setIcon(icon("maximise"))
        self.maximise_button.setText("Maximise")
        self.maximise_button.setCheckable(True)
        self.maximise_button.setToolTip("Give the 3D viewport the whole window (Ctrl+Space toggles)")
        self.detach_button = QToolButton()
        self.detach_button.setIcon(icon("detach"))
        self.detach_button.setText("Detach")
        self.detach_button.setCheckable(True)
        self.detach_button.setToolTip("Show the 3D viewport in a window of its own (put it on another "
                                      "screen, make it as big as you like); again to dock it back")
        bar.addWidget(self.maximise_button)
        bar.addWidget(self.detach_button)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self.viewport.widget, 1)
        R, B = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.viewport_dock = self._dock("3D viewport", box, R)
        self.viewport_dock.topLevelChanged.connect(self.detach_button.setChecked)
        self._before_maximise = None  # the window's dock state while the viewport is maximised
        self.expressions = ExpressionPanel()
        self.expressions_dock = self._dock("Expressions", self.expressions, R)
        self.curves = CurveEditor()
        self.curves_dock = self._dock("Curves", self.curves, B)
        self.fit_error = FitErrorPlot()
        self.fit_error_dock = self._dock("Fit error", self.fit_error, B)
        win.tabifyDockWidget(self.curves_dock, self.fit_error_dock)
        self.curves_dock.raise_()
        state = s.value("window/state")
        if state is not None:
            win.restoreState(state)
        else:
            self.apply_default_layout()

        v = win.view
        self.overlay_items = {"mesh": SegmentsOverlayItem(QColor(90, 200, 255, 150), 1.0),
                              "error": ColouredPointsItem(3.0),
                              "flow": SegmentsOverlayItem(QColor(255, 255, 255), 1.5),
                              "handles": HandlesItem()}  # the fit corrected by hand: draggable points
        for name, z in OVERLAYS.items():
            v.add_overlay(name, self.overlay_items[name], z)
            on = False if name == "handles" else s.value(f"view/overlay_{name}", name == "mesh", type=bool)
            v.set_overlay_enabled(name, on)
            v.set_overlay_has_data(name, False)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self.win)
        d.setObjectName(title.lower().replace(" ", "_"))
        d.setWidget(widget)
        self.win.add_panel(d, area)
        return d

    def apply_default_layout(self) -> None:
        """First-run dock sizes: a big video, a right-hand column of ~36% of the window with
        the 3D view and the sliders sharing its height equally (QA users look at the mesh,
        artists at the sliders), and a curve strip of ~26% of the height."""
        win = self.win
        w, h = max(win.width(), 900), max(win.height(), 600)
        self.curves_dock.raise_()
        win.resizeDocks([self.viewport_dock], [int(0.36 * w)], Qt.Orientation.Horizontal)
        win.resizeDocks([self.viewport_dock, self.expressions_dock], [int(0.36 * h), int(0.36 * h)],
                        Qt.Orientation.Vertical)
        win.resizeDocks([self.curves_dock], [int(0.26 * h)], Qt.Orientation.Vertical)

    # -- the 3D viewport maximised or detached ----------------------------------------------
    @property
    def viewport_maximised(self) -> bool:
        return self._before_maximise is not None

    def set_viewport_maximised(self, on: bool) -> None:
        """Give the 3D viewport the whole window (every other panel and the video hidden), or
        put the layout back as it was."""
        win, dock = self.win, self.viewport_dock
        if on == self.viewport_maximised:
            self.maximise_button.setChecked(on)
            return
        if on:
            if dock.isFloating():
                dock.setFloating(False)
            self._before_maximise = win.saveState()
            for d in win.findChildren(QDockWidget):
                if d is not dock:
                    d.hide()
            win.centralWidget().hide()
            dock.show()
            dock.raise_()
        else:
            win.centralWidget().show()
            win.restoreState(self._before_maximise)
            self._before_maximise = None
        self.maximise_button.setChecked(on)

    def set_viewport_detached(self, on: bool) -> None:
        """Show the 3D viewport in its own window (a floating dock, sized for work), or dock it back."""
        dock = self.viewport_dock
        if on and self.viewport_maximised:
            self.set_viewport_maximised(False)
        if on == dock.isFloating():
            self.detach_button.setChecked(on)
            return
        dock.setFloating(on)
        if not on:
            # Qt leaves a dock docked back by setFloating(False) at its floating geometry, drawn over
            # the window (seen in tools/screenshot_issue19.py); its place in the layout puts it back
            self.win.restoreDockWidget(dock)
        if on:
            g = self.win.geometry()
            w, h = max(640, int(g.width() * 0.6)), max(480, int(g.height() * 0.7))
            dock.resize(w, h)
            dock.move(g.x() + (g.width() - w) // 2, g.y() + (g.height() - h) // 2)
            dock.show()
            dock.raise_()
        self.detach_button.setChecked(on)

    def show_preset(self, preset: str | None) -> None:
        """Highlight the preset button of ``preset`` (None: none, the view was moved by hand)."""
        for p, b in self.preset_buttons.items():
            b.setChecked(p == preset)
