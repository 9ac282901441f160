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
