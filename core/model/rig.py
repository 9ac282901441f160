"""Build expression displacement fields from the project's rig definition file.

The rig file (``resources/rig/arkit_rig.json``) is readable JSON. Each blendshape
is a list of *terms*; a term is a weight field (where the skin moves, in [0, 1])
times a motion (how it moves). A blendshape's displacement field is the sum of its
terms' fields. Everything is in model space: centimetres, y up, face toward +z,
x towards the subject's left.

Weight field keys (all optional; multiplied together, then overrides applied)::

    "near":  [group or vertex id, ...]   seeds; weight falls smoothly from 1 at
    "radius": cm, "core": cm             distance <= core to 0 at distance >= radius
    "side":  "left" | "right", "side_width": cm   smooth step across x = 0
    "above"/"below": {"curve": group, "offset": cm, "width": cm}
                                         smooth step across the curve y(x) (the
                                         group's polyline, interpolated in x) + offset
    "include": [region, ...]             forced to 1 (regions of :func:`region_masks`)
    "exclude": [region or group, ...]    forced to 0

Motions::

    {"type": "translate", "vector": [dx, dy, dz]}
    {"type": "rotate", "axis": [ax, ay, az], "pivot": [x, y, z], "degrees": a}
    {"type": "scale", "center": group, "factors": [fx, fy, fz]}   towards/away from the
                                         group's centroid, per axis
    {"type": "contour", "from": group, "to": group, "amount": a, "sigma": cm}
                                         the i-th vertex of "from" moves a fraction a of the
                                         way to the i-th vertex of "to"; other vertices get
                                         the Gaussian-weighted average of those moves

Names are resolved in the groups of :mod:`core.model.canonical` and the rig file's
own ``"groups"`` (vertex id lists); a term may use ``"mirror": true`` in the file's
``"shapes"`` to be generated for both sides (see ``expand_mirrored``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.numeric import smoothstep

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RIG = REPO / "resources" / "rig" / "arkit_rig.json"


class RigBuilder:
    """Evaluates rig terms on a mesh.

    vertices : (N, 3) float   the neutral shape
    groups : name -> vertex ids
    regions : name -> (N,) bool
    """

    def __init__(self, vertices: np.ndarray, groups: dict[str, list[int]], regions: dict[str, np.ndarray]):
        self.v = np.asarray(vertices, np.float64)
        self.groups = groups
        self.regions = regions

    def ids(self, spec, where: str) -> np.ndarray:
        """A group name, a vertex id, or a list of either -> vertex ids."""
        if isinstance(spec, (list, tuple)):
            return np.concatenate([self.ids(s, where) for s in spec]) if spec else np.zeros(0, int)
        if isinstance(spec, int):
            if not 0 <= spec < len(self.v):
                raise InputError(f"rig: vertex {spec} out of range in {where}")
            return np.array([spec])
        if spec not in self.groups:
            raise InputError(f"rig: unknown group {spec!r} in {where}")
        return np.asarray(self.groups[spec], int)

    def _curve_y(self, group, where: str) -> np.ndarray:
        """The y of a group's polyline at each vertex's x (held constant beyond its ends)."""
        p = self.v[self.ids(group, where)]
        order = np.argsort(p[:, 0])
        return np.interp(self.v[:, 0], p[order, 0], p[order, 1])

    def weight(self, spec: dict, where: str) -> np.ndarray:
        """Per-vertex weights (N,) of a rig term's ``where`` spec: near seed vertices (with a falloff), one
        side, above or below a curve, included and excluded regions."""
        w = np.ones(len(self.v))
        if "near" in spec:
            seeds = self.v[self.ids(spec["near"], where)]
            d = np.linalg.norm(self.v[:, None, :] - seeds[None], axis=2).min(1)
            core = float(spec.get("core", 0.0))
            radius = float(spec["radius"])
            w *= 1.0 - smoothstep((d - core) / max(radius - core, 1e-6))
        if "side" in spec:
            sign = {"left": 1.0, "right": -1.0}[spec["side"]]
            w *= smoothstep(sign * self.v[:, 0] / float(spec.get("side_width", 1.0)) + 0.5)
        for key, sign in (("above", 1.0), ("below", -1.0)):
            if key in spec:
                c = spec[key]
                y0 = self._curve_y(c["curve"], where) + float(c.get("offset", 0.0))
                w *= smoothstep(sign * (self.v[:, 1] - y0) / float(c.get("width", 0.2)) + 0.5)
        for name in spec.get("include", []):
            w[self.mask(name, where)] = 1.0
        for name in spec.get("exclude", []):
            w[self.mask(name, where)] = 0.0
        return w

    def mask(self, name: str, where: str) -> np.ndarray:
        """(N,) bool of a region or a vertex group called ``name``."""
        if name in self.regions:
            return np.asarray(self.regions[name], bool)
        m = np.zeros(len(self.v), bool)
        m[self.ids(name, where)] = True
        return m

    def motion(self, spec: dict, w: np.ndarray, where: str) -> np.ndarray:
        """Vertex displacements (N, 3) cm of one motion (translate, rotate, scale or contour), weighted per
        vertex by ``w`` (N,)."""
        kind = spec.get("type")
        v = self.v
        if kind == "translate":
            return w[:, None] * np.asarray(spec["vector"], float)[None]
        if kind == "rotate":
            axis = np.asarray(spec["axis"], float)
            axis = axis / np.linalg.norm(axis)
            a = np.radians(float(spec["degrees"]))
            K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            R = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
            pivot = np.asarray(spec["pivot"], float)
            return w[:, None] * ((v - pivot) @ R.T + pivot - v)
        if kind == "scale":
            c = v[self.ids(spec["center"], where)].mean(0)
            f = np.asarray(spec["factors"], float)
            return w[:, None] * ((v - c) * (f - 1.0))
        if kind == "contour":
            src = self.ids(spec["from"], where)
            dst = self.ids(spec["to"], where)
            if len(src) != len(dst):
                raise InputError(f"rig: contour 'from' and 'to' differ in length in {where}")
            moves = float(spec.get("amount", 1.0)) * (v[dst] - v[src])
            sigma = float(spec.get("sigma", 0.3))
            d2 = ((v[:, None, :] - v[src][None]) ** 2).sum(2)
            k = np.exp(-0.5 * (d2 - d2.min(1, keepdims=True)) / sigma ** 2)  # shifted for stability
            field = (k @ moves) / k.sum(1, keepdims=True)
            return w[:, None] * field
        raise InputError(f"rig: unknown motion type {kind!r} in {where}")

    def shape(self, terms: list[dict], name: str) -> np.ndarray:
        """One blendshape (N, 3) cm: the sum of its terms' weighted motions."""
        out = np.zeros_like(self.v)
        for i, term in enumerate(terms):
            where = f"shape {name!r} term {i}"
            w = self.weight(term.get("where", {}), where)
            out += self.motion(term["motion"], w, where)
        return out


_MIRROR_SWAP = (("Left", "Right"), ("left", "right"))


def _mirror_value(x):
    """Swap left/right names and negate x-components in a rig term."""
    if isinstance(x, str):
        for a, b in _MIRROR_SWAP:
            if a in x:
                return x.replace(a, b)
            if b in x:
                return x.replace(b, a)
        return x
    if isinstance(x, list):
        return [_mirror_value(e) for e in x]
    if isinstance(x, dict):
        out = {}
        for k, val in x.items():
            if k in ("vector", "axis_mirror") and isinstance(val, list):
                out[k] = [-val[0], val[1], val[2]]
            elif k == "pivot" and isinstance(val, list):
                out[k] = [-val[0], val[1], val[2]]
            elif k == "axis" and isinstance(val, list):
                # a rotation axis is a pseudo-vector: mirroring x keeps its x and negates y, z
                out[k] = [val[0], -val[1], -val[2]]
            else:
                out[k] = _mirror_value(val)
        return out
    return x


def expand_mirrored(shapes: dict) -> dict[str, list[dict]]:
    """Shapes named ``fooLeft`` with ``{"mirror": true, "terms": [...]}`` also define ``fooRight``."""
    out: dict[str, list[dict]] = {}
    for name, spec in shapes.items():
        if isinstance(spec, dict) and spec.get("mirror"):
            terms = spec["terms"]
            out[name] = terms
            out[_mirror_value(name)] = _mirror_value(terms)
        else:
            out[name] = spec["terms"] if isinstance(spec, dict) else spec
    return out


def load_rig_file(path: str | Path = DEFAULT_RIG) -> dict:
    """The rig definition (JSON) at ``path``; InputError when it is missing or not valid JSON."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            rig = json.load(f)
    except FileNotFoundError as e:
        raise InputError(f"{path}: rig file not found") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: rig file is not valid JSON ({e})") from e
    if "shapes" not in rig or "order" not in rig:
        raise InputError(f"{path}: rig file needs 'order' and 'shapes'")
    return rig


def build_rig(vertices: np.ndarray, groups: dict[str, list[int]], regions: dict[str, np.ndarray],
              rig: dict) -> tuple[list[str], np.ndarray]:
    """Evaluate a rig on a neutral mesh -> (names (K,), displacements (K, N, 3) float32).

    ``rig["order"]`` fixes the component order; every listed name must be defined.
    """
    all_groups = dict(groups)
    all_groups.update({k: list(v) for k, v in rig.get("groups", {}).items()})
    builder = RigBuilder(vertices, all_groups, regions)
    shapes = expand_mirrored(rig["shapes"])
    missing = [n for n in rig["order"] if n not in shapes]
    if missing:
        raise InputError(f"rig: shapes not defined: {', '.join(missing)}")
    disp = np.stack([builder.shape(shapes[n], n) for n in rig["order"]]).astype(np.float32)
    return list(rig["order"]), disp
