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


#: exit codes of the commands (README, "Exit codes")
EXIT_OK = 0
EXIT_INTERNAL = 1       # a bug: the traceback is printed
EXIT_USER = 2           # bad input, an output that cannot be written, too little memory, bad usage
EXIT_SIGINT = 130       # Ctrl+C (128 + SIGINT)
EXIT_SIGTERM = 143      # SIGTERM (128 + SIGTERM); SIGHUP gives 129


def _subject(args: argparse.Namespace) -> str:
    """The command's input files, named in an error line when the error itself names none."""
    names = [str(v) for k in ("input", "source", "target") if (v := getattr(args, k, None))]
    return ", ".join(names)


def _raise_terminated(signum, _frame) -> None:
    import signal

    from core.errors import Terminated

    # a second signal while cleaning up ends the process at once (the user insists)
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated(signum)


def run_command(args: argparse.Namespace) -> int:
    """Run a subcommand under the one error policy; returns the exit code.

    Every failure that is the user's situation (core.errors.is_user_error: bad or damaged
    input, an output that cannot be written, too little memory) is one ``error:`` line naming
    the file and the cause, exit code 2. SIGINT and SIGTERM (and SIGHUP) unwind the command
    like an exception, so partial outputs are deleted and ffmpeg children ended; exit codes
    130, 143 (129). Anything else is a bug: its traceback, then an ``error:`` line, exit code 1.
    """
    import os
    import signal
    import threading
    import traceback

    from core.errors import Terminated, is_user_error, user_message

    previous = {}
    if threading.current_thread() is threading.main_thread():  # (signal handlers live there)
        previous = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return int(args._run(args) or 0)  # noqa: SLF001 (argparse's namespace: set by the subcommand)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Terminated as e:
        print(f"terminated (signal {e.signum})", file=sys.stderr)
        return 128 + e.signum
    except Exception as e:  # noqa: BLE001 (the one place every command's failure is reported)
        if is_user_error(e):
            if os.environ.get("FACESTUDIO_DEBUG"):
                traceback.print_exc()
            print(f"error: {user_message(e, _subject(args))}", file=sys.stderr)
            return EXIT_USER
        traceback.print_exc()
        print(f"error: {user_message(e, _subject(args))}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
