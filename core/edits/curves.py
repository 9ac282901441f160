"""Expression edits over time: keyframed offsets on top of the fitted expressions.

The edit of one expression component is a set of keyframes ``(frame, offset)``.
Between keys the offset is interpolated (``"linear"`` or ``"smooth"``: monotone
cubic Hermite, so a curve never overshoots its keys); before the first and after
the last key it holds the nearest key's value, so a single key is a constant
offset over the whole clip. A key may carry its own type (``KEY_TYPES``, as a graph
editor's per-key interpolation and handle type): the segment leaving a ``"constant"``
key holds its value (a step), a ``"linear"`` one is a straight line, a ``"smooth"`` one
is the monotone cubic, and a ``"flat"`` key is smooth with a horizontal tangent (the
curve eases in and out of it). Keys without a type of their own follow the component's
interpolation. An optional edit range (first, last frame, with
ease-in / ease-out lengths in frames) multiplies every offset by an envelope
that rises smoothly from 0 to 1 and falls back, so an edit fades in and out of
the person's own motion instead of popping.

The result per frame is ``edited[f] = clip(fitted[f] + offset[f], lo, hi)``:
the person's own motion is kept, the edit rides on top of it. Components are
named (ARKit names), never indexed, so edits survive a model with another
component order. Everything here is plain numpy and JSON-safe dicts.

Arrays: ``fitted`` (F, Ke) float, ``names`` (Ke,) str, ``bounds`` (Ke, 2) float.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from core.numeric import smoothstep

INTERPOLATIONS = ("linear", "smooth")
#: a key's own type: the interpolation of the segment leaving it (and, for "flat", a
#: horizontal tangent at the key)
KEY_TYPES = ("smooth", "linear", "constant", "flat")
EDITS_FORMAT = "facestudio.edits"
EDITS_VERSION = 1
#: key of the expression edits in a project's ``edits`` dict
PROJECT_KEY = "expression"
#: envelope values at or below this count as "outside the edit range" for a slider move
_MIN_ENVELOPE = 1e-6


def _monotone_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes at the keys: the Hermite curve stays within neighbouring key values."""
    n = x.size
    d = np.diff(y) / np.diff(x)  # secant slopes (n-1,)
    m = np.zeros(n)
    if n == 2:
        m[:] = d[0]
        return m
    m[0], m[-1] = d[0], d[-1]
    for i in range(1, n - 1):
        if d[i - 1] * d[i] <= 0:
            m[i] = 0.0  # a local extremum at a key: flat, never overshoot it
        else:
            # weighted harmonic mean (Fritsch-Butland), keeps monotone segments monotone
            w1 = 2 * (x[i + 1] - x[i]) + (x[i] - x[i - 1])
            w2 = (x[i + 1] - x[i]) + 2 * (x[i] - x[i - 1])
            m[i] = (w1 + w2) / (w1 / d[i - 1] + w2 / d[i])
    # end slopes: no overshoot against the single neighbour
    for i, j in ((0, 0), (n - 1, n - 2)):
        if m[i] * d[j] <= 0:
            m[i] = 0.0
        elif abs(m[i]) > 3 * abs(d[j]):
            m[i] = 3 * d[j]
    return m


@dataclass
class ComponentEdit:
    """Keyframes of one component: ``keys`` maps frame (int) -> offset (float);
    ``key_types`` maps frame -> one of ``KEY_TYPES`` for keys with a type of their own
    (the others follow ``interpolation``)."""

    keys: dict[int, float] = field(default_factory=dict)
    interpolation: str = "smooth"
    key_types: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        self.keys = {int(f): float(v) for f, v in self.keys.items()}
        self.key_types = {int(f): str(t) for f, t in self.key_types.items() if int(f) in self.keys}
        for t in self.key_types.values():
            if t not in KEY_TYPES:
                raise ValueError(f"key type must be one of {KEY_TYPES}, got {t!r}")

    def frames(self) -> np.ndarray:
        """The key frames, sorted: (K,) int64."""
        return np.array(sorted(self.keys), dtype=np.int64)

    def key_type(self, frame: int) -> str:
        """The type of the key at ``frame``: its own, else the component's interpolation."""
        return self.key_types.get(int(frame), self.interpolation)

    def evaluate(self, frames: np.ndarray | int) -> np.ndarray:
        """Offsets at ``frames`` (scalar or (M,) int/float) -> same shape float64; 0 without keys."""
        t = np.asarray(frames, np.float64)
        if not self.keys:
            return np.zeros_like(t)
        x = self.frames().astype(np.float64)
        y = np.array([self.keys[int(f)] for f in x], np.float64)
        if x.size == 1:
            return np.full_like(t, y[0])
        tc = np.atleast_1d(np.clip(t, x[0], x[-1]))  # hold the end keys beyond them
        types = [self.key_type(int(f)) for f in x]
        if all(k == "linear" for k in types[:-1]):
            return np.interp(tc, x, y).reshape(t.shape)
        m = _monotone_slopes(x, y)
        m[np.array([k == "flat" for k in types])] = 0.0
        i = np.clip(np.searchsorted(x, tc, side="right") - 1, 0, x.size - 2)
        h = x[i + 1] - x[i]
        s = (tc - x[i]) / h
        h00 = 2 * s ** 3 - 3 * s ** 2 + 1
        h10 = s ** 3 - 2 * s ** 2 + s
        h01 = -2 * s ** 3 + 3 * s ** 2
        h11 = s ** 3 - s ** 2
        out = h00 * y[i] + h10 * h * m[i] + h01 * y[i + 1] + h11 * h * m[i + 1]
        seg = np.array(types)[i]
        lin = seg == "linear"
        out[lin] = (y[i] + s * (y[i + 1] - y[i]))[lin]
        const = seg == "constant"
        out[const] = y[i][const]
        at_end = tc >= x[-1]  # the last key itself (its own type has no segment to shape)
        out[at_end] = y[-1]
        return out.reshape(t.shape)


@dataclass
class EditRange:
    """Frames ``first..last`` (inclusive) carry the edit; it eases in over ``ease_in`` frames
    after ``first`` and out over ``ease_out`` frames before ``last`` (smoothstep)."""

    first: int
    last: int
    ease_in: float = 0.0
    ease_out: float = 0.0

    def envelope(self, frames: np.ndarray | int) -> np.ndarray:
        """The edit's weight at ``frames`` (scalar or (M,)): 0 outside the range, 1 inside it, smoothstep
        ramps over the ease-in and ease-out."""
        t = np.asarray(frames, np.float64)
        inside = (t >= self.first) & (t <= self.last)
        w = inside.astype(np.float64)
        if self.ease_in > 0:
            w = w * smoothstep((t - self.first) / self.ease_in)
        if self.ease_out > 0:
            w = w * smoothstep((self.last - t) / self.ease_out)
        return w


class ExpressionEdits:
    """All edits of a clip: per-component keyframes plus an optional edit range.

    Pure data with small methods; the editor's undo works on :meth:`to_dict` snapshots.
    """

    def __init__(self, components: dict[str, ComponentEdit] | None = None,
                 edit_range: EditRange | None = None):
        self.components: dict[str, ComponentEdit] = dict(components or {})
        self.edit_range = edit_range

    # -- keyframes ----------------------------------------------------------------------
    def set_key(self, name: str, frame: int, offset: float) -> None:
        """Set (or replace) the key of ``name`` at ``frame`` to ``offset``, before the range's envelope."""
        comp = self.components.setdefault(str(name), ComponentEdit())
        comp.keys[int(frame)] = float(offset)

    def delete_key(self, name: str, frame: int) -> bool:
        """Remove the key of ``name`` at ``frame``; True when there was one."""
        comp = self.components.get(name)
        if comp is None or int(frame) not in comp.keys:
            return False
        del comp.keys[int(frame)]
        comp.key_types.pop(int(frame), None)
        if not comp.keys:
            del self.components[name]
        return True

    def move_key(self, name: str, frame: int, new_frame: int, new_offset: float | None = None) -> None:
        """Move a key in time (and optionally change its value); a key already at
        ``new_frame`` is replaced. The key keeps its type."""
        self.move_keys([(name, frame, new_frame, new_offset)])

    def move_keys(self, moves) -> None:
        """Move several keys at once: ``moves`` is a list of (name, frame, new_frame,
        new_offset or None). All moved keys are lifted before any is put down, so keys
        shifted together never overwrite one another; a key that was not moved and sits
        where one lands is replaced. KeyError when a key does not exist."""
        lifted = []
        for name, frame, new_frame, new_offset in moves:
            comp = self.components.get(name)
            if comp is None or int(frame) not in comp.keys:
                raise KeyError(f"{name}: no key at frame {frame}")
        for name, frame, new_frame, new_offset in moves:
            comp = self.components[name]
            value = comp.keys.pop(int(frame))
            kind = comp.key_types.pop(int(frame), None)
            lifted.append((comp, int(new_frame), float(value if new_offset is None else new_offset), kind))
        for comp, new_frame, value, kind in lifted:
            comp.keys[new_frame] = value
            comp.key_types.pop(new_frame, None)
            if kind is not None:
                comp.key_types[new_frame] = kind

    def set_key_type(self, name: str, frames, key_type: str) -> None:
        """Give the keys of ``name`` at ``frames`` the type ``key_type`` (one of ``KEY_TYPES``);
        frames without a key are ignored."""
        if key_type not in KEY_TYPES:
            raise ValueError(f"key type must be one of {KEY_TYPES}, got {key_type!r}")
        comp = self.components.get(name)
        if comp is None:
            return
        for f in frames:
            if int(f) in comp.keys:
                comp.key_types[int(f)] = key_type

    def key_type(self, name: str, frame: int) -> str | None:
        """The type of ``name``'s key at ``frame`` (None without a key there)."""
        comp = self.components.get(name)
        if comp is None or int(frame) not in comp.keys:
            return None
        return comp.key_type(frame)

    def key_value(self, name: str, frame: int) -> float:
        """The component's curve at ``frame`` before the edit range's envelope: the value a key
        there must hold to leave the curve as it is (0 for a component without keys).

        Keying the *shown* offset instead (:meth:`offset`, envelope included) would apply the
        envelope twice inside an ease: a key of 0.8 eased to 0.4 would be re-keyed as 0.4,
        and show 0.2.
        """
        comp = self.components.get(name)
        return 0.0 if comp is None else float(comp.evaluate(int(frame)))

    def set_shown_offset(self, name: str, frame: int, offset: float, limit: float | None = None) -> bool:
        """Key ``name`` at ``frame`` so that the offset shown there (envelope included) is
        ``offset``: what a slider move at that frame asks for.

        Inside an ease the key is ``offset / envelope``, limited to ``[-limit, limit]`` (e.g.
        the component's range: one frame into an ease the envelope is ~0.01, and an unlimited
        key would lift the whole curve a hundredfold). Where the envelope is 0 (outside the
        edit range, or at its first and last frame) no key can show an offset: nothing
        changes and False is returned.
        """
        w = 1.0 if self.edit_range is None else float(self.edit_range.envelope(int(frame)))
        if w <= _MIN_ENVELOPE:
            return False
        key = float(offset) / w
        if limit is not None:
            key = float(np.clip(key, -abs(limit), abs(limit)))
        self.set_key(name, frame, key)
        return True

    def has_key(self, name: str, frame: int) -> bool:
        """Whether ``name`` has a key at ``frame``."""
        comp = self.components.get(name)
        return comp is not None and int(frame) in comp.keys

    def key_frames(self, name: str) -> np.ndarray:
        """The key frames of ``name``, sorted: (K,) int64 (empty without keys)."""
        comp = self.components.get(name)
        return comp.frames() if comp is not None else np.zeros(0, np.int64)

    def set_interpolation(self, name: str, interpolation: str) -> None:
        """Set how ``name``'s keys are interpolated (one of ``INTERPOLATIONS``); no-op without keys."""
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        if name in self.components:
            self.components[name].interpolation = interpolation

    def reset(self, names=None) -> None:
        """Remove the edits of ``names`` (all when None)."""
        if names is None:
            self.components.clear()
        else:
            for n in names:
                self.components.pop(str(n), None)

    @property
    def is_empty(self) -> bool:
        return not any(c.keys for c in self.components.values())

    # -- evaluation ---------------------------------------------------------------------
    def offset(self, name: str, frames: np.ndarray | int) -> np.ndarray:
        """Offset of one component at ``frames`` (envelope included)."""
        comp = self.components.get(name)
        t = np.asarray(frames, np.float64)
        if comp is None:
            return np.zeros_like(t)
        v = comp.evaluate(t)
        if self.edit_range is not None:
            v = v * self.edit_range.envelope(t)
        return v

    def offsets(self, names, frames: np.ndarray) -> np.ndarray:
        """(M, Ke) offsets for ``frames`` (M,) and components ``names`` (Ke,); names with
        no edit get 0. Edits of names the model lacks are ignored (kept in the data)."""
        t = np.asarray(frames, np.float64).reshape(-1)
        out = np.zeros((t.size, len(names)))
        for k, n in enumerate(names):
            if str(n) in self.components:
                out[:, k] = self.offset(str(n), t)
        return out

    def apply(self, fitted: np.ndarray, names, bounds: np.ndarray | None,
              frames: np.ndarray | None = None) -> np.ndarray:
        """Edited expressions ``clip(fitted + offset, bounds)``.

        fitted (F, Ke) is the fitted expression of ``frames`` (default 0..F-1), or (Ke,)
        for a single frame with ``frames`` an int. bounds (Ke, 2) [lo, hi] or None.
        """
        fitted = np.asarray(fitted, np.float64)
        single = fitted.ndim == 1
        E = fitted[None] if single else fitted
        if frames is None:
            frames = np.arange(E.shape[0])
        out = E + self.offsets(names, np.atleast_1d(frames))
        if bounds is not None:
            b = np.asarray(bounds, np.float64)
            out = np.clip(out, b[:, 0], b[:, 1])
        return out[0] if single else out

    # -- serialisation (the project's ``edits`` dict) -----------------------------------
    def to_dict(self) -> dict:
        """JSON-safe: names, frame numbers as strings-free lists, floats."""
        comps = {}
        for name in sorted(self.components):
            c = self.components[name]
            if not c.keys:
                continue
            comps[name] = {"interpolation": c.interpolation,
                           "keys": [[int(f), float(c.keys[f])] for f in sorted(c.keys)]}
            types = {str(f): t for f, t in sorted(c.key_types.items()) if f in c.keys}
            if types:
                # a separate optional field: readers that predate key types ignore it
                comps[name]["key_types"] = types
        d = {"format": EDITS_FORMAT, "version": EDITS_VERSION, "components": comps, "range": None}
        if self.edit_range is not None:
            r = self.edit_range
            d["range"] = {"first": int(r.first), "last": int(r.last),
                          "ease_in": float(r.ease_in), "ease_out": float(r.ease_out)}
        return d

    @classmethod
    def from_dict(cls, d: dict | None, where: str = "edits") -> "ExpressionEdits":
        """Inverse of :meth:`to_dict`; an empty or missing dict is "no edits".
        InputError naming ``where`` when the data is malformed."""
        if not d:
            return cls()
        try:
            if d.get("format", EDITS_FORMAT) != EDITS_FORMAT:
                raise InputError(f"{where}: not FaceStudio edits (format {d.get('format')!r})")
            if int(d.get("version", 1)) > EDITS_VERSION:
                raise InputError(f"{where}: edits version {d.get('version')} is newer than this program "
                                 f"supports ({EDITS_VERSION}); update FaceStudio")
            comps = {}
            for name, c in (d.get("components") or {}).items():
                keys = {}
                for f, v in c["keys"]:
                    if not math.isfinite(float(v)):
                        raise InputError(f"{where}: key of {name!r} at frame {f} is not a finite number")
                    keys[int(f)] = float(v)
                types = {int(f): str(t) for f, t in (c.get("key_types") or {}).items()}
                comps[str(name)] = ComponentEdit(keys, c.get("interpolation", "smooth"), types)
            r = d.get("range")
            rng = None if r is None else EditRange(int(r["first"]), int(r["last"]),
                                                   float(r.get("ease_in", 0)), float(r.get("ease_out", 0)))
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InputError(f"{where}: malformed edits ({type(e).__name__}: {e})") from e
        return cls(comps, rng)

    def copy(self) -> "ExpressionEdits":
        """An independent copy (the editor's undo keeps snapshots)."""
        return ExpressionEdits(copy.deepcopy(self.components), copy.deepcopy(self.edit_range))

    def __eq__(self, other) -> bool:
        return isinstance(other, ExpressionEdits) and self.to_dict() == other.to_dict()
