"""Command-line subcommands of ``main.py``.

Each module in this package is one subcommand and defines:

- ``NAME: str`` and ``HELP: str`` (one line for ``main.py --help``);
- ``add_arguments(parser: argparse.ArgumentParser) -> None``;
- ``run(args: argparse.Namespace) -> int`` (the exit code).

Commands call the same ``core/`` functions as the GUI and never import Qt.
They report user errors (bad files, no face, outputs that cannot be written) as one
clear line on stderr and exit with code 2, never with a traceback (main.run_command).

Inputs and outputs follow one set of rules (``offline_input``, ``output_path``):
a project folder given as an input stands for its source clip (``flow`` and ``render``
also use its reconstruction); live specs (``webcam:N``, ``simcam:``), FIFOs and devices
are named for what they are; a missing output folder is created; an output that cannot
be written is reported before any work is done.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


MODEL_CHOICES_HELP = "builtin, ict, or a model file/folder"


def add_model_argument(p, default: str | None = "builtin", fitting_only: bool = False) -> None:
    """The ``--model`` option, worded the same in every command.

    fitting_only: the command can also take a finished reconstruction, whose own model is
    then used (default None = builtin when fitting)."""
    if fitting_only:
        p.add_argument("--model", default=None,
                       help=f"face model when fitting: {MODEL_CHOICES_HELP} (default builtin; "
                            "with --reconstruction, the reconstruction's own model)")
    else:
        p.add_argument("--model", default=default, help=f"face model: {MODEL_CHOICES_HELP} (default {default})")


def discover() -> list[ModuleType]:
    """All subcommand modules in this package, sorted by name."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.NAME)


@dataclass
class OfflineInput:
    """A command's input, resolved.

    path : the clip, image or folder to read (a project's source for a project);
    project : the project folder when one was given (None otherwise).
    """

    path: Path
    project: Path | None = None


def offline_input(spec: str, what: str = "input", allow_project: bool = True, announce: bool = True
                  ) -> OfflineInput:
    """Resolve a command's INPUT (a video, image, image folder or project folder).

    InputError, naming the input, for live specs (a camera has no end to process offline),
    FIFOs, devices and sockets, and paths that do not exist. A project folder stands for its
    source clip (checked to exist; ``announce``: say so on stderr); ``allow_project`` False
    refuses it with a clear message.
    """
    from core.errors import InputError
    from core.qa.inputs import is_project

    s = str(spec)
    if s.lower().startswith(("webcam:", "simcam:")):
        raise InputError(f"{s}: a live camera cannot be the {what} of this command (it has no end to "
                         "process offline); record a video first, or use the live reenactment panel")
    p = Path(s).expanduser()
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: {what} not found (no such file or folder)") from None
    except OSError as e:
        raise InputError(f"{p}: the {what} cannot be read ({e.strerror or e})") from e
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise InputError(f"{p}: is {kind}; FaceStudio reads video files, images and folders of images "
                         "(save the stream to a file first)")
    if stat.S_ISREG(st.st_mode):
        check_complete(p)
    if is_project(p):
        if not allow_project:
            raise InputError(f"{p}: is a FaceStudio project folder, which this command does not take; "
                             "give its source video")
        from core.project import load_project

        proj = load_project(p, check_source=False)
        src = proj.source_path
        if not proj.source or not src.exists():
            raise InputError(f"{p}: is a project whose source clip {proj.source or '(none)'} was not found")
        if announce:
            print(f"{p}: project folder: using its source {src}", file=sys.stderr)
        if src.is_file():
            check_complete(src)
        return OfflineInput(src, p)
    return OfflineInput(p)


def check_complete(path: Path) -> None:
    """InputError when a video file is cut short (an interrupted download or copy): a command
    never processes part of a clip as if it were all of it. Other files pass unchecked."""
    from core.errors import InputError
    from core.video import open_source
    from core.video.source import VIDEO_EXTS

    if path.suffix.lower() not in VIDEO_EXTS:
        return
    with open_source(str(path)) as src:
        if src.truncated:
            announced = getattr(src, "announced_frame_count", src.frame_count)
            raise InputError(f"{path}: the file is truncated: only the first {src.frame_count} of the {announced} "
                             "frames it announces can be decoded (an interrupted download or copy); get the "
                             "complete file")


def output_path(spec: str, suffixes: tuple[str, ...] = (), what: str = "output") -> Path:
    """The command's output file: the suffix checked, its folder created when missing (the
    output-folder rule), and the folder's writability checked before any work is done
    (OutputError naming it otherwise)."""
    from core.atomic import check_writable
    from core.errors import InputError

    out = Path(spec).expanduser()
    if suffixes and out.suffix.lower() not in suffixes:
        raise InputError(f"{out}: the {what} must be a {' or '.join(suffixes)} file")
    check_writable(out)
    return out
