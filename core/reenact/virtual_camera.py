"""The live result as a virtual camera, for a video call or OBS (pyvirtualcam).

On Linux pyvirtualcam writes to a v4l2loopback device (``/dev/videoN`` made by the
``v4l2loopback`` kernel module); on Windows and macOS to OBS's virtual camera.
:func:`virtual_camera_status` says whether one can be opened here, and if not, why and how
to enable it. :class:`VirtualCamera` sends every live output to it at the camera's rate from
a thread of its own (a device that blocks never holds up the pipeline); the frames keep
their aspect inside the device's fixed size (letterboxed).

    cam = VirtualCamera(width=1280, height=720, fps=30)
    cam.start(); live.pipe.add_listener(cam.offer) ... live.pipe.remove_listener(cam.offer); cam.stop()
"""
from __future__ import annotations

import glob
import sys
import threading

import cv2
import numpy as np

from core.errors import detached

#: how to get a virtual camera device, per platform
HOW_TO_ENABLE = {
    "linux": ("install and load v4l2loopback: `sudo apt install v4l2loopback-dkms` then "
              "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=FaceStudio` "
              "(a /dev/videoN appears; video calls and OBS list it as 'FaceStudio')"),
    "win32": "install OBS Studio (26 or newer) and start its virtual camera once",
    "darwin": "install OBS Studio (26 or newer) and start its virtual camera once",
}


def how_to_enable() -> str:
    """How a virtual camera device is made on this platform."""
    return HOW_TO_ENABLE.get(sys.platform, HOW_TO_ENABLE["linux"])


def virtual_camera_status(backend: str | None = None) -> tuple[bool, str]:
    """(True, "") when a virtual camera can be opened, else (False, why and how to enable it).
    ``backend``: a pyvirtualcam backend name (tests register a fake one)."""
    try:
        import pyvirtualcam  # noqa: F401
    except ImportError:
        return False, "the pyvirtualcam package is not installed (pip install pyvirtualcam)"
    if backend is None and sys.platform.startswith("linux"):
        devices = glob.glob("/dev/video*")
        if not devices:
            return False, f"no v4l2loopback device on this machine: {how_to_enable()}"
    return True, ""


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (h, w, 3) uint8 scaled to fit (width, height), centred on black."""
    h, w = image.shape[:2]
    k = min(width / w, height / h)
    nw, nh = max(1, int(round(w * k))), max(1, int(round(h * k)))
    out = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if k < 1 else
                                             cv2.INTER_LINEAR)
    return out


class VirtualCamera:
    """Sends live outputs to a virtual camera (see the module docstring).

    ``offer(output)`` takes a core.reenact.live.LiveOutput (or an image) from any thread; the
    sender thread sends the newest one at ``fps``, repeating the last while none is newer (a
    video call expects a steady rate). ``sent`` counts frames sent; ``error`` is set if the
    device failed (the thread then ends). ``device`` is the device's name once open.
    """

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0, backend: str | None = None,
                 device: str | None = None):
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.backend, self.device = backend, device
        self.sent = 0
        self.error: BaseException | None = None
        self._frame: np.ndarray | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cam = None

    def start(self) -> None:
        """Open the device (raises RuntimeError with pyvirtualcam's reason when it cannot)."""
        import pyvirtualcam

        self._cam = pyvirtualcam.Camera(width=self.width, height=self.height, fps=self.fps,
                                        fmt=pyvirtualcam.PixelFormat.RGB, backend=self.backend, device=self.device)
        self.device = self._cam.device
        self._thread = threading.Thread(target=self._run, name="virtual-camera", daemon=True)
        self._thread.start()

    def offer(self, output) -> None:
        """The newest frame to send (a LiveOutput or an (H, W, 3) uint8 RGB image)."""
        image = getattr(output, "image", output)
        with self._cond:
            self._frame = image
            self._cond.notify()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        cam = self._cam
        try:
            last = boxed = None
            while not self._stop.is_set():
                with self._cond:
                    frame = self._frame
                if frame is None:
                    self._stop.wait(1.0 / self.fps)  # nothing to show yet
                    continue
                if frame is not last:
                    boxed = letterbox(frame, self.width, self.height)
                    last = frame
                cam.send(boxed)
                self.sent += 1
                cam.sleep_until_next_frame()
        except BaseException as e:  # noqa: BLE001 (reported by the owner)
            self.error = detached(e)  # (its frames would hold the camera and its frame: a cycle)
        finally:
            cam.close()

    def stop(self) -> None:
        """Stop sending and close the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
