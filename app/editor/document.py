"""The editor's document: the reconstruction, its model and the expression edits, with undo.

Every change goes through the document's QUndoStack as an :class:`EditCommand` holding
before/after snapshots of the :class:`~core.edits.ExpressionEdits` (they are small), and
a slider gesture merges into one command. No widgets here.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.edits import EditRange, ExpressionEdits
from core.edits.export import model_bounds

#: undo steps kept (each holds two snapshots of the edits)
UNDO_LIMIT = 500


class EditCommand(QUndoCommand):
    """One edit: restores ``before`` on undo and ``after`` on redo (ExpressionEdits dicts).

    Commands with the same non-empty ``merge_key`` in a row merge (a slider drag)."""

    MERGE_ID = 4711

    def __init__(self, doc: "EditorDocument", text: str, before: dict, after: dict, merge_key: str = ""):
        super().__init__(text)
        self.doc = doc
        self.before = before
        self.after = after
        self.merge_key = merge_key

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self.MERGE_ID if self.merge_key else -1

    def mergeWith(self, other) -> bool:  # noqa: N802 (Qt API)
        if not isinstance(other, EditCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc._restore(self.after)  # noqa: SLF001

    def undo(self) -> None:
        self.doc._restore(self.before)  # noqa: SLF001


class EditorDocument(QObject):
    """Reconstruction + model + edits with undo.

    Signals: ``reconstruction_changed()``, ``edits_changed()`` (after any change, undo or redo).
    """

    reconstruction_changed = Signal()
    edits_changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.rec = None
        self.model = None
        self.track = None
        self.edits = ExpressionEdits()
        self.names: list[str] = []
        self.bounds: np.ndarray | None = None
        self._gesture = 0
        self._expr_cache: np.ndarray | None = None

    # -- reconstruction ---------------------------------------------------------------
    @property
    def has_reconstruction(self) -> bool:
        return self.rec is not None

    def set_reconstruction(self, rec, model, track=None, edits: ExpressionEdits | None = None) -> None:
        self.rec, self.model, self.track = rec, model, track
        self.names = [str(n) for n in rec.expression_names] if rec is not None else []
        self.bounds = model_bounds(model, self.names) if rec is not None else None
        self.edits = edits.copy() if edits is not None else ExpressionEdits()
        self._expr_cache = None
        self.undo_stack.clear()
        self.reconstruction_changed.emit()
        self.edits_changed.emit()

    def clear(self) -> None:
        """No reconstruction (another clip was opened, or a new project)."""
        self.set_reconstruction(None, None)

    @property
    def num_frames(self) -> int:
        return 0 if self.rec is None else self.rec.num_frames

    # -- values -----------------------------------------------------------------------
    def edited_expressions(self) -> np.ndarray:
        """(F, Ke) edited expressions (cached until the next change)."""
        if self._expr_cache is None:
            self._expr_cache = self.edits.apply(self.rec.expression, self.names, self.bounds)
        return self._expr_cache

    def frame_values(self, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fitted, offset, edited) (Ke,) at ``frame``."""
        f = int(np.clip(frame, 0, self.num_frames - 1))
        fitted = np.asarray(self.rec.expression[f], np.float64)
        return fitted, self.edits.offsets(self.names, np.array([f]))[0], self.edited_expressions()[f]

    def component_curves(self, name: str) -> dict:
        k = self.names.index(name)
        F = self.num_frames
        comp = self.edits.components.get(name)
        keys = comp.frames() if comp is not None else np.zeros(0, np.int64)
        return dict(fitted=np.asarray(self.rec.expression[:, k], np.float64),
                    offset=self.edits.offset(name, np.arange(F)), edited=self.edited_expressions()[:, k],
                    key_frames=keys, key_values=np.array([comp.keys[int(f)] for f in keys]) if comp else np.zeros(0),
                    interpolation=comp.interpolation if comp else "smooth")

    def edit_is_zero_at(self, frame: int) -> bool:
        fitted, _off, edited = self.frame_values(frame)
        return bool(np.max(np.abs(edited - fitted)) < 1e-4) if len(fitted) else True

    # -- changes (each one undoable) ----------------------------------------------------
    def _restore(self, snapshot: dict) -> None:
        self.edits = ExpressionEdits.from_dict(snapshot)
        self._expr_cache = None
        self.edits_changed.emit()

    def _push(self, text: str, change, merge_key: str = "") -> bool:
        """Apply ``change`` (a function of an ExpressionEdits) as one undoable step; False when
        it changed nothing."""
        before = self.edits.to_dict()
        trial = self.edits.copy()
        change(trial)
        after = trial.to_dict()
        if after == before:
            return False
        self.undo_stack.push(EditCommand(self, text, before, after, merge_key))
        return True

    def begin_gesture(self) -> None:
        """Start a new slider gesture: following set_offset calls merge into one undo step."""
        self._gesture += 1

    def set_offset(self, name: str, frame: int, value: float, gesture: bool = True) -> None:
        """The user's offset of ``name`` at ``frame``, as shown (sets that frame's key; a single
        key is a constant offset over the clip). Outside the edit range nothing can show, so
        nothing changes and ``edits_changed`` tells the panel to show the values again."""
        key = f"slider:{name}:{frame}:{self._gesture}" if gesture else ""
        k = self.names.index(name) if name in self.names else -1
        limit = float(np.ptp(self.bounds[k])) if self.bounds is not None and k >= 0 else None
        if not self._push(f"Change {name}", lambda e: e.set_shown_offset(name, frame, value, limit), key):
            self.edits_changed.emit()

    def set_key(self, names, frame: int) -> None:
        """Key ``names`` at ``frame`` with their current offsets (K)."""
        names = [n for n in names if n in self.names]
        if not names:
            return
        values = {n: self.edits.key_value(n, frame) for n in names}

        def change(e):
            for n in names:
                e.set_key(n, frame, values[n])
        self._push(f"Set key at frame {frame}" + (f" ({names[0]})" if len(names) == 1 else ""), change)

    def delete_key(self, names, frame: int) -> None:
        def change(e):
            for n in names:
                e.delete_key(n, frame)
        self._push(f"Delete key at frame {frame}", change)

    def move_key(self, name: str, frame: int, new_frame: int, value: float) -> None:
        if not self.edits.has_key(name, frame):
            return
        self._push(f"Move key of {name}", lambda e: e.move_key(name, frame, new_frame, value))

    def reset(self, names) -> None:
        names = list(names)
        self._push("Reset all" if len(names) > 1 else f"Reset {names[0]}", lambda e: e.reset(names))

    def set_interpolation(self, name: str, mode: str) -> None:
        self._push(f"{name}: {mode} interpolation", lambda e: e.set_interpolation(name, mode))

    def set_range(self, rng: dict | None) -> None:
        def change(e):
            e.edit_range = None if rng is None else EditRange(int(rng["first"]), int(rng["last"]),
                                                              float(rng["ease_in"]), float(rng["ease_out"]))
        self._push("Edit range", change, merge_key="range")
