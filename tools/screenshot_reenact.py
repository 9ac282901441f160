"""Save a screenshot of the reenactment panel running live (run it under a display, e.g. xvfb-run).

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python tools/screenshot_reenact.py \
        [--source simcam:CLIP] [--target PHOTO] [--seconds 6] [--out out/screenshots/reenact_panel.png]

Builds the main window, installs the reenactment panel, lets a simulated camera
(../shared/data/videos/d6.mp4 by default) drive a still (../shared/data/portraits/stills/s42.jpg)
for ``--seconds``, then writes the panel's grab to ``--out`` and the whole window's next
to it (``*_window.png``). Prints the live figures. Exit code 0 when the preview ran.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)
SHARED = REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=f"simcam:{SHARED / 'videos' / 'd6.mp4'}")
    ap.add_argument("--target", default=str(SHARED / "portraits" / "stills" / "s42.jpg"))
    ap.add_argument("--seconds", type=float, default=6.0, help="live run before the grab (default 6)")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "reenact_panel.png"))
    ap.add_argument("--size", default="1280x1000", help="window size WxH")
    args = ap.parse_args(argv)

    from PySide6.QtCore import Qt

    app, win = open_window(args.size)
    ctl = win.controllers["reenact"]
    h = int(args.size.lower().split("x")[1])
    win.resizeDocks([ctl.dock], [int(h * 0.62)], Qt.Orientation.Vertical)
    errors: list[str] = []
    ctl.error_shown.connect(errors.append)

    ctl.panel.set_source(args.source)
    ctl.panel.set_target(args.target, emit=False)
    ctl.start()
    if not wait_until(app, lambda: ctl.running or bool(errors), 120, poll_s=0.005):
        print("error: the live preview did not start within 120 s", file=sys.stderr)
        return 1
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    wait_until(app, lambda: bool(errors) or not ctl.running, args.seconds, poll_s=0.005)
    if errors or not ctl.running:
        print(f"error: the live preview stopped: {errors[:1]}", file=sys.stderr)
        return 1
    st = ctl.live.pipe.stats()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = ctl.dock.grab().save(str(out))
    ok &= win.grab().save(str(out.with_name(out.stem + "_window.png")))
    if not ok:
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out}: {st.frames} frames, {st.fps:.1f} fps, latency {st.latency_ms:.0f} ms, "
          f"readout {ctl.panel.readout.text()!r}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
