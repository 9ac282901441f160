"""A sheet of the app's icons (resources/icons/*.svg) on a light and a dark background.

    .venv/bin/python tools/icon_sheet.py [--size 48] [--out out/screenshots/icons.png]

Runs without a display (Qt's offscreen platform). Exit code 0 when the sheet was written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "icons.png"))
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter

    from app.icons import ICON_DIR, icon

    app = QGuiApplication.instance() or QGuiApplication([])
    names = sorted(p.stem for p in ICON_DIR.glob("*.svg"))
    cell, s = args.size + 72, args.size
    img = QImage(cell * len(names), 2 * (s + 36), QImage.Format.Format_RGB888)
    p = QPainter(img)
    p.setFont(QFont("sans", 8))
    for row, (bg, fg) in enumerate(((QColor(240, 240, 240), QColor(30, 30, 30)), (QColor(40, 42, 46),
                                                                                   QColor(220, 220, 220)))):
        y0 = row * (s + 36)
        p.fillRect(0, y0, img.width(), s + 36, bg)
        for k, n in enumerate(names):
            x = k * cell + (cell - s) // 2
            p.drawPixmap(x, y0 + 6, icon(n).pixmap(s, s))
            p.setPen(fg)
            p.drawText(QRect(k * cell, y0 + s + 10, cell, 20), Qt.AlignmentFlag.AlignHCenter, n)
    p.end()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = img.save(args.out)
    print(args.out)
    del app
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
