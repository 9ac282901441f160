"""A still's landmarks averaged over re-detections in shifted, scaled and mirrored crops.

MediaPipe's landmarks move with the crop the network sees and differ between a picture and
its mirror image (the network is not left-right symmetric). On a still there is one look at
the face and no other frame to average that over, so :func:`averaged_face` looks again: the
chosen face is landmarked in square crops of :data:`CROP_SCALES` times its size, each at
:data:`CROP_SHIFTS` of its side off centre, each as it is and mirrored (18 landmarker calls
on crops of at most :data:`MAX_CROP_SIDE` px), and the finds are mapped back to the still
(``core.tracking.mirror``) and averaged with the first find. AFLW2000-3D, 16 images, ICT:
NME 4.40 -> 4.17 % after the fit (bench/bench_accuracy.py); NOTES, issue 15.

Pixels: x right, y down, z on x's scale (as ``FrameFaces``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.tracking.landmarker import Landmarker
from core.tracking.mirror import Variant, faces_in_original

#: Crop sides, as multiples of the face's size (the larger side of its points' box).
CROP_SCALES = (1.7, 2.2, 2.8)
#: Crop centres, as fractions of the crop's side from the face's centre (x, y).
CROP_SHIFTS = ((0.0, 0.0), (0.06, 0.06), (-0.06, -0.06))
#: Crops are shrunk to this side before detection: the landmarker sees 256 px anyway.
MAX_CROP_SIDE = 512
#: A re-detection whose points lie further than this from the first find (mean distance, as a
#: fraction of the face's size) found something else (a neighbour, a wrong fit) and is left out.
MAX_DISAGREEMENT = 0.08


@dataclass(frozen=True)
class Crop:
    """A square of ``side`` px at ``(x, y)`` (top-left, may reach beyond the picture, which is
    then extended with its edge pixels), ``mirrored`` after cropping."""

    x: int
    y: int
    side: int
    mirrored: bool

    def make(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The crop's RGB uint8 picture of ``frame`` (H, W, 3), at most MAX_CROP_SIDE px, and
        the factor (picture px per frame px) it was shrunk by. Only the part inside the frame is
        copied and shrunk (a large face in a 4K still would otherwise mean a 5,000 px copy per
        crop); the border is added after."""
        import cv2

        H, W = frame.shape[:2]
        x0, y0 = min(max(self.x, 0), W - 1), min(max(self.y, 0), H - 1)
        x1, y1 = max(min(self.x + self.side, W), x0 + 1), max(min(self.y + self.side, H), y0 + 1)
        n = min(self.side, MAX_CROP_SIDE)
        k = n / self.side
        inside = frame[y0:y1, x0:x1]
        w_in, h_in = max(1, min(n, round((x1 - x0) * k))), max(1, min(n, round((y1 - y0) * k)))
        if (w_in, h_in) != (x1 - x0, y1 - y0):
            inside = cv2.resize(inside, (w_in, h_in), interpolation=cv2.INTER_AREA)
        left, top = min(round((x0 - self.x) * k), n - w_in), min(round((y0 - self.y) * k), n - h_in)
        pic = cv2.copyMakeBorder(np.ascontiguousarray(inside), top, n - h_in - top, left, n - w_in - left,
                                 cv2.BORDER_REPLICATE)
        if self.mirrored:
            pic = pic[:, ::-1]
        return np.ascontiguousarray(pic), k


def augment_crops(points: np.ndarray) -> list[Crop]:
    """The crops to look again in, around a face whose (478, 2+) ``points`` are in frame px."""
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    centre, size = (lo + hi) / 2.0, float(max(hi - lo))
    out = []
    for scale in CROP_SCALES:
        side = max(8, int(round(scale * size)))
        for dx, dy in CROP_SHIFTS:
            x = int(round(centre[0] + dx * side - side / 2.0))
            y = int(round(centre[1] + dy * side - side / 2.0))
            out += [Crop(x, y, side, False), Crop(x, y, side, True)]
    return out


def averaged_face(frame: np.ndarray, landmarks: np.ndarray, blendshapes: np.ndarray,
                  landmarker: Landmarker) -> tuple[np.ndarray, np.ndarray]:
    """One face of an RGB uint8 (H, W, 3) still, landmarked again in :func:`augment_crops`.

    ``landmarks`` (478, 3) and ``blendshapes`` (52,): the face's first find, in frame pixels.
    ``landmarker``: the still's own (IMAGE mode). Returns the mean landmarks (478, 3) float32
    and blendshapes (52,) float32 over the first find and every re-detection that agrees with
    it (within MAX_DISAGREEMENT)."""
    names = landmarker.blendshape_names
    first = np.asarray(landmarks, np.float32)
    lo, hi = first[:, :2].min(0), first[:, :2].max(0)
    size = float(max(hi - lo))
    centre = first[:, :2].mean(0)
    points, scores = [first], [np.asarray(blendshapes, np.float32)]
    for crop in augment_crops(first):
        pic, k = crop.make(frame)
        found = landmarker.detect(pic)
        if not found.count:
            continue
        back = faces_in_original(found, Variant(0, crop.mirrored), pic.shape[1], names)
        lm = back.landmarks / np.float32(k)
        lm[..., 0] += crop.x
        lm[..., 1] += crop.y
        j = int(np.argmin(np.linalg.norm(lm[:, :, :2].mean(1) - centre, axis=1)))
        if np.linalg.norm(lm[j, :, :2] - first[:, :2], axis=1).mean() > MAX_DISAGREEMENT * size:
            continue
        points.append(lm[j])
        scores.append(back.blendshapes[j])
    return np.mean(points, axis=0).astype(np.float32), np.mean(scores, axis=0).astype(np.float32)
