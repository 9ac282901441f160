"""Mesh files: OBJ (with UVs when present) and binary PLY writing, OBJ reading. Writes are atomic.

Vertices (N, 3) float, triangles (T, 3) int (0-based here, 1-based in OBJ),
uv (N, 2) float in [0, 1] with v up (OBJ convention) or None.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_bytes_atomic
from core.errors import InputError


def write_obj(path, vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray | None = None) -> None:
    """Wavefront OBJ; with uv, each face corner uses the same index for v and vt."""
    buf = io.StringIO()
    buf.write("# FaceStudio mesh\n")
    np.savetxt(buf, np.asarray(vertices, np.float64), fmt="v %.6f %.6f %.6f")
    t = np.asarray(triangles, np.int64) + 1
    if uv is not None:
        np.savetxt(buf, np.asarray(uv, np.float64), fmt="vt %.6f %.6f")
        np.savetxt(buf, np.repeat(t, 2, axis=1), fmt="f %d/%d %d/%d %d/%d")
    else:
        np.savetxt(buf, t, fmt="f %d %d %d")
    write_bytes_atomic(Path(path), buf.getvalue().encode("ascii"))


def write_ply(path, vertices: np.ndarray, triangles: np.ndarray, colours: np.ndarray | None = None) -> None:
    """Binary little-endian PLY; optional per-vertex colours (N, 3) uint8."""
    v = np.asarray(vertices, "<f4")
    t = np.asarray(triangles, "<i4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}",
              "property float x", "property float y", "property float z"]
    if colours is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
    if colours is not None:
        vd = np.zeros(len(v), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
        vd["p"], vd["c"] = v, np.asarray(colours, np.uint8)
    else:
        vd = v
    fd = np.zeros(len(t), dtype=[("n", "u1"), ("i", "<i4", 3)])
    fd["n"], fd["i"] = 3, t
    write_bytes_atomic(Path(path), ("\n".join(header) + "\n").encode("ascii") + vd.tobytes() + fd.tobytes())


def read_ply(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a PLY written by :func:`write_ply` (binary, triangles) -> vertices (N, 3), triangles (T, 3)."""
    path = Path(path)
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise InputError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in header if h.startswith("element face")).split()[-1])
    has_colour = any("red" in h for h in header)
    vdt = [("p", "<f4", 3)] + ([("c", "u1", 3)] if has_colour else [])
    body = data[end + len(b"end_header\n"):]
    vd = np.frombuffer(body, dtype=vdt, count=nv)
    fd = np.frombuffer(body, dtype=[("n", "u1"), ("i", "<i4", 3)], count=nf, offset=vd.nbytes)
    return vd["p"].copy(), fd["i"].copy()


@dataclass
class ObjMesh:
    """vertices (N, 3) float32; faces: list of 0-based vertex index lists (any polygon size);
    uv (M, 2) float32 or None; face_uv: matching lists of 0-based uv indices or None."""

    vertices: np.ndarray
    faces: list[list[int]]
    uv: np.ndarray | None
    face_uv: list[list[int]] | None


def read_obj(path, vertices_only: bool = False) -> ObjMesh:
    """Read positions, texture coordinates and polygons of an OBJ (normals and materials ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read OBJ ({e})") from e
    v, vt, faces, fuv = [], [], [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        if line.startswith("v "):
            v.append(line[2:])
        elif vertices_only:
            continue
        elif line.startswith("vt "):
            vt.append(line[3:])
        elif line.startswith("f "):
            corners = line[2:].split()
            try:
                vi = [int(c.split("/")[0]) for c in corners]
                ti = [int(c.split("/")[1]) for c in corners if "/" in c and c.split("/")[1]]
            except ValueError as e:
                raise InputError(f"{path}:{line_no}: bad face line {line.strip()!r}") from e
            faces.append([i - 1 if i > 0 else len(v) + i for i in vi])
            if len(ti) == len(vi):
                fuv.append([i - 1 if i > 0 else len(vt) + i for i in ti])
    try:
        verts = np.array(" ".join(v).split(), np.float32).reshape(-1, 3) if v else np.zeros((0, 3), np.float32)
        uvs = (np.array(" ".join(t.split()[0] + " " + t.split()[1] for t in vt).split(), np.float32).reshape(-1, 2)
               if vt else None)
    except ValueError as e:
        raise InputError(f"{path}: malformed vertex data ({e})") from e
    if len(verts) == 0:
        raise InputError(f"{path}: OBJ has no vertices")
    return ObjMesh(verts, faces, uvs, fuv if fuv and len(fuv) == len(faces) else None)
