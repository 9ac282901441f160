"""The editor's actions: project, edit, compare, overlay, loop and export commands with
their shortcuts, placed in the window's menus (by name) and tool bar.

:class:`EditorActions` only creates and places actions; each one calls the editor (or its
project I/O) and the editor enables them (``EditorUI.update_actions``).
"""
from __future__ import annotations

from PySide6.QtGui import QActionGroup, QKeySequence

from app.icons import icon

COMPARE = (("edited", "Show &edited", "E", "Edited"), ("original", "Show &original", "O", "Original"),
           ("side_by_side", "&Side by side", "B", "Side by side"))
OVERLAYS = (("mesh", "Mesh &wireframe", "W"), ("error", "Fit &error heat", "Shift+E"), ("flow", "3D &flow", "F"))
EXPORTS = (("video", "Edited &video (mp4)..."), ("png", "&PNG sequence..."), ("obj", "Meshes (&OBJ)..."),
           ("ply", "Meshes (P&LY)..."), ("csv", "Expression curves (&CSV)..."),
           ("json", "Expression curves (&JSON)..."))


class EditorActions:
    """The editor's QActions (attributes ``new_project``, ``save``, ``undo``, ``set_key``, ...)."""

    def __init__(self, editor):
        w, io = editor.win, editor.io
        act = w.new_action
        K = QKeySequence.StandardKey
        self.new_project = act("&New project", io.new_project, K.New, "Close the project and start afresh")
        self.open_project = act("Open &project...", io.open_project_dialog, "Ctrl+Shift+P",
                                "Open a FaceStudio project folder")
        self.save = act("&Save project", io.save_project, K.Save, "Save the project")
        self.save_as = act("Save project &as...", io.save_project_as, K.SaveAs)
        self.reconstruct = act("&Reconstruct", editor.reconstruct, "Ctrl+R",
                               "Track the face and fit the 3D face model over the whole clip",
                               icon_name="reconstruct", short="Reconstruct")
        self.personalise = act("&Personalise the model to the face", editor.set_personalise, None,
                               "Reconstruct with the model's rest face and expressions adapted to the clip's "
                               "subject first (built-in model; other models are fitted as they are)",
                               checkable=True)
        self.personalise.blockSignals(True)
        self.personalise.setChecked(editor.personalise)
        self.personalise.blockSignals(False)
        self.undo = editor.doc.undo_stack.createUndoAction(w, "&Undo")
        self.undo.setShortcut(K.Undo)
        self.undo.setIcon(icon("undo"))
        self.redo = editor.doc.undo_stack.createRedoAction(w, "&Redo")
        self.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo.setIcon(icon("redo"))
        w.addAction(self.undo)
        w.addAction(self.redo)
        self.set_key = act("Set &key", editor.set_key, "K",
                           "Key the values not keyed yet (orange), else the selected component, at this frame",
                           icon_name="key", short="Key")
        self.auto_key = act("&Auto-key", editor.set_auto_key, None,
                            "On: moving a slider sets a key at this frame. Off: it shows in orange until K",
                            checkable=True, icon_name="autokey", short="Auto-key")
        self.auto_key.blockSignals(True)
        self.auto_key.setChecked(editor.auto_key)
        self.auto_key.blockSignals(False)
        self.delete_key = act("&Delete key", editor.delete_key, "Shift+K",
                              "Delete the selected component's key at this frame")
        self.next_key = act("Next key", lambda: editor.jump_key(1), "Ctrl+Right")
        self.prev_key = act("Previous key", lambda: editor.jump_key(-1), "Ctrl+Left")
        self.fix_fit = act("&Correct the fit by hand", editor.set_fixing_fit, "P",
                           "Drag the fitted points where the face really is; the frame and its neighbours are "
                           "re-solved", checkable=True, icon_name="fix_fit", short="Fix fit")
        self.next_worst = act("Next &worst frame", lambda: editor.jump_worst(1), "]",
                              "Go to the next of the frames with the highest fit error (worst first)")
        self.prev_worst = act("Previous w&orst frame", lambda: editor.jump_worst(-1), "[",
                              "Go back to the previous of the worst frames")
        self.loop = act("&Loop playback", editor.set_loop, "Ctrl+L", "Play the clip in a loop", checkable=True)
        self.loop.setChecked(w.settings.value("view/loop", True, type=bool))
        self.compare_group = QActionGroup(w)
        self.compare = {}
        for mode, label, key, short in COMPARE:
            a = act(label, lambda _c=False, m=mode: editor.set_compare_mode(m), key,
                    f"{label.replace('&', '')} frame", icon_name=mode, short=short)
            a.setCheckable(True)
            a.setChecked(mode == editor.preview.compare_mode)
            self.compare_group.addAction(a)
            self.compare[mode] = a
        self.overlays = {}
        for name, label, key in OVERLAYS:
            a = act(label, lambda on, n=name: editor.set_overlay(n, on), key, checkable=True)
            a.blockSignals(True)
            a.setChecked(w.view.overlay_enabled(name))
            a.blockSignals(False)
            self.overlays[name] = a
        self.exports = {kind: act(label, lambda k=kind: editor.export_dialog(k)) for kind, label in EXPORTS}
        self.neural = act("Render edits with the &neural renderer", editor.set_neural, None,
                          "Edited frames (preview and video/PNG export) from the neural renderer trained on "
                          "this clip, instead of the warp", checkable=True)
        self.train_neural = act("&Train a neural renderer on this clip...", editor.request_renderer_training, None,
                                "Train the clip's person-specific neural renderer in the background, from the "
                                "saved project's reconstruction when there is one (again: stop)")
        panels = editor.panels
        self.maximise_viewport = act("&Maximise 3D viewport",
                                     lambda: panels.set_viewport_maximised(not panels.viewport_maximised),
                                     "Ctrl+Space", "Give the 3D viewport the whole window (again to go back)",
                                     icon_name="viewport")
        self.detach_viewport = act("&Detach 3D viewport",
                                   lambda: panels.set_viewport_detached(not panels.viewport_dock.isFloating()),
                                   None, "Show the 3D viewport in a window of its own")

        mn = w.menus
        mn.add("file", "project", self.new_project, self.open_project)
        mn.add("file", "save", self.save, self.save_as)
        mn.add_submenu("file", "export", "&Export").addActions(list(self.exports.values()))
        mn.add("edit", "undo", self.undo, self.redo)
        mn.add("edit", "keys", self.set_key, self.delete_key, self.auto_key, self.prev_key, self.next_key)
        mn.add("edit", "reconstruct", self.reconstruct, self.personalise)
        mn.add("view", "compare", *self.compare.values())
        mn.add("view", "renderer", self.neural, self.train_neural)
        mn.add("view", "overlays", *self.overlays.values())
        mn.add("view", "qa", self.next_worst, self.prev_worst)
        mn.add("view", "viewport", self.maximise_viewport, self.detach_viewport)
        mn.add("playback", "options", self.loop)
        mn.add("track", "reconstruct", self.reconstruct, self.personalise, self.fix_fit)
        tb = w.toolbar
        tb.insertAction(w.act_cancel, self.reconstruct)
        tb.addSeparator()
        tb.addActions([self.undo, self.redo, self.set_key, self.auto_key, self.fix_fit])
        tb.addSeparator()
        tb.addActions(list(self.compare.values()))

    def update(self, has_reconstruction: bool, can_reconstruct: bool, job_running: bool) -> None:
        """Enable what makes sense now."""
        self.reconstruct.setEnabled(can_reconstruct)
        self.personalise.setEnabled(not job_running)  # (read when the next reconstruction starts)
        for a in (self.save, self.save_as, self.set_key, self.delete_key, self.next_key, self.prev_key,
                  self.next_worst, self.prev_worst, self.fix_fit):
            a.setEnabled(has_reconstruction)
        for a in self.exports.values():
            a.setEnabled(has_reconstruction and not job_running)
        self.neural.setEnabled(has_reconstruction)
        self.train_neural.setEnabled(has_reconstruction)
