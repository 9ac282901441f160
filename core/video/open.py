"""Opening a frame source from a path or a device spec: the one entry point that knows every
kind of source (files, images, image folders in ``core.video.source``; webcams and simulated
cameras in ``core.video.live``), so neither of those modules needs the other's classes."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from core.errors import InputError
from core.video.images import IMAGE_EXTS
from core.video.live import SimulatedCamera, WebcamSource
from core.video.source import VIDEO_EXTS, ImageFolderSource, ImageSource, VideoFileSource, VideoSource


def _webcam_index(spec) -> Optional[int]:
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return int(spec)
    if isinstance(spec, str) and spec.lower().startswith("webcam:"):
        rest = spec.split(":", 1)[1].strip() or "0"
        if not rest.isdigit():
            raise InputError(f"{spec}: a webcam is named webcam:N with N the camera number, "
                             f"e.g. webcam:0")
        return int(rest)
    return None


def open_source(spec, fps: Optional[float] = None, **live_options) -> VideoSource:
    """Open a frame source from a path or device spec.

    ``spec``: a video file (mp4, mov, m4v, avi, mkv, webm, gif), an image file (png, jpg,
    jpeg, bmp, tif, tiff, webp), a folder of images, ``"webcam:N"`` or an int N (camera N),
    or ``"simcam:/path/video.mp4"`` (a video file played live at its frame rate).
    ``fps``: frame rate of an image or image folder (default 30). ``live_options`` go to
    the live source classes (e.g. ``loop=False`` for a simulated camera).
    Raises InputError with a message naming the input and the cause.
    """
    cam = _webcam_index(spec)
    if cam is not None:
        return WebcamSource(cam, **live_options)
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"{spec!r}: not a file, folder or webcam spec")
    if spec.lower().startswith("simcam:"):
        return SimulatedCamera(spec.split(":", 1)[1], **live_options)
    p = Path(spec).expanduser()
    if p.is_dir():
        if (p / "project.json").is_file():
            raise InputError(f"{p}: is a FaceStudio project folder, not a clip; open it as a project "
                             "(or give its source video)")
        return ImageFolderSource(p, fps=fps)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file (a FIFO, device or socket); FaceStudio reads video "
                         "files, images and folders of images")
    ext = p.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource(p, fps=fps)
    if ext in VIDEO_EXTS:
        return VideoFileSource(p)
    raise InputError(f"{p}: unknown file type '{ext or '(no extension)'}'; expected a video "
                     f"({', '.join(e.lstrip('.') for e in VIDEO_EXTS)}), an image "
                     f"({', '.join(e.lstrip('.') for e in IMAGE_EXTS)}), a folder of images, "
                     f"or webcam:N")


def read_clip(spec, count: int | None = None) -> tuple[list[np.ndarray], float]:
    """The first ``count`` frames (all when None) of a video, image or folder, in memory.

    Returns (frames, fps): a list of (H, W, 3) uint8 RGB arrays. For short clips only
    (tests, benchmarks, a reenactment target): streaming code uses ``frames()``.
    """
    with open_source(spec) as src:
        return [f for _, f in src.frames(0, count)], float(src.fps)
