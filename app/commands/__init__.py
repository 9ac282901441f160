"""Command-line subcommands of ``main.py``.

Each module in this package is one subcommand and defines:

- ``NAME: str`` and ``HELP: str`` (one line for ``main.py --help``);
- ``add_arguments(parser: argparse.ArgumentParser) -> None``;
- ``run(args: argparse.Namespace) -> int`` (the exit code).

Commands call the same ``core/`` functions as the GUI and never import Qt.
They report user errors (bad files, no face) as one clear line on stderr and
exit with code 2, never with a traceback.
"""
from __future__ import annotations

import importlib
import pkgutil
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
