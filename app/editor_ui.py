"""The expression editor inside the main window: panels, actions, project, autosave, export.

:class:`EditorUI` is created by :class:`~app.main_window.MainWindow`. It adds the dock
panels (3D viewport, expressions, curves, fit error), the Project / Edit / Export
actions, the video overlays (mesh wireframe, fit-error heat, flow) and the edited
preview (edited, original, or side by side), and keeps the view options in QSettings.

State lives in :class:`~app.editor.EditorDocument` (``ui.doc``); edited frames are
rendered by :class:`~app.editor.PreviewWorker` off the GUI thread.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QMessageBox, QToolButton, QVBoxLayout, QWidget,
)

from app.editor import EditorDocument, PreviewWorker, read_project_for_editing
from app.error_reporting import show_error
from app.jobs import Job
from app.process_jobs import export_edit
from app.recovery import RECOVERY_KEY, RecoveryStore
from app.viewport import MODE_LABELS, MODES, PRESETS, ViewportController
from core.edits import PROJECT_KEY
from core.errors import UserFacingError
# imported at start-up, not on first use: the first import of core.render costs ~25 ms of
# GUI thread, which would land in the turn that puts a reconstruction on screen
from core.flow import clip_vertex_flow_scales, flow_pair
from core.flow.colour import flow3d_to_rgb  # Eq. 6.5 HSV coding
from core.model.registry import remember_model
from core.render.overlay import heat_colours
from widgets.curve_editor import CurveEditor, FitErrorPlot
from widgets.expression_panel import ExpressionPanel
from widgets.video_view import ColouredPointsItem, SegmentsOverlayItem

log = logging.getLogger(__name__)

COMPARE_MODES = ("edited", "original", "side_by_side")
#: autosave this long after the last change (a burst of slider moves saves once)
AUTOSAVE_DELAY_MS = 1500
PROJECT_SUFFIX = ".fsproj"
MAX_MESH_EDGES = 6000
#: delay between showing a new reconstruction's frame and mesh and its plots (ms)
ROWS_DELAY_MS = 30
#: expression rows built per event-loop turn after a reconstruction (each ~2 ms incl. layout)
ROWS_PER_TURN = 6
MAX_FLOW_ARROWS = 800
#: resolution of the edited preview while a slider is dragged (full resolution on release):
#: the warp's cost goes with the pixel count, so a drag stays well within 100 ms per frame
DRAG_PREVIEW_SCALE = 0.5


def is_project_folder(path: str) -> bool:
    return Path(path).is_dir() and (Path(path) / "project.json").is_file()


def _edges(triangles: np.ndarray) -> np.ndarray:
    e = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


class EditorUI(QObject):
    """Signals: ``preview_shown(index, latency_ms)`` an edited frame reached the view;
    ``project_saved(path)``, ``project_loaded(path)``, ``project_failed(path, message)``."""

    preview_shown = Signal(int, float)
    project_saved = Signal(str)
    project_loaded = Signal(str)
    project_failed = Signal(str, str)
    autosaved = Signal(bool, str)  # (ok, message): from the autosave thread

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.settings = win.settings
        self.doc = EditorDocument(self)
        self.preview = PreviewWorker(self)
        self.preview.start()
        self.project_path: str | None = None
        self.model_spec = str(self.settings.value("editor/model", "builtin"))
        self.ask_to_save = True
        self.compare_mode = str(self.settings.value("view/compare", "edited"))
        if self.compare_mode not in COMPARE_MODES:
            self.compare_mode = "edited"
        self._latest_serial = 0
        self._request_t: dict[int, tuple[float, bool]] = {}  # serial -> (time, full resolution)
        self.preview_latencies_ms: list[float] = []
        #: the last edited frame: (index, image, full resolution)
        self._edited_frame: tuple[int, np.ndarray, bool] | None = None
        self._dragging = False  # a slider is held: previews at DRAG_PREVIEW_SCALE
        self.last_preview_full = True  # the last shown preview was full resolution
        self._edges = None
        self._repeated = np.zeros(0, bool)  # (F,) frames that repeat their predecessor's picture
        self._clip_flow_scales = None  # (cm, px) flow colour scales of the reconstruction
        self._selected: str | None = None
        # the expression rows of a finished reconstruction are built one event-loop turn
        # later (see _on_reconstruction_changed); the serial drops a superseded build
        self._defer_rows = False
        self._rows_serial = 0
        self._plots_pending = False  # the plots of a new reconstruction follow a turn later
        #: True while a finished reconstruction is still being put on screen (the
        #: window counts it as part of the job: no new job, job_running stays True)
        self.result_pending = False

        self._build_panels()
        self._build_overlays()
        self._build_actions()
        self._connect()
        # crash recovery: this window's session marker and autosave folder (app.recovery)
        settings_dir = Path(self.settings.fileName()).parent
        self.recovery = RecoveryStore(settings_dir / "sessions",
                                      legacy_project=settings_dir / f"recovery{PROJECT_SUFFIX}")
        self.recovery.begin_session()
        self._end_decided = False  # the user saved or discarded at close: no recovery needed
        self._autosave_thread: threading.Thread | None = None
        self._autosave_again = False
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosaved.connect(self._on_autosaved)
        self.update_actions()

    # ----------------------------------------------------------------------------------
    # construction
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self.win)
        d.setObjectName(title.lower().replace(" ", "_"))
        d.setWidget(widget)
        self.win.add_panel(d, area)
        return d

    def _build_panels(self) -> None:
        s = self.settings
        self.viewport = ViewportController(parent=self)
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
        self.preset_buttons = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 2)
        bar.addWidget(self.mode_combo)
        for p in PRESETS:
            b = QToolButton()
            b.setText(p.capitalize())
            b.setCheckable(True)
            b.setAutoExclusive(True)
            b.setChecked(p == self.viewport.preset)
            b.setToolTip({"camera": "The fitted camera view of this frame", "front": "Front view",
                          "side": "Side view (profile)", "top": "Top view"}[p])
            b.clicked.connect(lambda _c=False, p=p: self.set_viewport_preset(p))
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
        self.win.tabifyDockWidget(self.curves_dock, self.fit_error_dock)
        self.curves_dock.raise_()
        state = self.settings.value("window/state")
        if state is not None:
            self.win.restoreState(state)
        else:
            self.apply_default_layout()

    def apply_default_layout(self) -> None:
        """First-run dock sizes: a big video, a right-hand column of ~36% of the window with
        the 3D view and the sliders sharing its height equally (QA users look at the mesh,
        artists at the sliders), and a curve strip of ~26% of the height."""
        w, h = max(self.win.width(), 900), max(self.win.height(), 600)
        self.curves_dock.raise_()
        self.win.resizeDocks([self.viewport_dock], [int(0.36 * w)], Qt.Orientation.Horizontal)
        self.win.resizeDocks([self.viewport_dock, self.expressions_dock], [int(0.36 * h), int(0.36 * h)],
                             Qt.Orientation.Vertical)
        self.win.resizeDocks([self.curves_dock], [int(0.26 * h)], Qt.Orientation.Vertical)

    def _build_overlays(self) -> None:
        from PySide6.QtGui import QColor

        v = self.win.view
        self.mesh_item = SegmentsOverlayItem(QColor(90, 200, 255, 150), 1.0)
        self.error_item = ColouredPointsItem(3.0)
        self.flow_item = SegmentsOverlayItem(QColor(255, 255, 255), 1.5)
        for name, item, z in (("mesh", self.mesh_item, 6), ("error", self.error_item, 8), ("flow", self.flow_item, 7)):
            v.add_overlay(name, item, z)
            on = self.settings.value(f"view/overlay_{name}", name == "mesh", type=bool)
            v.set_overlay_enabled(name, on)
            v.set_overlay_has_data(name, False)

    def _act(self, text, slot, shortcut=None, tip="", checkable=False) -> QAction:
        return self.win.new_action(text, slot, shortcut, tip, checkable)

    def _build_actions(self) -> None:
        w = self.win
        K = QKeySequence.StandardKey
        self.act_new = self._act("&New project", self.new_project, K.New, "Close the project and start afresh")
        self.act_open_project = self._act("Open &project...", self.open_project_dialog, "Ctrl+Shift+P",
                                          "Open a FaceStudio project folder")
        self.act_save = self._act("&Save project", self.save_project, K.Save, "Save the project")
        self.act_save_as = self._act("Save project &as...", self.save_project_as, K.SaveAs)
        self.act_reconstruct = self._act("&Reconstruct", self.reconstruct, "Ctrl+R",
                                         "Track the face and fit the 3D face model over the whole clip")
        self.act_undo = self.doc.undo_stack.createUndoAction(w, "&Undo")
        self.act_undo.setShortcut(K.Undo)
        self.act_redo = self.doc.undo_stack.createRedoAction(w, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        w.addAction(self.act_undo)
        w.addAction(self.act_redo)
        self.act_set_key = self._act("Set &key", self.set_key, "K",
                                     "Key the selected component (or every edited one) at this frame")
        self.act_delete_key = self._act("&Delete key", self.delete_key, "Shift+K",
                                        "Delete the selected component's key at this frame")
        self.act_next_key = self._act("Next key", lambda: self.jump_key(1), "Ctrl+Right")
        self.act_prev_key = self._act("Previous key", lambda: self.jump_key(-1), "Ctrl+Left")
        self.act_loop = self._act("&Loop playback", self._on_loop, "Ctrl+L", "Play the clip in a loop",
                                  checkable=True)
        self.act_loop.setChecked(self.settings.value("view/loop", True, type=bool))
        self.compare_group = QActionGroup(self)
        self.compare_actions = {}
        for m, label, key in (("edited", "Show &edited", "E"), ("original", "Show &original", "O"),
                              ("side_by_side", "&Side by side", "B")):
            a = self._act(label, lambda _c=False, m=m: self.set_compare_mode(m), key, checkable=False)
            a.setCheckable(True)
            a.setChecked(m == self.compare_mode)
            self.compare_group.addAction(a)
            self.compare_actions[m] = a
        self.overlay_actions = {}
        for name, label, key in (("mesh", "Mesh &wireframe", "W"), ("error", "Fit &error heat", "Shift+E"),
                                 ("flow", "3D &flow", "F")):
            a = self._act(label, lambda on, n=name: self._on_overlay(n, on), key, checkable=True)
            a.blockSignals(True)
            a.setChecked(w.view.overlay_enabled(name))
            a.blockSignals(False)
            self.overlay_actions[name] = a
        self.export_actions = {}
        for kind, label in (("video", "Edited &video (mp4)..."), ("png", "&PNG sequence..."),
                            ("obj", "Meshes (&OBJ)..."), ("ply", "Meshes (P&LY)..."),
                            ("csv", "Expression curves (&CSV)..."), ("json", "Expression curves (&JSON)...")):
            self.export_actions[kind] = self._act(label, lambda k=kind: self.export_dialog(k))

        mn = w.menus
        mn.add("file", "project", self.act_new, self.act_open_project)
        mn.add("file", "save", self.act_save, self.act_save_as)
        mn.add_submenu("file", "export", "&Export").addActions(list(self.export_actions.values()))
        mn.add("edit", "undo", self.act_undo, self.act_redo)
        mn.add("edit", "keys", self.act_set_key, self.act_delete_key, self.act_prev_key, self.act_next_key)
        mn.add("edit", "reconstruct", self.act_reconstruct)
        mn.add("view", "compare", *self.compare_actions.values())
        mn.add("view", "overlays", *self.overlay_actions.values())
        mn.add("playback", "options", self.act_loop)
        mn.add("track", "reconstruct", self.act_reconstruct)
        tb = w.toolbar
        tb.insertAction(w.act_cancel, self.act_reconstruct)
        tb.addSeparator()
        tb.addActions([self.act_undo, self.act_redo, self.act_set_key])
        tb.addSeparator()
        tb.addActions(list(self.compare_actions.values()))
        w.session.loop = self.act_loop.isChecked()

    def _connect(self) -> None:
        w, d = self.win, self.doc
        w.session.frame_shown.connect(self._on_frame_shown)
        w.media_opened.connect(self._on_media_opened)
        d.edits_changed.connect(self._on_edits_changed)
        d.reconstruction_changed.connect(self._on_reconstruction_changed)
        # autosave after each change: indexChanged comes after push/undo/redo (edits_changed
        # comes during them, while the stack still counts as clean)
        # (a method, not a lambda: Qt drops the connection when this object goes away)
        d.undo_stack.indexChanged.connect(self._schedule_autosave)
        d.reconstruction_changed.connect(self._schedule_autosave)
        d.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.preview.ready.connect(self._on_preview_ready)
        self.preview.failed.connect(lambda m: w.statusBar().showMessage(m, 8000))
        p = self.expressions
        p.drag_started.connect(self._on_drag_started)
        p.drag_finished.connect(self._on_drag_finished)
        p.offset_changed.connect(self._on_offset_changed)
        p.reset_requested.connect(d.reset)
        p.component_selected.connect(self.select_component)
        p.components_ready.connect(self._on_rows_ready)
        c = self.curves
        c.seek_requested.connect(w.session.seek)
        c.key_moved.connect(d.move_key)
        c.set_key_requested.connect(self.set_key)
        c.delete_key_requested.connect(self.delete_key)
        c.interpolation_changed.connect(d.set_interpolation)
        c.range_changed.connect(d.set_range)
        self.fit_error.seek_requested.connect(w.session.seek)
        self.mode_combo.currentIndexChanged.connect(lambda i: self.set_viewport_mode(self.mode_combo.itemData(i)))
        self.wire_check.toggled.connect(self._on_viewport_overlays)
        self.lm_check.toggled.connect(self._on_viewport_overlays)

    # ----------------------------------------------------------------------------------
    # view options
    def set_viewport_mode(self, mode: str) -> None:
        self.viewport.set_mode(mode)
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(MODES.index(mode))
        self.mode_combo.blockSignals(False)
        self.settings.setValue("view/viewport_mode", mode)
        self._update_viewport()

    def set_viewport_preset(self, preset: str) -> None:
        self.viewport.set_preset(preset)
        self.preset_buttons[preset].setChecked(True)
        self.settings.setValue("view/viewport_preset", preset)

    def _on_viewport_overlays(self) -> None:
        self.viewport.set_overlays(self.wire_check.isChecked(), self.lm_check.isChecked())
        self.settings.setValue("view/viewport_wireframe", self.wire_check.isChecked())
        self.settings.setValue("view/viewport_landmarks", self.lm_check.isChecked())

    def _on_overlay(self, name: str, on: bool) -> None:
        self.win.view.set_overlay_enabled(name, on)
        self.settings.setValue(f"view/overlay_{name}", bool(on))
        self._update_overlays()

    def _on_loop(self, on: bool) -> None:
        self.win.session.loop = bool(on)
        self.settings.setValue("view/loop", bool(on))

    def set_compare_mode(self, mode: str) -> None:
        self.compare_mode = mode
        self.compare_actions[mode].setChecked(True)
        self.settings.setValue("view/compare", mode)
        self._show_frame()

    # ----------------------------------------------------------------------------------
    # frames
    @property
    def index(self) -> int:
        return self.win.session.index

    def _on_media_opened(self, path: str) -> None:
        rec = self.doc.rec
        if rec is not None and Path(rec.source).resolve() != Path(path).resolve():
            self.doc.clear()
            self.project_path = None
            self._update_title()

    def _frame_in_rec(self) -> bool:
        return self.doc.has_reconstruction and 0 <= self.index < self.doc.num_frames

    def _on_frame_shown(self, index: int, frame) -> None:
        self.curves.set_position(index)
        self.fit_error.set_position(index)
        self._edited_frame = None
        self._refresh_frame_ui()
        self._show_frame()

    def _refresh_frame_ui(self) -> None:
        if not self._frame_in_rec():
            return
        self._refresh_panel_values()
        self._update_viewport()
        self._update_overlays()

    def _refresh_panel_values(self) -> None:
        d = self.doc
        fitted, off, edited = d.frame_values(self.index)
        keyed = {n for n, c in d.edits.components.items() if self.index in c.keys}
        self.expressions.set_values(d.names, fitted, off, edited, keyed, set(d.edits.components))

    def _show_frame(self) -> None:
        """Show the original, edited or side-by-side frame; request a render if needed."""
        s = self.win.session
        frame = s.frame
        if frame is None:
            return
        if self.compare_mode == "original" or not self._frame_in_rec() or self.doc.edit_is_zero_at(self.index):
            edited = frame
        elif (self._edited_frame is not None and self._edited_frame[0] == self.index
              and (self._edited_frame[2] or self._dragging)):
            edited = self._edited_frame[1]  # (a reduced-resolution frame only while dragging)
        else:
            self._request_preview()
            edited = None  # keep what is shown until the render arrives
        if edited is None:
            return
        if self.compare_mode == "side_by_side":
            self.win.view.set_frame(np.concatenate([frame, edited], axis=1))
        elif self.compare_mode == "original":
            self.win.view.set_frame(frame)
        else:
            self.win.view.set_frame(edited)

    def _request_preview(self) -> None:
        s = self.win.session
        if s.frame is None or not self._frame_in_rec():
            return
        full = not self._dragging
        serial = self.preview.request(self.index, s.frame, self.doc.edited_expressions()[self.index],
                                      1.0 if full else DRAG_PREVIEW_SCALE)
        self._latest_serial = serial
        self._request_t[serial] = (time.perf_counter(), full)

    def _on_preview_ready(self, index: int, image, ms: float, serial: int) -> None:
        t, full = self._request_t.pop(serial, (None, True))
        for k in [k for k in self._request_t if k < serial]:
            self._request_t.pop(k, None)  # superseded requests never come back
        if serial != self._latest_serial or index != self.index:
            return
        self._edited_frame = (index, image, full)
        self.last_preview_full = full
        self._show_frame()
        latency = (time.perf_counter() - t) * 1000.0 if t is not None else ms
        self.preview_latencies_ms.append(latency)
        self.preview_shown.emit(index, latency)

    def _update_viewport(self) -> None:
        d = self.doc
        if not self._frame_in_rec():
            return
        f = self.index
        E = d.edited_expressions()
        V = d.rec.vertices(d.model, f, E[f])
        flow = flow_rgb = None
        if self.viewport.mode in ("flow", "flow_arrows") and d.num_frames > 1:
            a, b = flow_pair(self._repeated, f)
            flow = d.rec.vertices(d.model, b, E[b]) - d.rec.vertices(d.model, a, E[a])
            flow_rgb = flow3d_to_rgb(flow, self._flow_scales()[0])  # the clip's scale (core.flow.colour)
        img_pts = d.rec.posed_vertices(d.model, f)[:, :2]
        self.viewport.set_mesh(V, d.rec.rotation[f], image=self.win.session.frame,
                               image_points=img_pts, flow=flow, flow_colours=flow_rgb,
                               landmarks=d.model.landmarks68)

    def _flow_scales(self) -> tuple[float, float]:
        """The clip's flow colour scales (model cm, image px): core.flow.clip_vertex_flow_scales."""
        if self._clip_flow_scales is None:
            self._clip_flow_scales = clip_vertex_flow_scales(self.doc.rec, self.doc.model)
        return self._clip_flow_scales

    def _update_overlays(self) -> None:
        d, v = self.doc, self.win.view
        # no overlay where the tracker found no face: that frame's fit is borrowed from the
        # nearest fitted frame and drawing it would suggest a face that is not there
        if not self._frame_in_rec() or not bool(d.rec.valid[self.index]):
            for n in ("mesh", "error", "flow"):
                v.set_overlay_has_data(n, False)
            return
        f = self.index
        E = d.edited_expressions()
        P = d.rec.posed_vertices(d.model, f, E[f])
        if v.overlay_enabled("mesh"):
            if self._edges is None:
                e = _edges(np.asarray(d.model.triangles))
                self._edges = e[:: max(1, len(e) // MAX_MESH_EDGES)]
            self.mesh_item.set_segments(P[self._edges][:, :, :2])
        v.set_overlay_has_data("mesh", True)
        has_err = False
        if v.overlay_enabled("error"):
            tr = d.track
            if tr is not None and f < tr.num_frames and tr.valid[f] and d.model.embedding is not None:
                fitted_P = d.rec.posed_vertices(d.model, f)
                pts = d.model.embedded_points(fitted_P)[:, :2]
                obs = tr.landmarks[f, :len(pts), :2]
                err = np.linalg.norm(obs - pts, axis=1)
                self.error_item.set_points(obs, heat_colours(err, 8.0))
                has_err = True
        v.set_overlay_has_data("error", has_err)
        has_flow = False
        if v.overlay_enabled("flow") and d.num_frames > 1:
            a, b = flow_pair(self._repeated, f)
            g = b if a == f else a
            Q = d.rec.posed_vertices(d.model, g, E[g])
            disp = (Q - P) * (1 if g > f else -1)
            idx = np.arange(0, len(P), max(1, len(P) // MAX_FLOW_ARROWS))
            seg = np.stack([P[idx, :2], P[idx, :2] + 3.0 * disp[idx, :2]], axis=1)
            self.flow_item.set_segments(seg, flow3d_to_rgb(disp[idx], self._flow_scales()[1]))
            has_flow = True
        v.set_overlay_has_data("flow", has_flow)

    # ----------------------------------------------------------------------------------
    # editing
    def _on_drag_started(self, _name: str) -> None:
        self._dragging = True
        self.doc.begin_gesture()

    def _on_drag_finished(self, _name: str) -> None:
        self._dragging = False
        self._show_frame()  # the full-resolution frame replaces the drag preview

    def _on_offset_changed(self, name: str, value: float) -> None:
        if self._frame_in_rec():
            self.doc.set_offset(name, self.index, value)

    def select_component(self, name: str) -> None:
        self._selected = name
        if self.expressions.selected != name:
            self.expressions.select(name)
        self._update_curves()

    def _selected_or_edited(self) -> list[str]:
        if self._selected:
            return [self._selected]
        return list(self.doc.edits.components)

    def set_key(self) -> None:
        if self._frame_in_rec():
            self.doc.set_key(self._selected_or_edited(), self.index)

    def delete_key(self) -> None:
        if self._frame_in_rec():
            names = [n for n in self._selected_or_edited() if self.doc.edits.has_key(n, self.index)]
            if names:
                self.doc.delete_key(names, self.index)

    def jump_key(self, direction: int) -> None:
        if not self._frame_in_rec():
            return
        names = self._selected_or_edited()
        frames = np.unique(np.concatenate([self.doc.edits.key_frames(n) for n in names] + [np.zeros(0, np.int64)]))
        cand = frames[frames > self.index] if direction > 0 else frames[frames < self.index][::-1]
        if cand.size:
            self.win.session.seek(int(cand[0]))

    def _on_edits_changed(self) -> None:
        self._edited_frame = None
        # the edited frame's render request goes out first: the preview thread works on it
        # while this thread updates the panel, the 3D mesh, the overlays and the curves
        self._show_frame()
        self._refresh_frame_ui()
        self._update_curves()
        self.curves.set_range(None if self.doc.edits.edit_range is None else
                              self.doc.edits.to_dict()["range"])
        self._update_title()
        self.update_actions()

    def _update_curves(self) -> None:
        if self._plots_pending:
            return  # a new reconstruction's plots are drawn a turn later (_show_plots)
        if not self.doc.has_reconstruction or self._selected not in self.doc.names:
            self.curves.show_component(None)
            return
        self.curves.show_component(self._selected, **self.doc.component_curves(self._selected))

    def _on_reconstruction_changed(self) -> None:
        d = self.doc
        self._edges = None
        self._edited_frame = None
        self._rows_serial += 1
        if d.rec is None:
            self._plots_pending = False
            self.result_pending = False
            self.expressions.set_components([])
            self.curves.set_clip(0)
            self.curves.show_component(None)
            self.fit_error.set_errors(None)
            self.viewport.clear_mesh()
            self._update_overlays()
            self.update_actions()
            return
        self.preview.set_reconstruction(d.model, d.rec)
        tri = np.asarray(d.model.triangles)
        self._repeated = d.rec.repeated
        self._clip_flow_scales = None  # computed when a flow view first needs them
        self.viewport.set_topology(tri, d.model.num_vertices, d.model.mean)
        if self._selected not in d.names:
            self._selected = "jawOpen" if "jawOpen" in d.names else (d.names[0] if d.names else None)
        # (edits_changed follows at once: it puts the frame, the 3D mesh and the overlays on screen)
        if self._defer_rows:
            # Putting a reconstruction on screen costs ~200 ms of GUI thread (the 3D mesh and
            # overlays, the two plots, ~50 slider rows, each with its first layout and paint).
            # In one turn that stalls the window, so it is spread over event-loop turns: frame
            # and mesh now, the plots next, then the rows a few per turn. Not 0 ms timers: Qt
            # fires those before the repaint and the other due timers.
            self._defer_rows = False
            self._plots_pending = True
            serial = self._rows_serial
            QTimer.singleShot(ROWS_DELAY_MS, self, lambda: self._show_plots(serial))
        else:
            self._plots_pending = False
            self._show_plots(self._rows_serial)
        self.update_actions()

    def _show_plots(self, serial: int) -> None:
        """Second stage of showing a reconstruction: curve and fit-error plots, then the rows."""
        d = self.doc
        if serial != self._rows_serial or d.rec is None:
            return  # superseded by a newer reconstruction (or cleared) meanwhile
        deferred = self._plots_pending
        self._plots_pending = False
        self.curves.set_clip(d.num_frames)
        self.fit_error.set_errors(d.rec.fit_error_px, d.rec.valid)
        self._update_curves()
        self.expressions.set_components(d.names, d.bounds, rows_per_turn=ROWS_PER_TURN if deferred else 0)

    def _on_rows_ready(self) -> None:
        """All expression rows exist: select, show this frame's values, the result is on screen."""
        d = self.doc
        if d.rec is None:
            return
        if self._selected:
            self.expressions.select(self._selected)
        if self._frame_in_rec():
            self._refresh_panel_values()
        if self.result_pending:
            self.result_pending = False
            self.win.update_actions()

    # ----------------------------------------------------------------------------------
    # reconstruction
    def reconstruct(self, max_frames: int | None = None) -> bool:
        w, s = self.win, self.win.session
        if w.job_running or not s.is_open or s.is_live:
            return False
        track = s.track_result
        if track is not None and max_frames is not None and track.num_frames > max_frames:
            track = None
        from core.fitting.clip import reconstruct_clip  # (its imports are the worker process's)
        from core.result_cache import ResultCache

        # in a worker process (MediaPipe and the fit hold the GIL); it returns the model too
        job = Job(reconstruct_clip, s.path, self.model_spec, track=track, max_frames=max_frames,
                  cache=ResultCache(), name="Reconstructing", in_process=True)
        w.start_job(job, self._on_reconstructed)
        return True

    def _on_reconstructed(self, result) -> None:
        track, rec, model = result.track, result.reconstruction, result.model
        # the worker process built the model: reuse it here (opening a project needs it)
        remember_model(rec.model_spec or self.model_spec, model)
        self.win.session.set_track_result(track)
        self._defer_rows = self.result_pending = True
        self.doc.set_reconstruction(rec, model, track)
        e = rec.fit_error_px[np.isfinite(rec.fit_error_px)]
        med = f"median fit error {np.median(e):.2f} px" if e.size else "no frame fitted"
        self.win.statusBar().showMessage(f"Reconstructed {rec.num_frames} frames ({med}). "
                                         "Move a slider in Expressions to edit.", 15000)

    # ----------------------------------------------------------------------------------
    # project
    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _update_title(self) -> None:
        s = self.win.session
        name = Path(self.project_path).name if self.project_path else (s.display_name or "FaceStudio")
        dirty = "" if self.doc.undo_stack.isClean() else " *"
        self.win.setWindowTitle(f"{name}{dirty} - FaceStudio")

    def update_actions(self) -> None:
        """Enable the editor's actions for the current state."""
        w = self.win
        has = self.doc.has_reconstruction
        running = w.job_running
        s = w.session
        self.act_reconstruct.setEnabled(s.is_open and not s.is_live and not running)
        for a in (self.act_save, self.act_save_as):
            a.setEnabled(has)
        for a in self.export_actions.values():
            a.setEnabled(has and not running)
        for a in (self.act_set_key, self.act_delete_key, self.act_next_key, self.act_prev_key):
            a.setEnabled(has)

    def make_project(self, for_recovery: bool = False):
        """The open work as a Project. ``for_recovery``: an autosave, which records the
        project folder it belongs to (so a recovered project is saved back there)."""
        from core.project import Project

        d = self.doc
        view = {"viewport_mode": self.viewport.mode, "viewport_preset": self.viewport.preset,
                "compare": self.compare_mode, "selected": self._selected, "frame": int(self.index),
                "overlays": {n: self.win.view.overlay_enabled(n) for n in ("mesh", "error", "flow", "landmarks")}}
        settings = {"view": view}
        if for_recovery:
            settings[RECOVERY_KEY] = {"project_path": self.project_path}
        return Project(source=str(Path(self.win.session.path).resolve()),
                       model_spec=d.rec.model_spec or self.model_spec,
                       reconstruction=d.rec, track=d.track, edits={PROJECT_KEY: d.edits.to_dict()},
                       settings=settings)

    def save_project(self, path: str | None = None) -> bool:
        """Save to ``path`` (or the current project path; asks when there is none)."""
        from core.project import save_project

        if not self.doc.has_reconstruction:
            return False
        path = path or self.project_path
        if path is None:
            return self.save_project_as()
        try:
            save_project(path, self.make_project())
        except (UserFacingError, OSError) as e:
            show_error(self.win, "Cannot save project", f"{path}: {e}")
            return False
        self.project_path = str(path)
        self.doc.undo_stack.setClean()
        self.win.add_recent(str(path))
        self.settings.setValue("editor/last_dir", str(Path(path).parent))
        self.autosave_timer.stop()
        self._wait_autosave()
        self.recovery.discard_own_work()  # everything is in the project now
        self._update_title()
        self.win.statusBar().showMessage(f"Saved {path}", 6000)
        self.project_saved.emit(str(path))
        return True

    def save_project_as(self) -> bool:
        if not self.doc.has_reconstruction:
            return False
        start = self.settings.value("editor/last_dir", str(Path.home()))
        suggested = str(Path(start) / (Path(self.win.session.path).stem + PROJECT_SUFFIX))
        path, _ = QFileDialog.getSaveFileName(self.win, "Save project as", suggested,
                                              f"FaceStudio project (*{PROJECT_SUFFIX})")
        if not path:
            return False
        if not path.endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        return self.save_project(path)

    def open_project_dialog(self) -> None:
        start = self.settings.value("editor/last_dir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self.win, "Open project folder", start)
        if path:
            self.open_project(path)

    def confirm_discard(self) -> bool:
        """True when it is fine to drop the current edits (saved, or the user agreed)."""
        if self.doc.undo_stack.isClean():
            return True
        if not self.ask_to_save:
            return True  # (tools and tests) the autosave keeps the work for the next start
        b = QMessageBox.question(self.win, "Unsaved edits", "The project has unsaved edits. Save them first?",
                                 QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                                 | QMessageBox.StandardButton.Cancel)
        if b == QMessageBox.StandardButton.Save:
            return self.save_project()
        return b == QMessageBox.StandardButton.Discard

    def confirm_close(self) -> bool:
        """The window is closing: True when it may (saved, clean, or the user discarded).
        A decided close leaves nothing for recovery; see :meth:`shutdown`."""
        ok = self.confirm_discard()
        self._end_decided = ok and self.ask_to_save
        return ok

    def open_project(self, path: str, recovered: bool = False) -> bool:
        """Start opening a project folder. It is read on a worker thread (project arrays,
        model, video probe and first frame) and then put on screen over a few event-loop
        turns; ``project_loaded(path)`` follows, or, for a bad project, a message naming
        the file and the cause and ``project_failed(path, message)``, with everything
        left as it was. Returns False when it cannot start (a job runs, or the user kept
        the unsaved edits)."""
        w = self.win
        if w.job_running:
            w.statusBar().showMessage(f"Cannot open {path} while {w.job.name.lower()} runs.", 6000)
            return False
        if not recovered and not self.confirm_discard():
            return False
        job = Job(read_project_for_editing, str(path), name="Opening project")
        # (the failure message is shown here, titled for it)
        w.start_job(job, lambda r: self._on_project_read(str(path), recovered, r),
                    on_failed=lambda msg: self._on_project_failed(str(path), msg))
        w.statusBar().showMessage(f"Opening project {path}...")
        return True

    def _on_project_failed(self, path: str, message: str) -> None:
        show_error(self.win, "Cannot open project", message)
        self.project_failed.emit(path, message)

    def _on_project_read(self, path: str, recovered: bool, result) -> None:
        project, edits, model, src, first = result
        w = self.win
        w.session.adopt(str(project.source_path), src, first)
        w.media_opened.emit(str(project.source_path))  # (drops the reconstruction of another clip)
        if project.track is not None:
            w.session.set_track_result(project.track)
        if project.reconstruction is not None:
            self._defer_rows = self.result_pending = True  # the plots and rows follow over a few turns
            self.doc.set_reconstruction(project.reconstruction, model, project.track, edits)
        view = (project.settings or {}).get("view", {})
        if view.get("selected") in self.doc.names:
            self.select_component(view["selected"])
        if recovered:
            # the work belongs to the project it was autosaved from (None: an unsaved clip);
            # it is not saved there yet: mark it dirty
            link = ((project.settings or {}).get(RECOVERY_KEY) or {}).get("project_path")
            self.project_path = str(link) if link else None
            self.doc.undo_stack.resetClean()
            self._schedule_autosave()
            self.win.statusBar().showMessage(
                "Recovered the unsaved work" + (f" of {Path(link).name}" if link else "")
                + ". Save it to keep it (Ctrl+S).", 15000)
        else:
            self.project_path = str(path)
            w.add_recent(str(path))
        frame = int(view.get("frame", 0))
        if 0 < frame < w.session.frame_count:
            w.session.seek(frame)
        self._update_title()
        self.project_loaded.emit(str(path))

    def new_project(self) -> None:
        if not self.confirm_discard():
            return
        self.doc.clear()
        self.project_path = None
        self._update_title()

    # -- autosave / recovery --------------------------------------------------------------
    def needs_autosave(self) -> bool:
        """Unsaved work: edits not saved, or a reconstruction that is in no project yet."""
        d = self.doc
        return d.has_reconstruction and (not d.undo_stack.isClean() or self.project_path is None)

    def _schedule_autosave(self, *_args) -> None:
        if self.needs_autosave():
            self.autosave_timer.start()  # (re)started: saves once a burst of changes is over

    def autosave(self, wait: bool = False) -> bool:
        """Write the unsaved work into this session's recovery folder, on a background thread
        (``wait``: on this thread, e.g. at exit). Returns False when there was nothing to save.
        A save already running makes this one follow it."""
        if not self.needs_autosave():
            return False
        if self._autosave_thread is not None and self._autosave_thread.is_alive():
            if not wait:
                self._autosave_again = True
                return True
            self._autosave_thread.join()
        project = self.make_project(for_recovery=True)  # a snapshot: edits are copied, arrays shared
        target = self.recovery.project_path
        if wait:
            self._write_autosave(target, project)
            return True
        self._autosave_thread = threading.Thread(target=self._write_autosave, args=(target, project),
                                                 name="autosave", daemon=True)
        self._autosave_thread.start()
        return True

    def _write_autosave(self, target: Path, project) -> None:
        from core.project import save_project

        try:
            save_project(target, project)
        except Exception as e:  # noqa: BLE001 (autosave must never interrupt the user)
            log.warning("autosave into %s failed: %s", target, e)
            self.autosaved.emit(False, f"Autosave failed: {e}")
            return
        self.autosaved.emit(True, "Autosaved")

    def _wait_autosave(self) -> None:
        if self._autosave_thread is not None:
            self._autosave_thread.join()

    def _on_autosaved(self, ok: bool, message: str) -> None:
        self.win.statusBar().showMessage(message, 2000 if ok else 10000)
        if self._autosave_again:
            self._autosave_again = False
            self.autosave_timer.start()

    def offer_recovery(self, then_open: str | None = None) -> bool:
        """On start: offer back the work of sessions that ended abnormally (crash, kill, power
        loss). Returns True when recovered work is being opened. ``then_open``: the file the
        app was started with (kept in the recent files when the recovered work opens instead)."""
        orphans = self.recovery.orphans()
        for o in [o for o in orphans if o.project is None]:
            log.warning("an earlier session ended abnormally with nothing unsaved (%s)", o.marker)
            self.recovery.discard(o)
        work = [o for o in orphans if o.project is not None]
        if not work:
            if orphans:
                self.win.statusBar().showMessage("FaceStudio did not close normally last time; nothing unsaved "
                                                 "was lost.", 10000)
            return False
        o = work[0]
        what = Path(o.belongs_to).name if o.belongs_to else (Path(o.source).name if o.source else "a clip")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(o.saved_at))
        b = QMessageBox.question(self.win, "Recover unsaved work",
                                 f"FaceStudio did not close normally. Recover the unsaved work on {what} "
                                 f"(autosaved {when})?",
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if b != QMessageBox.StandardButton.Yes:
            self.recovery.discard(o)
            return False
        path = self.recovery.adopt(o)
        if then_open:
            self.win.add_recent(str(then_open))
        return self.open_project(str(path), recovered=True)

    # ----------------------------------------------------------------------------------
    # export
    def export_dialog(self, kind: str) -> None:
        start = Path(self.settings.value("editor/last_dir", str(Path.home())))
        stem = Path(self.win.session.path or "clip").stem
        if kind in ("video", "csv", "json"):
            ext = {"video": "mp4", "csv": "csv", "json": "json"}[kind]
            path, _ = QFileDialog.getSaveFileName(self.win, f"Export {kind}", str(start / f"{stem}_edited.{ext}"),
                                                  f"{ext.upper()} (*.{ext})")
        else:
            path = QFileDialog.getExistingDirectory(self.win, f"Export {kind} into folder", str(start))
        if path:
            self.export(kind, path)

    def export(self, kind: str, path: str) -> bool:
        """Run an export in the worker (progress and cancel in the status bar)."""
        d, w = self.doc, self.win
        if not d.has_reconstruction or w.job_running:
            return False
        # in a worker process: the export renderer holds the GIL for long stretches
        job = Job(export_edit, kind, path, w.session.path, d.rec, d.model, d.edits.copy(),
                  name=f"Exporting {kind}", in_process=True)
        self.settings.setValue("editor/last_dir", str(Path(path).parent))
        w.start_job(job, lambda _r: w.statusBar().showMessage(
            f"Exported {path}", 10000))
        return True

    def shutdown(self) -> None:
        """Stop the editor's threads. Unsaved work the user was not asked about (a close
        without a decision, a quit by the system) is autosaved and offered at the next
        start; after a decided close (saved or discarded) nothing is left behind."""
        self.autosave_timer.stop()
        self.viewport.shutdown()
        self.doc.undo_stack.cleanChanged.disconnect(self._on_clean_changed)
        self.doc.undo_stack.indexChanged.disconnect(self._schedule_autosave)
        self.preview.stop()
        self._wait_autosave()
        keep = not self._end_decided and self.needs_autosave() and not self.doc.undo_stack.isClean()
        if keep:
            self.autosave(wait=True)
        self.recovery.end_session(keep_work=keep)
