"""Run ``main.main`` for each command line of a JSON file in this one process (so the imports,
the tracker model and the EGL renderer load once) and print a JSON list of results:
``{"argv", "rc", "stderr", "left": {folder: sorted file names, recursive}}`` (an output folder
that was created and stays empty is no leftover: the output-folder rule created it).

    python tests/cli_driver.py CASES.json
    CASES.json: {"cases": [[arg, ...], ...], "watch": [folder, ...]}

Used by tests/test_cli_errors.py inside a private mount namespace (a read-only and a full
tmpfs exist only for this process).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def listing(folder: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        out += [os.path.normpath(os.path.join(rel, n)) for n in files]
    return sorted(out)


def main() -> int:
    import main as app_main

    spec = json.loads(Path(sys.argv[1]).read_text())
    results = []
    for argv in spec["cases"]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = app_main.main(argv)
            except SystemExit as e:  # argparse
                rc = e.code
        results.append(dict(argv=argv, rc=rc, stderr=err.getvalue(),
                            left={w: listing(w) for w in spec.get("watch", [])}))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
