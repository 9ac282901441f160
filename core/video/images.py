"""Still images: loading any image file as RGB uint8, size limits, natural file ordering.

Every frame that leaves ``core.video`` is an (H, W, 3) uint8 RGB array, origin top-left.
Grayscale, palette, CMYK, RGBA, 16-bit and float images are converted here rather than
rejected. Files are read with Pillow (EXIF orientation applied), and with OpenCV when
Pillow cannot (16-bit colour TIFF, Radiance HDR, Sun raster, ...); ``IMAGE_EXTS`` lists every
still format either of them reads here (imageio reads stills through Pillow).
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

#: Still formats OpenCV reads (its imread list, less OpenEXR, which this build lacks).
_OPENCV_EXTS = (".bmp", ".dib", ".jpeg", ".jpg", ".jpe", ".jp2", ".png", ".webp", ".avif", ".pbm", ".pgm",
                ".ppm", ".pxm", ".pnm", ".pfm", ".sr", ".ras", ".tiff", ".tif", ".hdr", ".pic")
#: Pillow plugins that are not still images to us: animations and video (GIF is read as a
#: clip), documents that need Ghostscript or a system library, and stubs without a decoder.
_NOT_STILLS = {"GIF", "MPEG", "FLI", "PDF", "EPS", "WMF", "BUFR", "GRIB", "HDF5", "FITS"}


def _still_extensions() -> tuple[str, ...]:
    Image.init()
    pil = {ext for ext, fmt in Image.registered_extensions().items()
           if fmt in Image.OPEN and fmt not in _NOT_STILLS and ext not in (".apng",)}
    return tuple(sorted(pil | set(_OPENCV_EXTS)))


IMAGE_EXTS = _still_extensions()

#: Frames smaller than this on a side cannot hold a face worth tracking.
MIN_SIDE = 16
#: Larger frames are certainly a mistake (16k x 16k RGB is already 768 MB).
MAX_SIDE = 16384

# Pillow refuses images above ~179 Mpx as a "decompression bomb"; our own side limit,
# checked on the header before decoding, is the guard we want instead.
Image.MAX_IMAGE_PIXELS = None


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: f2 before f10."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (hidden files skipped), in natural order."""
    files = [p for p in Path(folder).iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def check_frame_size(height: int, width: int, where: str) -> None:
    """Raise InputError for frames too small or too large to be real footage."""
    if min(height, width) < MIN_SIDE:
        raise InputError(f"{where}: the frames are only {width}x{height} pixels; "
                         f"at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if max(height, width) > MAX_SIDE:
        raise InputError(f"{where}: the frames are {width}x{height} pixels, larger than the "
                         f"{MAX_SIDE}x{MAX_SIDE} limit; scale the input down first")


def to_rgb_uint8(img: np.ndarray, channel_order: str = "RGB") -> np.ndarray:
    """Convert a decoded image to a contiguous (H, W, 3) uint8 RGB array.

    ``img``: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8, uint16 or float; colour
    channels in ``channel_order`` ("RGB", or "BGR" as OpenCV decodes). 16-bit values are
    scaled by 255/65535, floats are taken as 0..1 (high dynamic range floats, beyond 1, are
    scaled by their 99.5th percentile first). Alpha is dropped: the colour under it is kept
    (compositing over a fixed background would invent a colour).
    """
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(img.max(initial=0.0))
        if top > 1.0:
            img = img / max(float(np.percentile(img, 99.5)), 1e-6)
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"unsupported image layout {img.shape}")
    if channel_order == "BGR":
        # cv2's SIMD conversion is ~10x faster than a numpy reversed-channel copy
        code = cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(np.ascontiguousarray(img), code)
    return np.ascontiguousarray(img[:, :, :3])


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Pixels of a Pillow image as uint8/uint16 array, without losing 16-bit precision."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im.convert("I;16")).astype(np.uint16)
    if im.mode in ("I", "F"):  # 32-bit int / float gray: scale by the data's own range
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "LA", "1"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    return np.asarray(im)


def load_image(path: Path) -> np.ndarray:
    """Read one image file as (H, W, 3) uint8 RGB, upright per its EXIF orientation.

    Raises InputError naming the file when it is missing, unreadable, or of absurd size
    (the size is checked on the header, before decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    try:
        with Image.open(path) as im:
            check_frame_size(im.height, im.width, str(path))
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _pil_to_array(im)
        return to_rgb_uint8(arr, "RGB")
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        pil_error = e
    arr = _opencv_read(path)
    if arr is None:
        raise InputError(f"{path}: not a readable image: the file is corrupt, truncated or "
                         f"not really {path.suffix.lstrip('.').upper() or 'an image'} ({pil_error})") from None
    check_frame_size(arr.shape[0], arr.shape[1], str(path))
    return to_rgb_uint8(arr, "BGR" if arr.ndim == 3 else "RGB")


def _opencv_read(path: Path) -> np.ndarray | None:
    """The file decoded by OpenCV at its own depth (BGR(A) order, or one channel), or None.

    OpenCV has no header-only read here: the size is checked after decoding, and OpenCV's
    own pixel limit, 2^30, guards the decode.
    """
    try:
        arr = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    return arr if arr is not None and arr.size else None
