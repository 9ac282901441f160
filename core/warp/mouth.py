"""Filling the mouth the target never showed open.

Mouth: when the driven mouth opens wider than the target's, the warp would only
stretch the target's lips across the gap. Inside the driven inner-lip polygon we
composite either
- with a target video: the mouth interior of the target frame whose opening best
  matches (Face2Face's retrieval), mapped by a least-squares affine fit of its
  inner-lip points to the driven ones (a ``MouthBank``); or
- with a still: ICT-FaceKit's teeth, gums and tongue placed under the driven mouth and
  shaded in the target's colours (``core.warp.interior``), over a shaded cavity; without
  ICT (or with ``WarpSettings.mouth_interior = "synthetic"``) the cavity with an upper (and,
  when wide open, a lower) teeth band, coloured from the target's face.
The blend weight ramps with how much wider the driven mouth is than the target's,
so there is no pop, and everything is deterministic (no flicker).

Pixels, origin top-left; images RGB uint8 (H, W, 3); points (478, 2) in MediaPipe's
topology (see ``core.warp.landmarks``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.numeric import smoothstep
from core.warp.fields import face_size
from core.warp.landmarks import INNER_LIPS, LIP_MIDDLE, MOUTH_CORNERS
from core.warp.raster import feathered_polygon_mask, polygon_box


#: opening difference (in face sizes) over which the filled interior fades in
MOUTH_RAMP = 0.025


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap / face size (478, >=2) -> float."""
    p = points[:, :2]
    return float(np.linalg.norm(p[LIP_MIDDLE[0]] - p[LIP_MIDDLE[1]]) / face_size(p[:468]))


#: MediaPipe's outer lip contour (closed loop)
OUTER_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)


def lip_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Median RGB (3,) float of the lips (between the outer and inner lip contours of the
    478 points, pixels) in ``image`` (H, W, 3) uint8; None when the lips cover no pixel."""
    outer = points[list(OUTER_LIPS), :2]
    roi = polygon_box(outer, image.shape[:2], margin=1)
    if roi is None:
        return None
    x0, y0, x1, y1 = roi
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((outer - [x0, y0]) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    inner = points[list(INNER_LIPS), :2] - [x0, y0]
    cv2.fillPoly(m, [np.round(inner * 16).astype(np.int32)], 0, lineType=cv2.LINE_8, shift=4)
    # the lips' own edge pixels are mixed with skin and the crease: erode by a pixel
    m = cv2.erode(m, np.ones((3, 3), np.uint8)) if m.sum() > 40 else m
    px = image[y0:y1, x0:x1][m > 0]
    return np.median(px, axis=0).astype(np.float64) if len(px) else None


#: mouth width (driven / the target's) below which pursed lips start to hide the teeth,
#: and the further narrowing over which they disappear: an "o" or a pucker pushes the lips
#: forward, away from the teeth, so the opening shows only the dark cavity
TEETH_HIDE_WIDTH = 0.8


TEETH_HIDE_RAMP = 0.15


def teeth_visibility(width: float, rest_width: float | None) -> float:
    """0..1: 1 unless the driven mouth (corner-to-corner ``width`` px) is pursed, narrower than
    ``TEETH_HIDE_WIDTH`` times the target's ``rest_width``."""
    if not rest_width:
        return 1.0
    return float(smoothstep((width / rest_width - (TEETH_HIDE_WIDTH - TEETH_HIDE_RAMP)) / TEETH_HIDE_RAMP))


def synthesize_mouth(points: np.ndarray, roi: tuple[int, int, int, int], skin: np.ndarray,
                     lips: np.ndarray | None = None, rest_width: float | None = None,
                     with_teeth: bool = True) -> np.ndarray:
    """A shaded mouth cavity with teeth bands in the ROI (h, w, 3) float32, RGB 0-255.

    points: the driven 478 points (output pixels); skin: (3,) mean face colour; lips: (3,)
    the target's lip colour (None: derived from skin). Every colour comes from the target's
    own face, so the cavity matches its lighting and white balance: the cavity is the lip
    colour in shadow (darkest at the back, the top of the opening), a tongue-coloured lower
    part once the jaw drops, an upper (and, wide open, a lower) teeth band whose white is
    tinted by the skin (a neutral white reads as cyan next to warm skin). Teeth darken
    towards the mouth corners. rest_width: the target's mouth width (px, corner to corner);
    a driven mouth much narrower than that is pursed and shows no teeth. with_teeth=False: the
    cavity alone (the background of ``core.warp.interior``'s rendered interior).
    """
    x0, y0, x1, y1 = roi
    p = points[:, :2] - [x0, y0]
    left, right = p[MOUTH_CORNERS[0]], p[MOUTH_CORNERS[1]]
    up_mid, lo_mid = p[LIP_MIDDLE[0]], p[LIP_MIDDLE[1]]
    width = max(np.linalg.norm(right - left), 1.0)
    ex = (right - left) / width
    ey = np.array([-ex[1], ex[0]])
    ys, xs = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
    rel = np.stack([xs, ys], -1) - (left + right) / 2
    u = (rel @ ex) / (width / 2)  # -1 .. 1 corner to corner
    v = rel @ ey  # pixels, down
    # inner-lip curves as functions of u: upper and lower lip polylines interpolated
    n = len(INNER_LIPS) // 2
    upper = p[list(INNER_LIPS[: n + 1])]
    lower = p[list(INNER_LIPS[n:]) + [INNER_LIPS[0]]]

    def curve(poly):
        cu = ((poly - (left + right) / 2) @ ex) / (width / 2)
        cv = (poly - (left + right) / 2) @ ey
        order = np.argsort(cu)
        return np.interp(u, cu[order], cv[order])

    v_up, v_lo = curve(upper), curve(lower)
    gap = np.maximum(v_lo - v_up, 1e-3)
    opening = float(np.linalg.norm(lo_mid - up_mid))
    skin = np.asarray(skin, np.float64)
    lip = np.asarray(lips, np.float64) if lips is not None else skin * np.array([1.0, 0.75, 0.78])
    # relative position in the opening: 0 at the upper inner lip, 1 at the lower one
    f = np.clip((v - v_up) / gap, 0.0, 1.0)
    # the cavity: lip colour in shadow, darkest in the upper middle (the back of the mouth),
    # lighter towards the lower lip where the tongue rests, never darker than a shadow of
    # the lips (no black hole, no dark ring against the lips)
    shade = 0.34 + 0.22 * f + 0.12 * np.abs(u) ** 2
    tongue = smoothstep((opening / width - 0.08) / 0.15) * smoothstep((f - 0.45) / 0.4)
    shade = shade + tongue * 0.2
    img = lip[None, None] * shade[..., None]
    # teeth inside a mouth are lit through the lips: an ivory warmed by the lip colour
    teeth = 0.75 * np.array([236.0, 228.0, 212.0]) * float(np.clip(skin.mean() / 165.0, 0.45, 1.0)) + 0.25 * lip
    side = np.clip(1.0 - 0.8 * np.abs(u) ** 2, 0.2, 1.0)
    show = teeth_visibility(width, rest_width) if with_teeth else 0.0
    # faint seams between teeth (about 8 show across a mouth), centred on the midline
    phase = u * 4.0
    side = side * (1.0 - 0.12 * np.exp(-((phase - np.round(phase)) / 0.05) ** 2))
    # upper incisors are ~1 cm tall, a mouth ~5 cm wide; inside an open mouth they show as
    # a band under the upper lip, partly in the lip's shadow
    t_up = np.clip(min(0.14 * width, 0.4 * opening), 1.0, None)
    a_up = smoothstep((t_up - (v - v_up)) / 1.5) * (v >= v_up - 1) * show
    lit = (0.85 + 0.15 * smoothstep((v - v_up) / max(t_up, 1.0)))[..., None]  # lip shadow on top
    img = img * (1 - a_up[..., None]) + (teeth * side[..., None] * lit) * a_up[..., None]
    if with_teeth and opening > 0.12 * width:  # the lower teeth show once the jaw drops a little
        t_lo = min(0.1 * width, 0.22 * opening) * smoothstep((opening / width - 0.12) / 0.1)
        a_lo = smoothstep((t_lo - (v_lo - v)) / 1.5) * (v <= v_lo + 1) * show
        img = img * (1 - a_lo[..., None]) + (teeth * 0.8 * side[..., None]) * a_lo[..., None]
    # just outside the opening: the lips' own colour. The fill reaches a pixel beyond the inner
    # lip line to cover the target's lip crease, which the warp stretches along that line
    # (otherwise a dark ring around the opened mouth)
    outside = np.clip(np.maximum(v_up - v, v - v_lo) + 0.5, 0.0, 1.0)[..., None]
    img = img * (1 - outside) + lip[None, None] * outside
    return img.astype(np.float32)


@dataclass
class MouthSample:
    """One retrieved mouth: a crop of a target frame, its inner-lip points in the crop and its opening."""

    image: np.ndarray  # (h, w, 3) uint8 crop of the target frame
    points: np.ndarray  # (20, 2) inner-lip points in crop pixels
    opening: float


class MouthBank:
    """Mouth interiors of a target video, retrieved by opening (Face2Face-style).

    Built from target frames and their 478 tracked points; keeps a handful of
    samples spanning the openings seen. ``pick`` has hysteresis so the choice does
    not flip between frames.
    """

    def __init__(self, max_samples: int = 24):
        self.samples: list[MouthSample] = []
        self.max_samples = max_samples
        self._last: int | None = None

    def add(self, frame: np.ndarray, points: np.ndarray) -> None:
        """Keep the mouth of ``frame`` (H, W, 3) uint8 with its tracked points (478, 2) px."""
        lips = points[list(INNER_LIPS), :2]
        roi = polygon_box(lips, frame.shape[:2], margin=4)
        if roi is None:
            return
        x0, y0, x1, y1 = roi
        self.samples.append(MouthSample(frame[y0:y1, x0:x1].copy(), lips - [x0, y0], mouth_opening(points)))

    def finish(self) -> None:
        """Keep at most ``max_samples`` samples, evenly spread over the openings."""
        self.samples.sort(key=lambda s: s.opening)
        if len(self.samples) > self.max_samples:
            idx = np.unique(np.round(np.linspace(0, len(self.samples) - 1, self.max_samples)).astype(int))
            self.samples = [self.samples[i] for i in idx]

    def pick(self, opening: float) -> MouthSample | None:
        """The sample whose opening is nearest ``opening`` (kept while it stays as good: no flicker), or None."""
        if not self.samples:
            return None
        ops = np.array([s.opening for s in self.samples])
        best = int(np.argmin(np.abs(ops - opening)))
        if self._last is not None and self._last < len(ops) and \
                abs(ops[self._last] - opening) < abs(ops[best] - opening) + 0.01:
            best = self._last
        self._last = best
        return self.samples[best]


_COLOUR_CACHE: dict = {}


def target_colours(target_frame: np.ndarray, target_points: np.ndarray,
                   key=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(skin (3,), lips (3,) or None) RGB floats of the target's face, cached per ``key``
    (a still target: computed once)."""
    if key is not None:
        hit = _COLOUR_CACHE.get(key)
        if hit is not None and hit[0] is target_frame:
            return hit[1]
    face = target_points[:468, :2]
    fx0, fy0 = np.clip(face.min(0).astype(int), 0, None)
    fx1, fy1 = face.max(0).astype(int)
    skin = target_frame[fy0:fy1, fx0:fx1].reshape(-1, 3).mean(0) if fy1 > fy0 and fx1 > fx0 \
        else np.array([150.0, 120.0, 100.0])
    res = (skin, lip_colour(target_frame, target_points))
    if key is not None:
        if len(_COLOUR_CACHE) >= 4:  # it holds frames: keep it small
            _COLOUR_CACHE.clear()
        _COLOUR_CACHE[key] = (target_frame, res)
    return res


def fill_mouth(out: np.ndarray, driven_points: np.ndarray, target_points: np.ndarray,
               target_frame: np.ndarray, bank: MouthBank | None = None, key=None,
               interior=None, rim: str = "fill") -> bool:
    """Composite a mouth interior into ``out`` (H, W, 3) uint8, in place, where the driven
    mouth (points (478, 2), output pixels) is open wider than the target's. ``key``
    identifies the target frame for caching its colours (None: no cache). ``interior``: a
    ``core.warp.interior.MouthInterior`` (or a function returning one or None, called only
    when a mouth is to be filled) renders ICT's teeth, gums and tongue when no target video's
    mouth is retrieved (None: the synthetic cavity with teeth bands). ``rim``: what the one-pixel
    rim outside the driven inner-lip polygon (which the mask's dilation reaches) shows: "fill"
    (the fill's own: the target's lip colour for a still, the retrieved mouth's for a video) or
    "target" (what the warp put there: the target's own inner lip edge, stretched, ``out``
    unchanged). Returns whether anything was filled."""
    if rim not in ("fill", "target"):
        raise ValueError(f"unknown mouth rim {rim!r}; use fill or target")
    gap = mouth_opening(driven_points) - mouth_opening(target_points)
    alpha_open = float(smoothstep(gap / MOUTH_RAMP))
    if alpha_open <= 0.0:
        return False
    lips_xy = driven_points[list(INNER_LIPS), :2]
    roi = polygon_box(lips_xy, out.shape[:2], margin=3)
    if roi is None:
        return False
    x0, y0, x1, y1 = roi
    mask = feathered_polygon_mask(lips_xy - [x0, y0], (y1 - y0, x1 - x0), feather=0.8)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8)) * alpha_open  # one pixel over the lip line
    sample = bank.pick(mouth_opening(driven_points)) if bank is not None else None
    if sample is not None and sample.opening > mouth_opening(target_points) + 0.5 * MOUTH_RAMP:
        A, _ = cv2.estimateAffine2D(sample.points.astype(np.float32), (lips_xy - [x0, y0]).astype(np.float32),
                                    method=cv2.LMEDS)
        if A is None:
            return False
        fill = cv2.warpAffine(sample.image, A, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    else:
        if interior is not None and not hasattr(interior, "render"):
            interior = interior()
        skin, lips = target_colours(target_frame, target_points, key)
        rest = float(np.linalg.norm(target_points[MOUTH_CORNERS[0], :2] - target_points[MOUTH_CORNERS[1], :2]))
        fill = synthesize_mouth(driven_points, roi, skin, lips, rest_width=rest, with_teeth=interior is None)
        if interior is not None:
            width = float(np.linalg.norm(driven_points[MOUTH_CORNERS[0], :2] - driven_points[MOUTH_CORNERS[1], :2]))
            cavity = fill
            fill = interior.render(driven_points, roi, skin, lips, cavity, teeth_visibility(width, rest),
                                   rest_points=target_points)
            # the pixel over the inner lip line keeps the lips' colour (the cavity's rim): teeth
            # painted there would move the lip's visible edge (the tracker reads it: AED, APD)
            outside = _inner_polygon(lips_xy, roi) == 0
            fill[outside] = cavity[outside]
    if rim == "target":
        # a flat lip-coloured ring reads as a lighter, thicker inner lip (it is not in shadow like
        # the real edge): the target's own edge, which the warp already put on the driven lip
        # line, stays (measured on d10, whose mouth is filled in every frame: re-tracked head
        # pose error 1.73 -> 1.64 deg, blendshape error 0.0288 -> 0.0284)
        mask[_inner_polygon(lips_xy, roi) == 0] = 0.0
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region + mask[..., None] * (fill - region) + 0.5, 0, 255).astype(np.uint8)
    return True


def _inner_polygon(lips_xy: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """(h, w) uint8 of the ROI: 1 inside the inner-lip polygon (20, 2) frame pixels, 0 outside."""
    x0, y0, x1, y1 = roi
    inner = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(inner, [np.round((lips_xy - [x0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return inner
