"""The expression editor inside the main window: it connects the document, the panels, the
edited preview, the project I/O and the actions.

:class:`EditorUI` is created by :class:`~app.main_window.MainWindow` (``window.editor``).
Its parts, each in its own module of this package:

- ``doc``: :class:`~app.editor.document.EditorDocument` (reconstruction, model, edits, undo);
- ``panels`` (and the shortcuts ``viewport``, ``expressions``, ``curves``, ``fit_error``):
  :class:`~app.editor.panels.EditorPanels`, the docks and video overlay items;
- ``preview``: :class:`~app.editor.preview.EditedPreview`, edited frames rendered off the
  GUI thread and shown edited, original or side by side;
- ``io``: :class:`~app.editor.project_io.ProjectIO`, save, open, autosave, recovery;
- ``actions``: :class:`~app.editor.actions.EditorActions`, menus, shortcuts, tool bar.

What is drawn for a frame (overlay segments and points, the viewport's mesh) comes from
core (:class:`core.qa.frame_scene.FrameScene`); this module only hands it to the widgets.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog

from app.editor.actions import EditorActions
from app.editor.document import EditorDocument
from app.editor.legends import fit_error_legend, flow_direction_legend, flow_speed_legend
from app.editor.panels import EditorPanels
from app.editor.preview import EditedPreview
from app.editor.project_io import ProjectIO
from app.jobs import Job
from app.process_jobs import export_edit
from core.edits.fit_correction import Pin, handle_points, refit_with_pins, tracker_points
from app.viewport import MODES
from core.fitting.settings import FitSettings
from core.model.registry import remember_model
from core.neural.library import describe as describe_renderer
from core.neural.library import find_renderer
from core.qa.fit_error import worst_frames
# imported at start-up, not on first use: the first import of core.render / core.flow costs
# ~25 ms of GUI thread, which would land in the turn that puts a reconstruction on screen
from core.qa.frame_scene import FrameScene

log = logging.getLogger(__name__)

#: delay between showing a new reconstruction's frame and mesh and its plots (ms)
ROWS_DELAY_MS = 30
#: expression rows built per event-loop turn after a reconstruction (each ~2 ms incl. layout)
ROWS_PER_TURN = 6


class EditorUI(QObject):
    """The editor (see the module docstring). Signal ``preview_shown(index, latency_ms)``: an
    edited frame reached the view."""

    preview_shown = Signal(int, float)
    #: "Train a neural renderer on this clip": the saved project's folder, else the clip's path
    #: (the app connects it to the reenactment panel's training, which owns the worker)
    renderer_training_requested = Signal(str)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.settings = win.settings
        self.model_spec = str(self.settings.value("editor/model", "builtin"))
        #: reconstruct with the model personalised to the clip's subject (FitSettings.personalise);
        #: remembered between sessions, default the fit's own default
        self.personalise = self.settings.value("editor/personalise", FitSettings.personalise, type=bool)
        self.doc = EditorDocument(self)
        self.preview = EditedPreview(win, self.doc, str(self.settings.value("view/compare", "edited")), self)
        #: the neural renderer's folder edited frames come from (None: the warp; ``set_neural``)
        self.renderer_model: str | None = None
        self.preview.shown.connect(self.preview_shown)
        self.panels = EditorPanels(win, self)
        p = self.panels
        self.viewport, self.expressions, self.curves, self.fit_error = p.viewport, p.expressions, p.curves, p.fit_error
        self.io = ProjectIO(self)
        #: components whose curves stay shown besides the selected one (Ctrl+click, Pin)
        self.pinned: list[str] = []
        self.show_edited = self.settings.value("editor/curves_show_edited", False, type=bool)
        #: a slider move keys at once (on) or is only shown until K (off, the default: K keys)
        self.auto_key = self.settings.value("editor/auto_key", False, type=bool)
        self.actions = EditorActions(self)
        self.scene: FrameScene | None = None
        self.selected: str | None = None
        #: the fit is being corrected by hand: the video shows draggable points (P toggles)
        self.fixing_fit = False
        self._handle_ids = handle_points()
        self.worst: list[int] = []   # the worst frames by fit error, worst first
        self._worst_pos = -1         # where ] / [ are in that list
        # the expression rows of a finished reconstruction are built over several event-loop
        # turns (see _on_reconstruction_changed); the serial drops a superseded build
        self._defer_rows = False
        self._rows_serial = 0
        self._plots_pending = False  # the plots of a new reconstruction follow a turn later
        #: True while a finished reconstruction is still being put on screen (the
        #: window counts it as part of the job: no new job, job_running stays True)
        self.result_pending = False
        win.session.loop = self.actions.loop.isChecked()
        self._connect()
        self.update_actions()

    def _connect(self) -> None:
        w, d, p = self.win, self.doc, self.panels
        w.session.frame_shown.connect(self._on_frame_shown)
        d.fit_changed.connect(self._on_fit_changed)
        d.edits_changed.connect(self._on_edits_changed)
        d.reconstruction_changed.connect(self._on_reconstruction_changed)
        p.overlay_items["handles"].dragged.connect(self._on_handle_dragged)
        e = self.expressions
        e.drag_started.connect(self._on_drag_started)
        e.drag_finished.connect(self._on_drag_finished)
        e.offset_changed.connect(self._on_offset_changed)
        e.reset_requested.connect(d.reset)
        e.component_selected.connect(self.select_component)
        e.pin_requested.connect(self.toggle_pin)
        e.components_ready.connect(self._on_rows_ready)
        c = self.curves
        c.set_auto_key(self.auto_key)
        c.set_show_edited(self.show_edited)
        c.seek_requested.connect(w.session.seek)
        c.keys_moved.connect(d.move_keys)
        c.keys_deleted.connect(d.delete_keys)
        c.key_type_requested.connect(d.set_key_type)
        c.set_key_requested.connect(self.set_key)
        c.delete_key_requested.connect(self.delete_key)
        c.auto_key_toggled.connect(self.set_auto_key)
        c.component_selected.connect(self.select_component)
        c.pin_toggled.connect(self.toggle_pin)
        c.show_edited_toggled.connect(self.set_show_edited)
        c.range_changed.connect(d.set_range)
        self.fit_error.seek_requested.connect(w.session.seek)
        p.mode_combo.currentIndexChanged.connect(lambda i: self.set_viewport_mode(p.mode_combo.itemData(i)))
        for preset, b in p.preset_buttons.items():
            b.clicked.connect(lambda _c=False, preset=preset: self.set_viewport_preset(preset))
        self.viewport.view_moved.connect(lambda: p.show_preset(None))
        w.theme_changed.connect(self.set_dark)
        self.set_dark(w.dark)
        p.maximise_button.clicked.connect(p.set_viewport_maximised)
        p.detach_button.clicked.connect(p.set_viewport_detached)
        p.wire_check.toggled.connect(self._on_viewport_overlays)
        p.lm_check.toggled.connect(self._on_viewport_overlays)

    # ----------------------------------------------------------------------------------
    # view options
    def set_dark(self, dark: bool) -> None:
        """The plots follow the window's theme."""
        self.curves.set_dark(dark)
        self.fit_error.set_dark(dark)

    def set_viewport_mode(self, mode: str) -> None:
        combo = self.panels.mode_combo
        self.viewport.set_mode(mode)
        combo.blockSignals(True)
        combo.setCurrentIndex(MODES.index(mode))
        combo.blockSignals(False)
        self.settings.setValue("view/viewport_mode", mode)
        self._update_viewport()

    def set_viewport_preset(self, preset: str) -> None:
        self.viewport.set_preset(preset)
        self.panels.show_preset(preset)

    def _on_viewport_overlays(self) -> None:
        p = self.panels
        self.viewport.set_overlays(p.wire_check.isChecked(), p.lm_check.isChecked())
        self.settings.setValue("view/viewport_wireframe", p.wire_check.isChecked())
        self.settings.setValue("view/viewport_landmarks", p.lm_check.isChecked())

    def set_overlay(self, name: str, on: bool) -> None:
        """Show or hide a video overlay: "mesh", "error" or "flow"."""
        self.win.view.set_overlay_enabled(name, on)
        self.settings.setValue(f"view/overlay_{name}", bool(on))
        self._update_overlays()

    def set_loop(self, on: bool) -> None:
        self.win.session.loop = bool(on)
        self.settings.setValue("view/loop", bool(on))

    def set_compare_mode(self, mode: str) -> None:
        """Show the "edited", "original" or "side_by_side" frame."""
        self.preview.compare_mode = mode
        self.actions.compare[mode].setChecked(True)
        self.settings.setValue("view/compare", mode)
        self.preview.show()

    # ----------------------------------------------------------------------------------
    # frames
    @property
    def index(self) -> int:
        return self.win.session.index

    def _frame_in_rec(self) -> bool:
        return self.doc.has_reconstruction and 0 <= self.index < self.doc.num_frames

    def _on_frame_shown(self, index: int, frame) -> None:
        d = self.doc
        if d.has_pending and d.pending_frame != index:
            # auto-key off: a value not keyed belongs to its frame only (as in Blender)
            names = d.discard_pending()
            self.win.statusBar().showMessage(
                f"Not keyed, so dropped: {', '.join(names)} (auto-key is off: press K to key a change "
                "before going to another frame)", 8000)
        self.curves.set_position(index)
        self.fit_error.set_position(index)
        self.preview.invalidate()
        self._refresh_frame_ui()
        self.preview.show()

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
        pending = set(d.pending) if d.pending_frame == self.index else set()
        self.expressions.set_values(d.names, fitted, off, edited, keyed, set(d.edits.components), pending)

    def _update_viewport(self) -> None:
        if not self._frame_in_rec() or self.scene is None:
            return
        with_flow = self.viewport.mode in ("flow", "flow_arrows")
        m = self.scene.viewport_mesh(self.index, self.doc.edited_expressions(), with_flow=with_flow)
        self.viewport.set_mesh(m.vertices, m.rotation, image=self.win.session.frame, image_points=m.image_points,
                               flow=m.flow, flow_colours=m.flow_colours, landmarks=m.landmarks)
        legend = flow_speed_legend(self.scene.flow_scales()[0], "mm", factor=10.0) if with_flow else None
        if legend != self.viewport.widget.legend():
            self.viewport.widget.set_legend(legend)

    def _update_overlays(self) -> None:
        v = self.win.view
        items = self.panels.overlay_items
        if not self._frame_in_rec() or self.scene is None:
            for n in items:
                v.set_overlay_has_data(n, False)
            if self.scene is None:
                self._update_legends(False, False)
            return
        o = self.scene.overlays(self.index, self.doc.edited_expressions(), mesh=v.overlay_enabled("mesh"),
                                error=v.overlay_enabled("error"), flow=v.overlay_enabled("flow"))
        if o.mesh_segments is not None:
            items["mesh"].set_segments(o.mesh_segments)
        if o.error_points is not None:
            items["error"].set_points(o.error_points, o.error_colours)
        if o.flow_segments is not None:
            items["flow"].set_segments(o.flow_segments, o.flow_colours)
        handles = self.fixing_fit and self.scene.has_face(self.index)
        if handles:
            pts = tracker_points(self.doc.rec, self.doc.model, self.index)[self._handle_ids]
            items["handles"].set_handles(pts, self._handle_ids)
            pins = self.doc.pins_at(self.index)
            items["handles"].set_pins(np.array([p.target for p in pins]) if pins else np.zeros((0, 2)))
        v.set_overlay_has_data("handles", handles)
        # (the mesh counts as there when its overlay is merely switched off: the switch shows it)
        v.set_overlay_has_data("mesh", self.scene.has_face(self.index))
        v.set_overlay_has_data("error", o.error_points is not None)
        v.set_overlay_has_data("flow", o.flow_segments is not None)
        self._update_legends(o.error_points is not None, o.flow_segments is not None)

    def _update_legends(self, error: bool, flow: bool) -> None:
        """The colour bars of the overlays shown (units included)."""
        v = self.win.view
        shown = v.legends()
        if error != ("error" in shown):
            v.set_legend("error", fit_error_legend() if error else None)
        if flow != ("flow" in shown):
            v.set_legend("flow", flow_speed_legend(self.scene.flow_scales()[1], "px", arrows=True) if flow else None)
            v.set_legend("flow_direction", flow_direction_legend() if flow else None)

    # ----------------------------------------------------------------------------------
    # editing
    def _on_drag_started(self, name: str) -> None:
        self.preview.dragging = True
        self.doc.begin_gesture()
        if name != self.selected:
            self.select_component(name)  # the curve shown follows the slider being edited

    def _on_drag_finished(self, _name: str) -> None:
        self.preview.dragging = False
        self.preview.show()  # the full-resolution frame replaces the drag preview

    def _on_offset_changed(self, name: str, value: float) -> None:
        if not self._frame_in_rec():
            return
        if name != self.selected:
            self.select_component(name)
        if self.auto_key:
            self.doc.set_offset(name, self.index, value)
        else:
            self.doc.set_pending(name, self.index, value)

    def set_auto_key(self, on: bool) -> None:
        """Auto-key on: a slider move keys at once; off: it shows until K keys it."""
        self.auto_key = bool(on)
        self.settings.setValue("editor/auto_key", self.auto_key)
        self.curves.set_auto_key(self.auto_key)
        a = self.actions.auto_key
        if a.isChecked() != self.auto_key:
            a.blockSignals(True)
            a.setChecked(self.auto_key)
            a.blockSignals(False)
        if self.auto_key and self.doc.has_pending:
            self.doc.commit_pending()  # what is shown becomes what is kept
        self.win.statusBar().showMessage(
            "Auto-key on: moving a slider keys it at this frame." if self.auto_key else
            "Auto-key off: a slider move shows in orange until you press K to key it.", 6000)

    def select_component(self, name: str) -> None:
        self.selected = name
        if self.expressions.selected != name:
            self.expressions.select(name)
        self._update_curves()

    def toggle_pin(self, name: str) -> None:
        """Keep ``name``'s curve shown beside the selected one (or stop)."""
        if name in self.pinned:
            self.pinned.remove(name)
        elif name in self.doc.names:
            self.pinned.append(name)
        self._update_curves()

    def set_show_edited(self, on: bool) -> None:
        self.show_edited = bool(on)
        self.settings.setValue("editor/curves_show_edited", self.show_edited)
        self._update_curves()

    def _selected_or_edited(self) -> list[str]:
        if self.selected:
            return [self.selected]
        return list(self.doc.edits.components)

    def set_key(self) -> None:
        """K: key the pending values (auto-key off), else the selected component at this frame."""
        if not self._frame_in_rec():
            return
        if self.doc.has_pending:
            names = self.doc.commit_pending()
            self.win.statusBar().showMessage(f"Keyed {', '.join(names)} at frame {self.index}.", 4000)
            return
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
        self.preview.invalidate()
        # the edited frame's render request goes out first: the preview thread works on it
        # while this thread updates the panel, the 3D mesh, the overlays and the curves
        self.preview.show()
        self._refresh_frame_ui()
        self._update_curves()
        self.curves.set_range(None if self.doc.edits.edit_range is None else self.doc.edits.to_dict()["range"])
        self.update_actions()

    def shown_components(self) -> list[str]:
        """The components whose curves the curve editor shows: the selected one, the pinned
        ones, and (with "All edited") every edited one."""
        d = self.doc
        names = [self.selected] if self.selected in d.names else []
        names += [n for n in self.pinned if n in d.names]
        if self.show_edited:
            names += [n for n in d.names if n in d.edits.components]
        return list(dict.fromkeys(names))

    def _update_curves(self) -> None:
        if self._plots_pending:
            return  # a new reconstruction's plots are drawn a turn later (_show_plots)
        d = self.doc
        if not d.has_reconstruction or self.selected not in d.names:
            self.curves.show_component(None)
            return
        pending = None
        if d.pending_frame is not None:
            n = self.selected if self.selected in d.pending else next(iter(d.pending), None)
            if n is not None:
                pending = (n, d.pending_frame, d.pending[n])
        self.curves.set_channels(self.selected, {n: d.component_curves(n) for n in self.shown_components()},
                                 pinned=self.pinned, pending=pending)

    # ----------------------------------------------------------------------------------
    # QA: the fit corrected by hand (pins), the worst frames by fit error
    def set_fixing_fit(self, on: bool) -> None:
        """Show the fit's points as handles to drag where the face really is (P toggles)."""
        self.fixing_fit = bool(on)
        a = self.actions.fix_fit
        if a.isChecked() != self.fixing_fit:
            a.blockSignals(True)
            a.setChecked(self.fixing_fit)
            a.blockSignals(False)
        self.win.view.set_overlay_enabled("handles", self.fixing_fit)
        if self.fixing_fit:
            self.win.session.pause()
            self.win.statusBar().showMessage(
                "Correct the fit: drag a yellow point to where that feature really is; this frame and "
                f"{self.fix_radius} on each side are re-solved (Ctrl+Z undoes). P to stop.", 15000)
        self._update_overlays()

    @property
    def fix_radius(self) -> int:
        return int(self.settings.value("editor/fix_radius", 6, type=int))

    def _on_handle_dragged(self, point: int, x: float, y: float) -> None:
        """A handle was dropped: pin the point there and re-solve the frames around it."""
        d, w = self.doc, self.win
        if not self._frame_in_rec() or w.job_running:
            if w.job_running:
                w.statusBar().showMessage(f"Wait for {w.job.name.lower()} to end, then drag again.", 6000)
            self._update_overlays()
            return
        f = self.index
        before = float(np.linalg.norm(tracker_points(d.rec, d.model, f)[point] - np.array([x, y])))
        pins = [p for p in d.pins if not (p.frame == f and p.point == point)] + [Pin(f, int(point), (x, y))]
        job = Job(refit_with_pins, d.base_rec, d.model, d.track, pins, self.fix_radius,
                  name="Correcting the fit", subject=f"frame {f}")
        base = d.base_rec
        w.start_job(job, lambda r: self._on_refitted(r, pins, base, before))

    def _on_refitted(self, result, pins, base, before: float) -> None:
        d = self.doc
        if base is not d.base_rec:
            return  # another reconstruction came meanwhile
        d.correct_fit(result.reconstruction, pins, result.frames)
        after = float(result.moved_px[-1, 1]) if len(result.moved_px) else 0.0
        fr = result.frames
        self.win.statusBar().showMessage(
            f"Fit corrected on frames {fr[0]}-{fr[-1]}: the point is {after:.1f} px from where you put it "
            f"(was {before:.1f} px). Ctrl+Z undoes." if len(fr) else "Nothing to correct.", 10000)

    def _on_fit_changed(self, frames) -> None:
        d = self.doc
        self.scene = FrameScene(d.rec, d.model, d.track)
        self.preview.set_reconstruction(d.model, d.rec)
        self.preview.invalidate()
        self.worst = worst_frames(d.rec.fit_error_px)
        self.fit_error.set_errors(d.rec.fit_error_px, d.rec.valid, self.worst)


    def jump_worst(self, direction: int) -> None:
        """Go to the next (1) or previous (-1) of the worst frames, worst first (] and [)."""
        if not self.worst:
            self.win.statusBar().showMessage("No fit error to go by: reconstruct the clip first.", 4000)
            return
        if self.index in self.worst:
            self._worst_pos = self.worst.index(self.index)
        self._worst_pos = int(np.clip(self._worst_pos + direction, 0, len(self.worst) - 1))
        f = self.worst[self._worst_pos]
        self.win.session.seek(f)
        e = self.doc.rec.fit_error_px[f] if self.doc.has_reconstruction else float("nan")
        self.win.statusBar().showMessage(
            f"Worst frame {self._worst_pos + 1} of {len(self.worst)}: frame {f}, fit error {e:.2f} px "
            "(] next, [ previous)", 6000)

    # ----------------------------------------------------------------------------------
    # a reconstruction on screen
    def show_reconstruction(self, rec, model, track=None, edits=None) -> None:
        """Put a reconstruction (a finished job's, an opened project's) on screen, spread
        over several event-loop turns; ``result_pending`` until it is all there."""
        self._defer_rows = self.result_pending = True
        self.doc.set_reconstruction(rec, model, track, edits)

    def _on_reconstruction_changed(self) -> None:
        d = self.doc
        self.preview.invalidate()
        self._rows_serial += 1
        self.worst, self._worst_pos = [], -1
        self._update_legends(False, False)  # (rebuilt for the new clip's flow scale)
        if d.rec is None:
            self.scene = None
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
        self.scene = FrameScene(d.rec, d.model, d.track)
        self.preview.set_reconstruction(d.model, d.rec)
        if self.actions.neural.isChecked():
            self.set_neural(True)   # the renderer trained on this clip, if any
        self.viewport.set_topology(np.asarray(d.model.triangles), d.model.num_vertices, d.model.mean)
        # a new reconstruction appears as the camera saw it, whatever view the last one had
        self.set_viewport_preset("camera")
        self.pinned = [n for n in self.pinned if n in d.names]
        if self.selected not in d.names:
            self.selected = "jawOpen" if "jawOpen" in d.names else (d.names[0] if d.names else None)
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
        self.worst = worst_frames(d.rec.fit_error_px)
        self.fit_error.set_errors(d.rec.fit_error_px, d.rec.valid, self.worst)
        self._update_curves()
        self.expressions.set_components(d.names, d.bounds, rows_per_turn=ROWS_PER_TURN if deferred else 0)

    def _on_rows_ready(self) -> None:
        """All expression rows exist: select, show this frame's values, the result is on screen."""
        if self.doc.rec is None:
            return
        if self.selected:
            self.expressions.select(self.selected)
        if self._frame_in_rec():
            self._refresh_panel_values()
        if self.result_pending:
            self.result_pending = False
            self.win.update_actions()

    # ----------------------------------------------------------------------------------
    # reconstruction
    def reconstruct(self, max_frames: int | None = None) -> bool:
        """Track (unless tracked) and fit the open clip in the worker process."""
        w, s = self.win, self.win.session
        if w.job_running or not s.is_open or s.is_live:
            return False
        track = s.track_result
        if track is not None and max_frames is not None and track.num_frames > max_frames:
            track = None
        from core.fitting.clip import reconstruct_clip  # (its imports are the worker process's)
        from core.result_cache import ResultCache

        # in a worker process (MediaPipe and the fit hold the GIL); it returns the model too
        job = Job(reconstruct_clip, s.path, self.model_spec, settings=self.fit_settings(), track=track,
                  max_frames=max_frames, cache=ResultCache(), name="Reconstructing", in_process=True,
                  subject=s.display_name)
        w.start_job(job, self._on_reconstructed)
        return True

    def fit_settings(self) -> FitSettings:
        """The settings the next reconstruction runs with (the defaults plus the editor's toggles)."""
        return FitSettings(personalise=self.personalise)

    def set_personalise(self, on: bool) -> None:
        """Personalise the model in the next reconstruction (the one on screen stays as it is)."""
        self.personalise = bool(on)
        self.settings.setValue("editor/personalise", self.personalise)
        if self.actions.personalise.isChecked() != self.personalise:
            self.actions.personalise.setChecked(self.personalise)
        self.win.statusBar().showMessage(
            "The next reconstruction personalises the model to the face." if on else
            "The next reconstruction uses the model as it is.", 8000)

    def _on_reconstructed(self, result) -> None:
        track, rec, model = result.track, result.reconstruction, result.model
        # the worker process built the model: reuse it here (opening a project needs it)
        remember_model(rec.model_spec or self.model_spec, model)
        self.win.session.set_track_result(track)
        self.show_reconstruction(rec, model, track)
        e = rec.fit_error_px[np.isfinite(rec.fit_error_px)]
        med = f"median fit error {np.median(e):.2f} px" if e.size else "no frame fitted"
        pers = ", personalised to this face" if rec.is_personalised else ""
        skin = ", 3D shape from the head's turns" if rec.identity_source == "skin motion" else ""
        self.win.statusBar().showMessage(f"Reconstructed {rec.num_frames} frames ({med}{pers}{skin}). "
                                         "Move a slider in Expressions to edit.", 15000)

    def update_actions(self) -> None:
        """Enable the editor's actions for the current state."""
        w, s = self.win, self.win.session
        running = w.job_running
        self.actions.update(self.doc.has_reconstruction, s.is_open and not s.is_live and not running, running)

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

    # ----------------------------------------------------------------------------------
    # the renderer of edited frames: the warp, or a neural renderer trained on the clip
    def set_neural(self, on: bool) -> bool:
        """Render edited frames with the neural renderer trained on the open clip (``on``) or
        with the warp. False (with a message saying how to train one) when the clip has none."""
        w = self.win
        info = find_renderer(w.session.path) if on and w.session.path else None
        if on and info is None:
            name = Path(w.session.path or "this clip").name
            self.renderer_model = None
            w.statusBar().showMessage(f"{name} has no trained neural renderer: train one (View > Train a neural "
                                      f"renderer on this clip..., or python main.py train-renderer "
                                      f"{self.training_target()}); edits render with the warp.", 15000)
            self.actions.neural.blockSignals(True)
            self.actions.neural.setChecked(False)
            self.actions.neural.blockSignals(False)
            self.preview.set_renderer_model(None)
            return False
        self.renderer_model = info["folder"] if info is not None else None
        self.preview.set_renderer_model(self.renderer_model)
        if info is not None:
            w.statusBar().showMessage(f"Edits render with the neural renderer ({describe_renderer(info)}).", 10000)
        self.preview.invalidate()
        self.preview.show()
        return True

    def training_target(self) -> str:
        """What a renderer of this clip is trained on: the project folder when the project is saved
        (its reconstruction and track are reused), else the clip (tracked and fitted again)."""
        saved = self.io.project_path
        if saved and Path(saved).is_dir():
            return str(saved)
        return str(self.win.session.path or "")

    def request_renderer_training(self) -> bool:
        """Ask for the clip's renderer to be trained (``renderer_training_requested``)."""
        target = self.training_target()
        if not target or not self.doc.has_reconstruction:
            return False
        self.renderer_training_requested.emit(target)
        return True

    def export(self, kind: str, path: str) -> bool:
        """Run an export in the worker process (progress and Cancel in the status bar)."""
        d, w = self.doc, self.win
        if not d.has_reconstruction or w.job_running:
            return False
        # in a worker process: the export renderer holds the GIL for long stretches
        job = Job(export_edit, kind, path, w.session.path, d.rec, d.model, d.edits.copy(),
                  renderer_model=self.renderer_model, name=f"Exporting {kind}", in_process=True,
                  subject=Path(path).name, unit="frames" if kind in ("video", "png", "obj", "ply") else "")
        self.settings.setValue("editor/last_dir", str(Path(path).parent))
        w.start_job(job, lambda _r: w.statusBar().showMessage(f"Exported {path}", 10000))
        return True

    def shutdown(self) -> None:
        """Stop the editor's threads; unsaved work is handled by ``io.shutdown``."""
        self.panels.set_viewport_maximised(False)  # (the saved layout is the normal one)
        self.viewport.shutdown()
        self.preview.stop()
        self.io.shutdown()
