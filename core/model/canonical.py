"""The MediaPipe canonical face mesh, read from the tracker's own model file.

``face_landmarker.task`` is a zip; its entry ``geometry_pipeline_metadata_landmarks.binarypb``
is MediaPipe's ``GeometryPipelineMetadata`` protobuf::

    GeometryPipelineMetadata { canonical_mesh = 1 (Mesh3d); procrustes_landmark_basis = 2 (repeated
                               WeightedLandmarkRef); input_source = 3 }
    Mesh3d { vertex_type = 1; primitive_type = 2; vertex_buffer = 3 (floats: x y z u v per vertex);
             index_buffer = 4 (uint32, 3 per triangle) }
    WeightedLandmarkRef { landmark_id = 1; weight = 2 (float) }

Mesh space: centimetres, y up, the face looks down +z, x towards the subject's left
(so the subject's left eye has x > 0). Vertex i is the tracker's landmark i.

This module also names the landmark groups the project uses (lip and eye contours,
brows, irises): index lists of the MediaPipe 468/478-point topology.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.model.protobuf_wire import WireFormatError, floats, parse_message, single_float, single_uint, uints

METADATA_ENTRY = "geometry_pipeline_metadata_landmarks.binarypb"
N_MESH = 468
N_TRACKED = 478

# --- landmark groups (indices into the 478 tracker points) ------------------
# Contours run from one corner to the other; "right"/"left" are the subject's.
LIPS_OUTER_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIPS_INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIPS_INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
RIGHT_EYE_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]
RIGHT_EYE_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
LEFT_EYE_UPPER = [263, 466, 388, 387, 386, 385, 384, 398, 362]
LEFT_EYE_LOWER = [263, 249, 390, 373, 374, 380, 381, 382, 362]
RIGHT_BROW = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46]
LEFT_BROW = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276]
RIGHT_IRIS = [468, 469, 470, 471, 472]  # centre, then the ring
LEFT_IRIS = [473, 474, 475, 476, 477]
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

#: Named groups usable in the rig file (``resources/rig/``).
GROUPS: dict[str, list[int]] = {
    "lips_outer_upper": LIPS_OUTER_UPPER, "lips_outer_lower": LIPS_OUTER_LOWER,
    "lips_inner_upper": LIPS_INNER_UPPER, "lips_inner_lower": LIPS_INNER_LOWER,
    "right_eye_upper": RIGHT_EYE_UPPER, "right_eye_lower": RIGHT_EYE_LOWER,
    "left_eye_upper": LEFT_EYE_UPPER, "left_eye_lower": LEFT_EYE_LOWER,
    "right_brow": RIGHT_BROW, "left_brow": LEFT_BROW,
    "right_iris": RIGHT_IRIS, "left_iris": LEFT_IRIS,
    "mouth_corner_right": [61, 78], "mouth_corner_left": [291, 308],
    "nose_tip": [NOSE_TIP], "chin": [CHIN], "forehead": [FOREHEAD],
}


@dataclass
class CanonicalMesh:
    """vertices (468, 3) float32 cm; uv (468, 2) float32 (v up); triangles (898, 3) int32
    counter-clockwise seen from outside; procrustes_ids (33,) int32 and procrustes_weights (33,)
    float32: MediaPipe's weighted stable points for rigid alignment."""

    vertices: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    procrustes_ids: np.ndarray
    procrustes_weights: np.ndarray


def parse_geometry_metadata(data: bytes, source: str = "geometry metadata") -> CanonicalMesh:
    """Decode ``GeometryPipelineMetadata`` bytes into a CanonicalMesh."""
    try:
        top = parse_message(data)
        if 1 not in top:
            raise WireFormatError("no canonical_mesh field")
        mesh = parse_message(top[1][-1])
        vb = floats(mesh.get(3, []))
        ib = uints(mesh.get(4, []))
        ids, weights = [], []
        for raw in top.get(2, []):
            ref = parse_message(raw)
            ids.append(single_uint(ref.get(1, [])))
            weights.append(single_float(ref.get(2, [])))
    except WireFormatError as e:
        raise InputError(f"{source}: not a MediaPipe geometry metadata protobuf ({e})") from e
    if vb.size == 0 or vb.size % 5 or ib.size == 0 or ib.size % 3:
        raise InputError(f"{source}: canonical mesh has {vb.size} vertex floats and {ib.size} indices "
                         "(expected 5 floats per vertex, 3 indices per triangle)")
    vb = vb.reshape(-1, 5)
    tri = ib.reshape(-1, 3)
    if tri.max() >= vb.shape[0]:
        raise InputError(f"{source}: triangle index {tri.max()} out of range for {vb.shape[0]} vertices")
    return CanonicalMesh(vertices=vb[:, :3].astype(np.float32).copy(), uv=vb[:, 3:5].astype(np.float32).copy(),
                         triangles=tri.astype(np.int32), procrustes_ids=np.asarray(ids, np.int32),
                         procrustes_weights=np.asarray(weights, np.float32))


def read_canonical_mesh(task_path: str | Path | None = None) -> CanonicalMesh:
    """Read the canonical mesh from the FaceLandmarker ``.task`` file (default: the tracker's)."""
    if task_path is None:
        from core.tracking.model_file import tracker_model_path
        task_path = tracker_model_path()
    task_path = Path(task_path)
    try:
        with zipfile.ZipFile(task_path) as z:
            data = z.read(METADATA_ENTRY)
    except KeyError as e:
        raise InputError(f"{task_path}: has no {METADATA_ENTRY} (not a FaceLandmarker .task file)") from e
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{task_path}: cannot read the tracker model as a zip ({e})") from e
    return parse_geometry_metadata(data, f"{task_path}:{METADATA_ENTRY}")
