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

from app.viewport import MODE_LABELS, MODES, PRESETS, ViewportController
from widgets.curve_editor import CurveEditor, FitErrorPlot
from widgets.expression_panel import ExpressionPanel
from widgets.video_view import ColouredPointsItem, SegmentsOverlayItem

PRESET_TIPS = {"camera": "The fitted camera view of this frame", "front": "Front view",
               "side": "Side view (profile)", "top": "Top view"}
#: the video overlays: name -> z order (landmarks, the window's own, sit at 5)
OVERLAYS = {"mesh": 6, "flow": 7, "error": 8}


class EditorPanels:
    """The editor's docks and overlay items, installed into ``win`` (the main window)."""

    def __init__(self, win, parent):
        s = win.settings
        self.win = win
        self.viewport = ViewportController(parent=parent)
        mode = str(s.value("view/viewport_mode", "shaded"))
        self.viewport.set_mode(mode if mode in MODES else "shaded")
        preset = str(s.value("view/viewport_preset", "camera"))
        self.viewport.preset = preset if preset in PRESETS else "camera"
        self.viewport.set_overlays(wireframe=s.value("view/viewport_wireframe", False, type=bool),
                                   landmarks=s.value("view/viewport_landmarks", True, type=bool))
        self.mode_combo = QComboBox()
        for m in MODES:
            self.mode_combo.addItem(MODE_LABELS[m], m)
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
        self.wire_check = QCheckBox("Wire")
        self.wire_check.setChecked(self.viewport.show_wireframe)
        self.lm_check = QCheckBox("Landmarks")
        self.lm_check.setChecked(self.viewport.show_landmarks)
        bar.addWidget(self.wire_check)
        bar.addWidget(self.lm_check)
        bar.addStretch(1)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(bar)
        lay.addWidget(self.viewport.widget, 1)
        R, B = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.viewport_dock = self._dock("3D viewport", box, R)
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
                              "flow": SegmentsOverlayItem(QColor(255, 255, 255), 1.5)}
        for name, z in OVERLAYS.items():
            v.add_overlay(name, self.overlay_items[name], z)
            v.set_overlay_enabled(name, s.value(f"view/overlay_{name}", name == "mesh", type=bool))
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

    def show_preset(self, preset: str | None) -> None:
        """Highlight the preset button of ``preset`` (None: none, the view was moved by hand)."""
        for p, b in self.preset_buttons.items():
            b.setChecked(p == preset)
