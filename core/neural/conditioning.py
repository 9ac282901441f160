"""What the rendering network sees of a face: the NMFC image and the eyes image (thesis ch. 7,
Eqs. 7.2-7.3), cut to one fixed box per target clip, and the mouth centre D_M crops around.

- ``CropBox``: the per-frame face boxes of the target clip averaged into one square box, so the
  background inside the crop stays still (thesis L3893-3959); ``crop`` maps an image into the
  network's S x S crop, ``paste`` blends an S x S result back into a full frame.
- NMFC (Eq. 7.2): each visible triangle of the face painted with the normalised coordinates of
  its centroid on the model's mean face: the palette of ``core.render`` (``nmfc_reference``,
  ``nmfc_triangle_colours``), rasterised here on the CPU into the crop (the warp's painter's
  rasteriser, back faces culled), so it runs on any thread without an EGL context.
- Eyes (thesis 5.4): the eye contours joined with white lines and a red disc at each pupil.
  The pupils are the face's iris centres: for a tracked frame the gaze from the tracker's iris
  points (the thesis's inverse-intensity centroid, Eq. 7.3, where they are unreliable:
  ``core.warp.landmarks.gaze_from_landmarks``), for a driven face the transferred gaze. The
  training and the renderer build both images from a ``ProjectedFace`` by the same function.

Pixels: origin top-left, x right, y down, centres at integers. Crop images (S, S, 3) uint8 RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.model.face_model import FaceModel
from core.render.geometry import nmfc_reference, nmfc_triangle_colours
from core.warp.face import ProjectedFace, warp_triangles
from core.warp.landmarks import EYE_CONTOURS, EYES, INNER_LIPS, MIN_OPENING, eye_opening
from core.warp.raster import rasterize_triangle_ids

#: the fixed box's side: this many times the mean face box's larger side (head, hair and some
#: background, as the thesis's face crops)
BOX_SCALE = 1.6
#: a pupil disc's radius, as a fraction of the eye's width
PUPIL_RADIUS = 0.13
#: the mouth region's box: this many times the mean mouth width (outer corners), plus the
#: mouth's own travel over the clip (twice its 90th-percentile distance from the mean centre)
MOUTH_BOX_SCALE = 2.4
#: MediaPipe's outer mouth corners
OUTER_MOUTH_CORNERS = (61, 291)


@dataclass(frozen=True)
class CropBox:
    """A square box in a frame: top-left (x0, y0) and side in frame pixels, shown as an S x S
    crop. Frame pixel (x, y) is crop pixel ((x - x0) * S / side, (y - y0) * S / side) with pixel
    centres at integers: the box covers frame pixels x0 .. x0 + side - 1, so frame x is crop
    (x - x0 + 0.5) * S / side - 0.5 (a box may reach beyond the frame: ``crop`` repeats its edge)."""

    x0: float
    y0: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return self.size / self.side

    def to_crop(self, xy: np.ndarray) -> np.ndarray:
        """Frame pixels (..., 2) -> crop pixels (..., 2)."""
        return (np.asarray(xy, np.float64)[..., :2] - [self.x0, self.y0] + 0.5) * self.scale - 0.5

    def affine(self) -> np.ndarray:
        """(2, 3) the frame -> crop map for ``cv2.warpAffine`` (pixel centres at integers)."""
        s = self.scale
        # the box's outer edge (x0 - 0.5 in frame coordinates) is the crop's (-0.5)
        return np.array([[s, 0.0, -self.x0 * s + 0.5 * s - 0.5], [0.0, s, -self.y0 * s + 0.5 * s - 0.5]])

    def crop(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """(H, W, C) uint8 frame -> (S, S, C) crop (area-averaged when shrinking)."""
        x0, y0 = int(np.floor(self.x0)), int(np.floor(self.y0))
        x1, y1 = int(np.ceil(self.x0 + self.side)), int(np.ceil(self.y0 + self.side))
        H, W = image.shape[:2]
        exact = (x0 == self.x0 and y0 == self.y0 and x1 - x0 == self.side)
        if exact and x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H:
            return cv2.resize(image[y0:y1, x0:x1], (self.size, self.size), interpolation=interpolation)
        # off the frame or at a fractional position: an affine resampling with the edge repeated
        flags = cv2.INTER_LINEAR if interpolation == cv2.INTER_AREA and self.scale >= 1 else interpolation
        if self.scale < 1 and interpolation == cv2.INTER_AREA:
            # shrink: blur first so the bilinear resampling does not alias (area-like)
            k = int(2 * round(0.5 / self.scale) + 1)
            image = cv2.GaussianBlur(image, (k, k), 0.5 / self.scale)
        return cv2.warpAffine(image, self.affine(), (self.size, self.size), flags=flags,
                              borderMode=cv2.BORDER_REPLICATE)

    def frame_box(self, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The integer box (x0, y0, x1, y1) of the frame the crop covers, clipped to ``shape``
        (H, W); None when it misses the frame."""
        H, W = shape[:2]
        x0, y0 = max(int(np.floor(self.x0)), 0), max(int(np.floor(self.y0)), 0)
        x1, y1 = min(int(np.ceil(self.x0 + self.side)), W), min(int(np.ceil(self.y0 + self.side)), H)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def paste(self, frame: np.ndarray, crop_rgb: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 with an S x S result blended in: ``crop_rgb`` (S, S, 3) uint8,
        ``crop_mask`` (S, S) float in [0, 1] (1: the result, 0: the frame). A new array."""
        out = frame.copy()
        box = self.frame_box(frame.shape)
        if box is None:
            return out
        x0, y0, x1, y1 = box
        # region pixel (x, y) samples the crop at the frame -> crop map of (x0 + x, y0 + y)
        A = self.affine()
        A[:, 2] += A[:, :2] @ np.array([x0, y0], np.float64)
        size = (x1 - x0, y1 - y0)
        rgb = cv2.warpAffine(crop_rgb, A, size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        m = cv2.warpAffine(np.ascontiguousarray(crop_mask, np.float32), A, size,
                           flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        region = out[y0:y1, x0:x1].astype(np.float32)
        m = np.clip(m, 0, 1)[..., None]
        out[y0:y1, x0:x1] = np.clip(region + m * (rgb.astype(np.float32) - region) + 0.5, 0, 255).astype(np.uint8)
        return out

    def to_dict(self) -> dict:
        """The box as JSON-ready numbers (the manifest's ``crop_box``)."""
        return dict(x0=float(self.x0), y0=float(self.y0), side=float(self.side), size=int(self.size))

    @classmethod
    def from_dict(cls, d: dict) -> "CropBox":
        """The box ``to_dict`` wrote."""
        return cls(float(d["x0"]), float(d["y0"]), float(d["side"]), int(d["size"]))


def fixed_box(points: np.ndarray, valid: np.ndarray, size: int, scale: float = BOX_SCALE) -> CropBox:
    """The clip's one box: the per-frame boxes of the 468 face points averaged (centre and
    side), squared and grown by ``scale``. points (F, >=468, >=2) pixels; valid (F,) bool;
    size: the crop's side S. Raises ValueError when no frame is valid."""
    P = np.asarray(points)[np.asarray(valid, bool)][:, :468, :2].astype(np.float64)
    P = P[np.isfinite(P).all(axis=(1, 2))]
    if len(P) == 0:
        raise ValueError("no frame with a face to place the crop box")
    lo, hi = P.min(axis=1), P.max(axis=1)                  # (F', 2) each
    centre = ((lo + hi) / 2).mean(axis=0)
    side = float((hi - lo).max(axis=1).mean() * scale)
    return _square(centre, side, size)


def _square(centre: np.ndarray, side: float, size: int) -> CropBox:
    # whole pixels: an exact, resampling-free crop when the box lies inside the frame
    side = float(max(8, int(round(side))))
    x0, y0 = np.round(np.asarray(centre) - side / 2)
    return CropBox(float(x0), float(y0), side, int(size))


def mouth_region_box(points: np.ndarray, valid: np.ndarray, size: int,
                     scale: float = MOUTH_BOX_SCALE) -> CropBox:
    """The clip's one box around the mouth (a ``mouth`` region preset): centred on the mean
    inner-lip centre, ``scale`` times the mean mouth width plus the mouth's travel (twice the
    90th percentile of its centre's distance from the mean, the larger axis), so the mouth of
    nearly every frame lies inside. points (F, 478, >=2) pixels; valid (F,) bool."""
    P = np.asarray(points)[np.asarray(valid, bool)][..., :2].astype(np.float64)
    P = P[np.isfinite(P[:, :468]).all(axis=(1, 2))]
    if len(P) == 0:
        raise ValueError("no frame with a face to place the mouth box")
    centres = P[:, list(INNER_LIPS)].mean(axis=1)                            # (F', 2)
    width = np.linalg.norm(P[:, OUTER_MOUTH_CORNERS[0]] - P[:, OUTER_MOUTH_CORNERS[1]], axis=1).mean()
    centre = centres.mean(axis=0)
    travel = np.percentile(np.abs(centres - centre), 90, axis=0).max()
    return _square(centre, scale * width + 2 * travel, size)


def region_box(region: str, points: np.ndarray, valid: np.ndarray, size: int) -> CropBox:
    """The fixed box of a preset's region: "head" (``fixed_box``) or "mouth" (``mouth_region_box``)."""
    if region == "head":
        return fixed_box(points, valid, size)
    if region == "mouth":
        return mouth_region_box(points, valid, size)
    raise ValueError(f"unknown region {region!r}")


def opening_triangles(model: FaceModel, triangles: np.ndarray) -> np.ndarray:
    """(T,) bool: the triangles that close an opening of the face (mouth, eyes): all three
    corners on one opening's contour (``INNER_LIPS``, ``EYE_CONTOURS``, the tracker's points taken
    to the model vertex that carries most of each point's embedding). The built-in mesh closes
    its lips and lids with such triangles; drawn, they would hide an open mouth from the NMFC
    image. A model with real openings (ICT) has none."""
    out = np.zeros(len(triangles), bool)
    e = model.embedding
    if e is None:
        return out
    corners = np.asarray(model.triangles)[np.asarray(e.triangles)]             # (L, 3)
    carrier = corners[np.arange(len(corners)), np.argmax(np.asarray(e.barycentric), axis=1)]
    for ring in (INNER_LIPS, *EYE_CONTOURS):
        if max(ring) >= len(carrier):
            continue
        out |= np.isin(triangles, carrier[list(ring)]).all(axis=1)
    return out


class Conditioner:
    """NMFC and eyes images of faces in a fixed box. One per model (the palette is computed
    once); thread-safe (no state changes after construction)."""

    def __init__(self, model: FaceModel):
        tri = warp_triangles(model)
        # the mouth and eyes stay open in the NMFC image (black where the face has a hole)
        self.triangles = tri[~opening_triangles(model, tri)]
        ref = nmfc_reference(np.asarray(model.mean), self.triangles)
        colours = nmfc_triangle_colours(ref, self.triangles)
        # triangle id -> colour; -1 (background) -> black
        self.palette = np.zeros((len(self.triangles) + 1, 3), np.uint8)
        self.palette[:-1] = np.clip(np.round(colours * 255), 0, 255).astype(np.uint8)

    def nmfc(self, face: ProjectedFace, box: CropBox) -> np.ndarray:
        """(S, S, 3) uint8: the face's NMFC image in the crop (black off the face)."""
        screen = np.array(face.screen, np.float64, copy=True)
        screen[:, :2] = box.to_crop(screen[:, :2])
        ids = rasterize_triangle_ids(screen, self.triangles, (box.size, box.size))
        return self.palette[ids]  # ids -1 index the black last row

    def eyes(self, face: ProjectedFace, box: CropBox) -> np.ndarray:
        """(S, S, 3) uint8: the eye contours in white and the pupils as red discs (closed eyes:
        the contour only)."""
        S = box.size
        img = np.zeros((S, S, 3), np.uint8)
        pts = box.to_crop(face.points)
        shift = 4
        thick = max(1, int(round(S / 256)))
        polys = [np.round(pts[list(c)] * (1 << shift)).astype(np.int32) for c in EYE_CONTOURS]
        cv2.polylines(img, polys, True, (255, 255, 255), thick, cv2.LINE_AA, shift)
        iris = box.to_crop(face.iris)
        for e, eye in enumerate(EYES):
            if float(eye_opening(face.points, eye)) <= MIN_OPENING or not np.isfinite(iris[e]).all():
                continue
            width = float(np.linalg.norm(pts[eye["corners"][1]] - pts[eye["corners"][0]]))
            r = max(1.0, PUPIL_RADIUS * width)
            cv2.circle(img, tuple(int(v) for v in np.round(iris[e] * (1 << shift))), int(round(r * (1 << shift))),
                       (255, 0, 0), -1, cv2.LINE_AA, shift)
        return img

    def condition(self, face: ProjectedFace, box: CropBox) -> np.ndarray:
        """(S, S, 6) uint8: NMFC (channels 0-2) and eyes (3-5), the network's X_t."""
        return np.concatenate([self.nmfc(face, box), self.eyes(face, box)], axis=2)


def mouth_centre(face: ProjectedFace, box: CropBox) -> np.ndarray:
    """(2,) crop pixels: the centre of the inner lip contour, where D_M's crops are centred."""
    return box.to_crop(np.asarray(face.points)[list(INNER_LIPS), :2].mean(axis=0))


def mouth_box(centre: np.ndarray, side: int, size: int) -> tuple[int, int]:
    """Top-left (x0, y0) of the ``side`` square around ``centre`` (crop pixels), kept inside the
    S x S crop (``size``)."""
    c = np.asarray(centre, np.float64)
    x0 = int(np.clip(np.round(c[0] - side / 2), 0, size - side))
    y0 = int(np.clip(np.round(c[1] - side / 2), 0, size - side))
    return x0, y0
