"""Save a screenshot of the main window after tracking (run it under a display, e.g. xvfb-run).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python tools/screenshot_main_window.py \
        [--input FILE] [--frame N] [--out out/screenshots/main_window.png]

Opens the built-in default photo (or ``--input``), tracks it (a clip: the first
``--max-frames`` frames), shows frame ``--frame`` and writes ``win.grab()`` to a PNG.
Exit code 0 when the tracking finished and the PNG was written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="video, image or folder (default: the built-in astronaut photo)")
    ap.add_argument("--frame", type=int, default=0, help="frame to show for a clip (default 0)")
    ap.add_argument("--max-frames", type=int, default=60, help="frames of a clip to track (default 60)")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "main_window.png"))
    ap.add_argument("--size", default="1200x820", help="window size WxH")
    args = ap.parse_args(argv)

    from app.gui_main import default_input_path

    app, win = open_window(args.size)  # the same window the app shows

    outcomes: list[str] = []
    win.job_ended.connect(outcomes.append)
    path = args.input or str(default_input_path())
    if not win.open_media(path):
        print(f"error: could not open {path}", file=sys.stderr)
        return 2
    if not win.session.is_still:
        win.track(user=False, max_frames=args.max_frames)
    if not wait_until(app, lambda: bool(outcomes), 300):
        print("error: tracking did not finish within 300 s", file=sys.stderr)
        return 1
    if args.frame:
        win.session.seek(args.frame)
        wait_until(app, lambda: win.session.index == args.frame, 10)
    wait_until(app, lambda: False, 0.3)  # let the last repaint happen

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(out)):
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    pts = win.view.landmarks_item.points()
    print(f"wrote {out} (tracking {outcomes[0]}, {len(pts)} landmarks shown, "
          f"status: {win.statusBar().currentMessage()!r})")
    win.close()
    return 0 if outcomes[0] == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
