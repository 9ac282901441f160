"""A still target at a bounded working resolution.

A 16000x16000 photo is 768 MB of pixels; warping, filling the mouth and encoding video at
that size took 20 s a frame and 5.5 GB. Reenactment works on at most ``WORK_MAX_SIDE``
pixels on the long side instead:

- the whole picture scaled down, when its face is still at least ``MIN_WORK_FACE`` pixels
  wide there (a high-resolution portrait);
- otherwise a crop around the face, ``CROP_FACES`` face sizes wide (the hair and shoulders
  the head's motion moves), scaled to fit (a small face in a huge group photo), so the face
  keeps its detail.

Why 2048: it keeps any face up to ~2K pixels at its full detail, which is more than the
tracker (192 px landmark crops) and the fit can use; it bounds a working frame to 12 MB and
a warp field to 32 MB, so the cost per frame stays that of ordinary footage; and a 2K video
plays everywhere. ``compose_full`` puts each working frame back into the full-size picture
when the caller asks for output at the source's size (``reenact --full-size``).

The picture is decoded once by OpenCV straight into one array (Pillow would hold a 4-byte
copy and a 3-byte one: 1.8 GB at 16000x16000) and given up as soon as the working image is
cut, unless the full-size output needs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core.errors import InputError
from core.jobs import ProgressFn, report
from core.video.writer import OUTPUT_MAX_SIDE

#: longest side of the working image (see the module docstring for why)
WORK_MAX_SIDE = OUTPUT_MAX_SIDE
#: a face narrower than this in the scaled whole picture is worked on in a crop instead
MIN_WORK_FACE = 256
#: width of the crop around a small face, in face sizes
CROP_FACES = 4.0
#: side (working pixels) of the tiles a small face is searched in, and of the search levels
_SEARCH_TILE = 1024


@dataclass
class WorkingStill:
    """A still as reenactment works on it.

    image : (h, w, 3) uint8 RGB, at most ``max_side`` on its long side
    region : (x0, y0, x1, y1) the part of the original picture ``image`` shows (pixels)
    scale : working pixels per original pixel
    full_size : (H, W) of the original picture
    full : (H, W, 3) uint8 RGB original, kept only for a full-size output (else None)
    """

    image: np.ndarray
    region: tuple[int, int, int, int]
    scale: float
    full_size: tuple[int, int]
    full: np.ndarray | None = None
    _patch: tuple | None = field(default=None, repr=False)

    @property
    def reduced(self) -> bool:
        """True when the working image is not the picture itself (scaled or cropped)."""
        return self.scale != 1.0 or self.region != (0, 0, self.full_size[1], self.full_size[0])

    def describe(self) -> str:
        """'16000x16000 worked on at 2048x2048 (the whole picture scaled by 0.128)' and the like."""
        H, W = self.full_size
        h, w = self.image.shape[:2]
        if not self.reduced:
            return f"{W}x{H}"
        x0, y0, x1, y1 = self.region
        what = "the whole picture" if (x0, y0, x1, y1) == (0, 0, W, H) else \
            f"a crop around the face, x {x0}-{x1}, y {y0}-{y1}"
        return f"{W}x{H} worked on at {w}x{h} ({what}, scaled by {self.scale:.3g})"

    def compose_full(self, out: np.ndarray) -> np.ndarray:
        """The full-size picture with the working frame ``out`` (h, w, 3) put back where it came
        from: only the part that differs from the working image is scaled up and pasted, the
        rest keeps the original's own pixels. Reuses one full-size buffer (the returned array
        is valid until the next call)."""
        if self.full is None:
            raise ValueError("the full-size picture was not kept (load_working_still(keep_full=True))")
        if self._patch is not None:  # the previous frame's paste undone
            (py0, py1, px0, px1), saved = self._patch
            self.full[py0:py1, px0:px1] = saved
            self._patch = None
        changed = np.any(out != self.image, axis=2)
        rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
        if rows.size == 0:
            return self.full
        x0, y0 = self.region[:2]
        s = self.scale
        by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        H, W = self.full_size
        fy0, fx0 = max(0, int(np.floor(y0 + by0 / s))), max(0, int(np.floor(x0 + bx0 / s)))
        fy1, fx1 = min(H, int(np.ceil(y0 + by1 / s))), min(W, int(np.ceil(x0 + bx1 / s)))
        # the pasted block covers exactly [fx0, fx1) x [fy0, fy1): map it back to working pixels
        src = out[max(0, int(np.floor((fy0 - y0) * s))):int(np.ceil((fy1 - y0) * s)),
                  max(0, int(np.floor((fx0 - x0) * s))):int(np.ceil((fx1 - x0) * s))]
        patch = cv2.resize(src, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_CUBIC)
        self._patch = ((fy0, fy1, fx0, fx1), self.full[fy0:fy1, fx0:fx1].copy())
        self.full[fy0:fy1, fx0:fx1] = patch
        return self.full


_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


def _imread(path: Path, k: int = 1) -> np.ndarray:
    """The picture at 1/k of its size (k in 1, 2, 4, 8), (h, w, 3) uint8 RGB, EXIF orientation
    applied. OpenCV scales while decoding (JPEG) or right after, so only the reduced copy stays
    (a full decode holds two copies for a moment)."""
    try:
        img = cv2.imread(str(path), _REDUCED_FLAGS[k])
    except cv2.error as e:
        raise InputError(f"{path}: the image cannot be decoded ({e})") from e
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode the image") from None
    if img is None:
        raise InputError(f"{path}: not a readable image: the file is corrupt, truncated or not an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class _Picture:
    """A decoded picture to cut scaled regions from: a numpy array decoded at 1/``unit`` of the
    size, or a loaded Pillow image (full size, held once at ~4 bytes a pixel). Boxes and scales
    are in the original picture's pixels."""

    def __init__(self, size: tuple[int, int], array: np.ndarray | None = None, pil=None, unit: float = 1.0):
        self.size = size  # (W, H) of the original, upright
        self.array, self.pil, self.unit = array, pil, float(unit)

    def region(self, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
        """(h, w, 3) uint8 RGB: ``box`` (x0, y0, x1, y1) at ``scale`` (at most the decoded detail)."""
        x0, y0, x1, y1 = box
        w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        if self.pil is not None:  # resize straight from the box: no copy of the region first
            part = self.pil.resize((w, h), Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC,
                                   box=box)
            return np.asarray(part if part.mode == "RGB" else part.convert("RGB"))
        u = self.unit
        a = self.array[int(y0 / u):int(np.ceil(y1 / u)), int(x0 / u):int(np.ceil(x1 / u))]
        if a.shape[:2] == (h, w):
            return np.ascontiguousarray(a)
        return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if w < a.shape[1] else cv2.INTER_LINEAR)


def _starts(n: int, side: int) -> list[int]:
    """Starts of tiles of ``side`` covering [0, n) with a quarter of overlap."""
    if side >= n:
        return [0]
    count = int(np.ceil((n - side) / (0.75 * side))) + 1
    return sorted({int(round(v)) for v in np.linspace(0, n - side, count)})


def _face_box(pic: _Picture, progress: ProgressFn | None, side: int | None = None
              ) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of the largest face in the original's pixels, found on scaled copies:
    the whole picture at ``_SEARCH_TILE`` pixels, then overlapping tiles of half, a quarter...
    of it (a small face in a huge picture), stopping at the first level with a face and at
    tiles of twice the search size in the decoded picture's own pixels. ``side``: the tile
    side to start with (default the whole picture)."""
    from core.tracking.landmarker import Landmarker

    W, H = pic.size
    side = side or max(H, W)
    with Landmarker(video=False) as lm:
        level = 0
        while True:
            tiles = [(y, x) for y in _starts(H, side) for x in _starts(W, side)]
            best = None
            for k, (y, x) in enumerate(tiles):
                box = (x, y, min(W, x + side), min(H, y + side))
                s = min(1.0 / pic.unit, _SEARCH_TILE / side)
                faces = lm.detect(pic.region(box, s))
                report(progress, k + 1, len(tiles), f"finding the face (level {level + 1})")
                for pts in faces.landmarks:
                    p = pts[:, :2] / s + (x, y)
                    found = (*p.min(0), *p.max(0))
                    if best is None or found[2] - found[0] > best[2] - best[0]:
                        best = found
            if best is not None or side / pic.unit <= 2 * _SEARCH_TILE:
                return best
            side //= 2
            level += 1


def load_working_still(path: str | Path, max_side: int = WORK_MAX_SIDE, keep_full: bool = False,
                       progress: ProgressFn | None = None) -> WorkingStill:
    """Load a still for reenactment at a bounded working resolution (see the module docstring).

    A picture within ``max_side`` is returned as it is (scale 1). Larger: decoded at a
    reduction (1/2 .. 1/8) and searched for its face; a small face is then cut from a
    full-resolution decode. ``keep_full``: keep the original for ``compose_full``.
    InputError when the file cannot be read.
    """
    from PIL import UnidentifiedImageError

    from core.video.images import check_frame_size, load_image

    path = Path(path)
    try:
        with Image.open(path) as im:  # the header only: the size before any decoding
            turned = _orientation(im) in (5, 6, 7, 8)  # EXIF: a quarter turn to be upright
            W, H = im.size[::-1] if turned else im.size
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        W = H = 0
    if max(W, H) <= max_side:  # (or unknown to Pillow: load_image reports it)
        img = load_image(path)
        h, w = img.shape[:2]
        if max(h, w) <= max_side:
            return WorkingStill(img, (0, 0, w, h), 1.0, (h, w), img if keep_full else None)
        H, W = h, w
    check_frame_size(H, W, str(path))
    k = max([f for f in _REDUCED_FLAGS if max(W, H) / f >= 0.75 * max_side] or [1])
    report(progress, 0, 0, f"decoding the {W}x{H} picture at 1/{k}")
    reduced = _Picture((W, H), array=_imread(path, k), unit=k)
    s_whole = min(1.0 / k, max_side / max(H, W))
    box = _face_box(reduced, progress)
    face = 0.0 if box is None else max(box[2] - box[0], box[3] - box[1])
    if box is not None and face * s_whole >= MIN_WORK_FACE:  # a big face: the whole picture, scaled
        work = reduced.region((0, 0, W, H), s_whole)
        full = _imread(path) if keep_full else None
        return WorkingStill(work, (0, 0, W, H), work.shape[1] / W, (H, W), full)
    report(progress, 0, 0, f"decoding the {W}x{H} picture at full size (a small face)")
    pic = _full_picture(path, (W, H))
    del reduced
    if box is None:  # (the whole picture at search size was seen in the reduced copy)
        box = _face_box(pic, progress, side=max(W, H) // 2)
    if box is None:  # no face anywhere: the whole picture (the tracker then says so)
        region = (0, 0, W, H)
    else:
        face = max(box[2] - box[0], box[3] - box[1])
        c = int(min(max(H, W), max(CROP_FACES * face, max_side)))
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x0 = int(np.clip(round(cx - c / 2), 0, max(0, W - c)))
        y0 = int(np.clip(round(cy - c / 2), 0, max(0, H - c)))
        region = (x0, y0, min(W, x0 + c), min(H, y0 + c))
    s = min(1.0, max_side / max(region[2] - region[0], region[3] - region[1]))
    work = np.ascontiguousarray(pic.region(region, s))
    if keep_full:  # one writable array (Pillow's copy given up first)
        full = pic.array if pic.array is not None else None
        del pic
        full = _imread(path) if full is None else full
    return WorkingStill(work, region, s, (H, W), full if keep_full else None)


def _orientation(im) -> int:
    """EXIF orientation of an opened (not decoded) image; 1 for PNG, whose EXIF chunk Pillow
    finds only by decoding the whole picture (and which OpenCV does not apply either)."""
    if im.format == "PNG":
        return 1
    try:
        return int(im.getexif().get(0x0112, 1))
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1


def _full_picture(path: Path, size: tuple[int, int]) -> _Picture:
    """The picture at full resolution: Pillow's one copy when it is stored upright, else
    OpenCV's decode (which turns it upright; two copies for a moment)."""
    try:
        im = Image.open(path)
        if _orientation(im) in (0, 1):
            im.load()
            return _Picture(size, pil=im)
        im.close()
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: the image cannot be decoded ({e})") from e
    except MemoryError:
        raise InputError(f"{path}: not enough memory to decode the image") from None
    return _Picture(size, array=_imread(path), unit=1)
