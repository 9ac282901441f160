"""Faces found in a mirrored or padded picture, mapped back to the picture itself.

MediaPipe's face detector is not symmetric, and it wants some margin around a face: a head
turned 60-75 degrees one way is often missed while its mirror image, or the same picture
with a border around it, is found (AFLW2000-3D's image02420 at 71 degrees: found mirrored;
synthetic faces at 60-75 degrees: 4 of 7 misses found this way, bench/bench_jaw_silhouette.py's
views). :func:`turned_face_variants` lists the pictures to try; :func:`faces_in_original`
maps a find back: x mirrored about the picture's width and the border removed, each of the
478 points swapped with its mirror partner (the canonical mesh is left-right symmetric;
``resources/rig/tracker_mirror.json``), the
blendshapes' Left and Right columns swapped and the head pose reflected.

Pixels: x right, y down, z on x's scale (as ``FrameFaces``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.tracking.landmarker import FrameFaces, Landmarker

#: Borders tried around the whole picture, as a fraction of its long side on each side
#: (0.25 makes the picture 1.5x as large), each also mirrored; mirrored alone first.
PADDINGS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Variant:
    """A picture derived from a frame: ``pad`` px of border on every side, then ``mirrored``."""

    pad: int
    mirrored: bool

    def make(self, frame: np.ndarray) -> np.ndarray:
        """The variant's RGB uint8 picture of ``frame`` (H, W, 3)."""
        import cv2

        out = frame
        if self.pad:
            out = cv2.copyMakeBorder(frame, self.pad, self.pad, self.pad, self.pad, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(out[:, ::-1] if self.mirrored else out)


def turned_face_variants(height: int, width: int) -> list[Variant]:
    """The pictures to try when a frame of (height, width) shows no face, cheapest first."""
    side = max(height, width)
    out = [Variant(0, True)]
    for f in PADDINGS:
        out += [Variant(int(round(f * side)), False), Variant(int(round(f * side)), True)]
    return out


#: each tracker point's mirror partner (tools/make_tracker_mirror.py, from the canonical mesh)
MIRROR_FILE = Path(__file__).resolve().parents[2] / "resources" / "rig" / "tracker_mirror.json"


@lru_cache(maxsize=1)
def mirror_partner() -> np.ndarray:
    """(478,) int: for each tracker point, the point on the other side of the face (itself on
    the midline)."""
    return np.asarray(json.loads(MIRROR_FILE.read_text())["partner"], np.int64)


def blendshape_partner(names) -> np.ndarray:
    """(52,) int: each blendshape column's mirror column (eyeBlinkLeft <-> eyeBlinkRight)."""
    names = [str(n) for n in names]
    where = {n: i for i, n in enumerate(names)}
    out = np.arange(len(names))
    for i, n in enumerate(names):
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if n.endswith(a) and n[:-len(a)] + b in where:
                out[i] = where[n[:-len(a)] + b]
    return out


def faces_in_original(faces: FrameFaces, variant: Variant, variant_width: int, names) -> FrameFaces:
    """``faces`` found in ``variant``'s picture (``variant_width`` px wide), in the original frame's
    pixels. ``names``: the landmarker's 52 blendshape names (the columns' order)."""
    lm = faces.landmarks.astype(np.float32, copy=True)
    bs = faces.blendshapes.copy()
    pose = faces.pose.copy()
    if variant.mirrored:
        lm = lm[:, mirror_partner()]
        lm[..., 0] = variant_width - lm[..., 0]
        if names is not None:
            bs = bs[:, blendshape_partner(names)]
        S = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(pose.dtype)
        pose = S @ pose @ S
    lm[..., :2] -= variant.pad
    return FrameFaces(lm, bs, pose)


#: Pictures larger than this (long side, px) are shrunk to it before the variants are made: the
#: landmarker sees 256 px anyway, and a padded 4K frame would take hundreds of MB.
MAX_SIDE = 1024


def find_turned_face(frame: np.ndarray, landmarker: Landmarker) -> FrameFaces:
    """Faces in an RGB uint8 (H, W, 3) still that the plain and the crop searches missed, from the
    variants of :func:`turned_face_variants` (the first variant that finds a face whose centre
    lies inside the picture), in the still's pixels; empty when none finds one. ``landmarker``:
    the still's own (IMAGE mode). Seven landmarker calls at most (about 0.1-0.3 s)."""
    import cv2

    H, W = frame.shape[:2]
    k = min(1.0, MAX_SIDE / max(H, W))
    small = frame if k == 1.0 else cv2.resize(frame, (max(1, round(W * k)), max(1, round(H * k))),
                                              interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    for variant in turned_face_variants(h, w):
        picture = variant.make(small)
        faces = landmarker.detect(picture)
        if not faces.count:
            continue
        back = faces_in_original(faces, variant, picture.shape[1], landmarker.blendshape_names)
        centre = back.landmarks[:, :, :2].mean(1)
        inside = (centre[:, 0] >= 0) & (centre[:, 0] < w) & (centre[:, 1] >= 0) & (centre[:, 1] < h)
        if inside.any():
            lm_px = back.landmarks[inside] / np.float32(k)
            return FrameFaces(lm_px, back.blendshapes[inside], back.pose[inside])
    return FrameFaces.empty()
