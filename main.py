"""FaceStudio entry point.

``python main.py``                 -> the GUI on the built-in default face
``python main.py FILE``            -> the GUI opened on FILE (video, image, folder, project)
``python main.py COMMAND ...``     -> a command-line subcommand (see ``--help``)
"""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from app.commands import discover

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="FaceStudio: face tracking, 4D reconstruction, 3D facial flow, "
        "expression editing and reenactment. With no command, starts the GUI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="start the desktop application (the default)")
    gui.add_argument("input", nargs="?", help="video, image, image folder or project to open")
    for mod in discover():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 (argparse has no public accessor)
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    if args.command == "gui":
        from app.gui_main import run_gui

        return run_gui(args.input)
    from core.errors import UserFacingError

    try:
        return int(args._run(args) or 0)  # noqa: SLF001 (argparse's namespace: set by the subcommand)
    except UserFacingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
