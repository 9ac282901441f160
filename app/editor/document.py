"""The editor's document: the reconstruction, its model and the expression edits, with undo.

Every change goes through the document's QUndoStack as an :class:`EditCommand` holding
before/after snapshots of the :class:`~core.edits.ExpressionEdits` (they are small), and
a slider gesture merges into one command. No widgets here.

With auto-key off a slider move is *pending*: an offset shown at one frame (the preview,
the sliders and the curves show it) that changes nothing permanent. K keys it
(:meth:`EditorDocument.commit_pending`); anything else that moves away from it (another
frame, undo, a new reconstruction) drops it (:meth:`EditorDocument.discard_pending`).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.edits import EditRange, ExpressionEdits
from core.edits.export import model_bounds

#: undo steps kept (each holds two snapshots of the edits)
UNDO_LIMIT = 500


def _parts(snapshot: dict) -> dict:
    """An ExpressionEdits dict split into its undoable parts: ("component", name) and ("range",)."""
    parts = {("component", n): c for n, c in (snapshot.get("components") or {}).items()}
    parts[("range",)] = snapshot.get("range")
    return parts


def edit_delta(before: dict, after: dict) -> tuple[dict, dict]:
    """(before, after) of only the parts that differ between two ExpressionEdits dicts; a part
    missing on one side is None there. An undo step keeps just these, so its size goes with
    what it changed, not with everything keyed so far."""
    b, a = _parts(before), _parts(after)
    changed = [k for k in b.keys() | a.keys() if b.get(k) != a.get(k)]
    return {k: b.get(k) for k in changed}, {k: a.get(k) for k in changed}


def apply_delta(snapshot: dict, parts: dict) -> dict:
    """``snapshot`` (an ExpressionEdits dict) with ``parts`` put in (None removes a component)."""
    out = dict(snapshot, components=dict(snapshot.get("components") or {}))
    for key, value in parts.items():
        if key == ("range",):
            out["range"] = value
        elif value is None:
            out["components"].pop(key[1], None)
        else:
            out["components"][key[1]] = value
    return out


class EditCommand(QUndoCommand):
    """One edit: puts back ``before`` on undo and ``after`` on redo: the changed parts of the
    ExpressionEdits (see :func:`edit_delta`).

    Commands with the same non-empty ``merge_key`` in a row merge (a slider drag)."""

    MERGE_ID = 4711

    def __init__(self, doc: "EditorDocument", text: str, before: dict, after: dict, merge_key: str = ""):
        super().__init__(text)
        self.doc = doc
        self.before, self.after = edit_delta(before, after)
        self.merge_key = merge_key

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self.MERGE_ID if self.merge_key else -1

    def mergeWith(self, other) -> bool:  # noqa: N802 (Qt API)
        if not isinstance(other, EditCommand) or other.merge_key != self.merge_key:
            return False
        for k, v in other.before.items():
            self.before.setdefault(k, v)  # (what this command changed first keeps its old value)
        self.after.update(other.after)
        return True

    def redo(self) -> None:
        self.doc._apply(self.after)  # noqa: SLF001

    def undo(self) -> None:
        self.doc._apply(self.before)  # noqa: SLF001


#: the Reconstruction arrays (frame-major) a hand correction of the fit changes
FIT_FIELDS = ("expression", "scale", "rotation", "translation", "landmarks68", "fit_error_px", "repeated")


def fit_rows_delta(before, after) -> tuple[np.ndarray, dict, dict]:
    """The frames where two reconstructions of one clip differ in :data:`FIT_FIELDS`, and
    those frames' rows of each: (frames (n,), rows of ``before``, rows of ``after``), each a
    {field: (n, ...) array}. NaN equals NaN here (unfitted frames stay unfitted)."""
    F = len(np.asarray(before.expression))
    changed = np.zeros(F, bool)
    for name in FIT_FIELDS:
        a = np.asarray(getattr(before, name)).reshape(F, -1)
        b = np.asarray(getattr(after, name)).reshape(F, -1)
        same = a == b
        if a.dtype.kind == "f":
            same |= np.isnan(a) & np.isnan(b)
        changed |= ~same.all(axis=1)
    frames = np.flatnonzero(changed)
    return (frames, {n: np.asarray(getattr(before, n))[frames].copy() for n in FIT_FIELDS},
            {n: np.asarray(getattr(after, n))[frames].copy() for n in FIT_FIELDS})


def with_fit_rows(rec, frames: np.ndarray, rows: dict):
    """``rec`` with ``rows`` ({field: (n, ...)}) written at ``frames`` (new arrays; the others
    shared)."""
    from dataclasses import replace

    out = {}
    for name, r in rows.items():
        a = np.array(getattr(rec, name), copy=True)
        a[frames] = r
        out[name] = a
    return replace(rec, **out)


class FitCommand(QUndoCommand):
    """A hand correction of the fit: the reconstruction's rows of the frames it re-solved
    (before and after) and the pins that made it. Only those rows are kept: a whole
    reconstruction per step held ~2 MB for a 1,000-frame clip, and the 10-minute GUI soak
    grew ~10 MB a minute with them."""

    def __init__(self, doc: "EditorDocument", text: str, before, after, pins_before: list, pins_after: list):
        super().__init__(text)
        self.doc = doc
        self.frames, self.rows_before, self.rows_after = fit_rows_delta(before, after)
        self._first = after  # (the first redo, at push, shows the corrected object itself)
        self.pins_before, self.pins_after = list(pins_before), list(pins_after)

    def redo(self) -> None:
        rec, self._first = self._first, None
        if rec is None:
            rec = with_fit_rows(self.doc.rec, self.frames, self.rows_after)
        self.doc._set_fit(rec, self.pins_after, self.frames)  # noqa: SLF001

    def undo(self) -> None:
        self.doc._set_fit(with_fit_rows(self.doc.rec, self.frames, self.rows_before), self.pins_before,  # noqa: SLF001
                          self.frames)


class EditorDocument(QObject):
    """Reconstruction + model + edits with undo.

    Signals: ``reconstruction_changed()`` (a new clip's), ``edits_changed()`` (after any change,
    undo or redo), ``fit_changed(frames)`` (the fit of these frames was corrected by hand, or
    the correction undone: same clip, same edits).
    """

    reconstruction_changed = Signal()
    edits_changed = Signal()
    fit_changed = Signal(object)

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
        #: unkeyed slider values (auto-key off): name -> offset as shown, at ``pending_frame``
        self.pending: dict[str, float] = {}
        self.pending_frame: int | None = None
        self._pushing = False  # a new change is being applied (not an undo or redo)
        #: the hand corrections' pins (core.edits.fit_correction.Pin) behind the current fit, and
        #: the fit they correct (the reconstruction as it came from the fit or the project)
        self.pins: list = []
        self.base_rec = None

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
        self.pending, self.pending_frame = {}, None
        self.pins, self.base_rec = [], rec
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
        """(F, Ke) edited expressions as shown (pending values included; cached until the next
        change)."""
        if self._expr_cache is None:
            E = self.edits.apply(self.rec.expression, self.names, self.bounds)
            if self.pending and self.pending_frame is not None and 0 <= self.pending_frame < len(E):
                f = self.pending_frame
                E[f] = self._clip(np.asarray(self.rec.expression[f], np.float64) + self._offsets_at(f))
            self._expr_cache = E
        return self._expr_cache

    def _clip(self, e: np.ndarray) -> np.ndarray:
        return e if self.bounds is None else np.clip(e, self.bounds[:, 0], self.bounds[:, 1])

    def _offsets_at(self, f: int) -> np.ndarray:
        """(Ke,) offsets shown at frame ``f``: the edits', with pending values replacing theirs."""
        off = self.edits.offsets(self.names, np.array([f]))[0]
        if f == self.pending_frame:
            for n, v in self.pending.items():
                off[self.names.index(n)] = v
        return off

    def frame_values(self, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fitted, offset, edited) (Ke,) at ``frame`` as shown (pending values included)."""
        f = int(np.clip(frame, 0, self.num_frames - 1))
        fitted = np.asarray(self.rec.expression[f], np.float64)
        return fitted, self._offsets_at(f), self.edited_expressions()[f]

    def component_curves(self, name: str) -> dict:
        """Curves of ``name`` over the clip: fitted, offset (the keyed curve), edited (F,); its
        keys (frames, values, types) and its interpolation."""
        k = self.names.index(name)
        F = self.num_frames
        comp = self.edits.components.get(name)
        keys = comp.frames() if comp is not None else np.zeros(0, np.int64)
        return dict(fitted=np.asarray(self.rec.expression[:, k], np.float64),
                    offset=self.edits.offset(name, np.arange(F)), edited=self.edited_expressions()[:, k],
                    key_frames=keys, key_values=np.array([comp.keys[int(f)] for f in keys]) if comp else np.zeros(0),
                    key_types=[comp.key_type(int(f)) for f in keys] if comp else [],
                    interpolation=comp.interpolation if comp else "smooth")

    def edit_is_zero_at(self, frame: int) -> bool:
        fitted, _off, edited = self.frame_values(frame)
        return bool(np.max(np.abs(edited - fitted)) < 1e-4) if len(fitted) else True

    # -- changes (each one undoable) ----------------------------------------------------
    def _apply(self, parts: dict) -> None:
        self.edits = ExpressionEdits.from_dict(apply_delta(self.edits.to_dict(), parts))
        self._expr_cache = None
        if not self._pushing:
            self.pending, self.pending_frame = {}, None  # (an undo or redo moves away from it)
        self.edits_changed.emit()

    # -- the fit corrected by hand ---------------------------------------------------------
    def correct_fit(self, rec, pins: list, frames) -> None:
        """Make ``rec`` (the same clip with some frames re-solved, core.edits.fit_correction)
        the reconstruction, as one undo step; ``pins``: all pins behind it."""
        frames = [int(f) for f in frames]
        text = f"Correct the fit of frame{'s' if len(frames) != 1 else ''} " + (
            f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else str(frames[0]) if frames else "")
        self.undo_stack.push(FitCommand(self, text, self.rec, rec, self.pins, pins))

    def pins_at(self, frame: int) -> list:
        return [p for p in self.pins if p.frame == int(frame)]

    def _set_fit(self, rec, pins: list, frames) -> None:
        """Make ``rec`` the reconstruction; ``frames``: those whose fit differs (FitCommand's)."""
        self.rec, self.pins = rec, list(pins)
        self._expr_cache = None
        self.fit_changed.emit([int(f) for f in frames])
        self.edits_changed.emit()

    # -- pending (unkeyed) values: auto-key off ------------------------------------------
    def set_pending(self, name: str, frame: int, value: float) -> None:
        """Show ``value`` as the offset of ``name`` at ``frame`` without keying it. Pending
        values of another frame are dropped first (only one frame's can be pending)."""
        if name not in self.names:
            return
        if self.pending_frame is not None and self.pending_frame != int(frame):
            self.pending = {}
        self.pending_frame = int(frame)
        self.pending[name] = float(value)
        self._expr_cache = None
        self.edits_changed.emit()

    @property
    def has_pending(self) -> bool:
        return bool(self.pending)

    def discard_pending(self) -> list[str]:
        """Drop the pending values (the shown values go back to the curves); the names dropped."""
        names = list(self.pending)
        if names:
            self.pending, self.pending_frame = {}, None
            self._expr_cache = None
            self.edits_changed.emit()
        return names

    def commit_pending(self) -> list[str]:
        """Key every pending value at its frame as one undo step (K); the names keyed."""
        if not self.pending:
            return []
        pending, frame = dict(self.pending), int(self.pending_frame)
        self.pending, self.pending_frame = {}, None
        self._expr_cache = None

        def change(e):
            for n, v in pending.items():
                e.set_shown_offset(n, frame, v, self._limit(n))
        what = next(iter(pending)) if len(pending) == 1 else f"{len(pending)} components"
        if not self._push(f"Key {what} at frame {frame}", change):
            self.edits_changed.emit()
        return list(pending)

    def _limit(self, name: str) -> float | None:
        k = self.names.index(name) if name in self.names else -1
        return float(np.ptp(self.bounds[k])) if self.bounds is not None and k >= 0 else None

    def _push(self, text: str, change, merge_key: str = "") -> bool:
        """Apply ``change`` (a function of an ExpressionEdits) as one undoable step; False when
        it changed nothing."""
        before = self.edits.to_dict()
        trial = self.edits.copy()
        change(trial)
        after = trial.to_dict()
        if after == before:
            return False
        self._pushing = True
        try:
            self.undo_stack.push(EditCommand(self, text, before, after, merge_key))
        finally:
            self._pushing = False
        return True

    def begin_gesture(self) -> None:
        """Start a new slider gesture: following set_offset calls merge into one undo step."""
        self._gesture += 1

    def set_offset(self, name: str, frame: int, value: float, gesture: bool = True) -> None:
        """The user's offset of ``name`` at ``frame``, as shown (sets that frame's key; a single
        key is a constant offset over the clip). Outside the edit range nothing can show, so
        nothing changes and ``edits_changed`` tells the panel to show the values again."""
        key = f"slider:{name}:{frame}:{self._gesture}" if gesture else ""
        limit = self._limit(name)
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

    def move_keys(self, moves) -> None:
        """Move several keys as one undo step: (name, frame, new_frame, new_value or None)
        each (a box selection dragged, a typed value for every selected key)."""
        moves = [(str(n), int(f), int(nf), None if v is None else float(v)) for n, f, nf, v in moves
                 if self.edits.has_key(str(n), int(f))]
        if not moves:
            return
        names = sorted({m[0] for m in moves})
        what = names[0] if len(names) == 1 else f"{len(names)} components"
        self._push(f"Move {len(moves)} key{'s' if len(moves) > 1 else ''} of {what}",
                   lambda e: e.move_keys(moves))

    def delete_keys(self, keys) -> None:
        """Delete (name, frame) keys as one undo step (the curve editor's selection)."""
        keys = [(str(n), int(f)) for n, f in keys]

        def change(e):
            for n, f in keys:
                e.delete_key(n, f)
        self._push(f"Delete {len(keys)} key{'s' if len(keys) != 1 else ''}", change)

    def set_key_type(self, keys, key_type: str) -> None:
        """Give the (name, frame) keys the type ``key_type`` (core.edits.KEY_TYPES)."""
        by_name: dict[str, list[int]] = {}
        for n, f in keys:
            by_name.setdefault(str(n), []).append(int(f))

        def change(e):
            for n, frames in by_name.items():
                e.set_key_type(n, frames, key_type)
        self._push(f"Key type: {key_type}", change)

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
