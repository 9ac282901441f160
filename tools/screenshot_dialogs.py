"""Screenshots of every dialog of the app at a screen size, with how much room their text has.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tools/screenshot_dialogs.py --size 1280x800
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/screenshot_dialogs.py --size 1920x1080

The main window fills the screen (theme ``--theme``); each dialog is built the way the app builds
it (the same texts, app.error_reporting.readable, the app's message-box style), shown, grabbed
into ``out/screenshots/dialogs/<size>_<name>.png``, and measured: the text label's margins to
the dialog's edges and whether the whole text fits. Prints a JSON list; exit code 1 when a text
touches an edge (margin < 8 px) or does not fit.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _gui_window import open_window, wait_until  # noqa: E402 (tools/ is on sys.path)

LONG = ("/home/artist/Projects/client_campaign_2026/footage/day_03/camera_B/"
        "A003C012_260301_R1XK_proxy_graded_final_v12_for_client_review.mp4")


def message_boxes(win):
    """(name, QMessageBox) for every message box of the app, texts as the app words them."""
    from PySide6.QtWidgets import QMessageBox

    from app.error_reporting import readable
    from core.reenact.virtual_camera import how_to_enable

    B = QMessageBox.StandardButton
    specs = [
        ("no_face", QMessageBox.Icon.Critical, "Reenact: target",
         f"{LONG.replace('.mp4', '.jpg')}: no face found in the image (needs a roughly frontal, visible human face)",
         B.Ok),
        ("cannot_open", QMessageBox.Icon.Critical, "Cannot open",
         f"{LONG}: the file is incomplete (truncated download or unfinished recording: its MP4 index, the "
         "'moov' atom, is missing)", B.Ok),
        ("tracking_failed", QMessageBox.Icon.Warning, "Tracking",
         f"{LONG}: no face found in any of its 2412 frames (needs a roughly frontal, visible human face)", B.Ok),
        ("project_failed", QMessageBox.Icon.Critical, "Cannot open project",
         f"{LONG.replace('.mp4', '.fsproj')}/project.json: not valid JSON (Expecting property name enclosed in "
         "double quotes: line 1 column 3 (char 2))", B.Ok),
        ("unsaved", QMessageBox.Icon.Question, "Unsaved edits", "The project has unsaved edits. Save them first?",
         B.Save | B.Discard | B.Cancel),
        ("recover", QMessageBox.Icon.Question, "Recover unsaved work",
         "FaceStudio did not close normally. Recover the unsaved work on A003C012_260301_R1XK_proxy.fsproj "
         "(autosaved 2026-03-01 14:22)?", B.Yes | B.No),
        ("virtual_camera", QMessageBox.Icon.Critical, "Reenact: virtual camera",
         f"No virtual camera: no v4l2loopback device on this machine: {how_to_enable()}", B.Ok),
        ("about", QMessageBox.Icon.Information, "About FaceStudio",
         "FaceStudio: face tracking, 4D face reconstruction, 3D facial flow, expression editing and reenactment.",
         B.Ok),
    ]
    for name, icon, title, text, buttons in specs:
        box = QMessageBox(icon, title, readable(text), buttons, win)
        if name == "no_face":
            box.setDetailedText("NoFaceError raised by core.tracking.tracker.require_face")
        yield name, box


def measure(box) -> dict:
    """The text label's margins to the box's edges, and whether all of the text fits: no line wider
    than the label (a word too long to break), no line below it."""
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QLabel

    label = box.findChild(QLabel, "qt_msgbox_label")
    g = label.geometry()
    need = label.heightForWidth(g.width()) if label.hasHeightForWidth() else label.sizeHint().height()
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setHtml(label.text())
    doc.setTextWidth(g.width())
    return dict(width=box.width(), height=box.height(), left=g.left(), right=box.width() - 1 - g.right(),
                top=g.top(), fits=need <= g.height() + 1 and doc.idealWidth() <= g.width() + 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1280x800", help="the screen's size WxH (the window fills it)")
    ap.add_argument("--theme", default="system", choices=("system", "light", "dark"))
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots" / "dialogs"))
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QFileDialog

    app, win = open_window(args.size)
    win.set_theme(args.theme)
    win.showMaximized()
    wait_until(app, lambda: False, 0.5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report, bad = [], []
    for name, box in message_boxes(win):
        box.show()
        wait_until(app, lambda: False, 0.3)
        m = dict(name=name, **measure(box))
        report.append(m)
        if m["left"] < 8 or m["right"] < 8 or not m["fits"]:
            bad.append(name)
        box.grab().save(str(out / f"{args.size}_{name}.png"))
        box.close()
    # the file dialogs (Qt's own, as under a desktop without a portal)
    dlg = QFileDialog(win, "Open video or image", str(REPO), "Videos and images (*.mp4 *.png);;All files (*)")
    dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dlg.show()
    wait_until(app, lambda: False, 0.5)
    dlg.grab().save(str(out / f"{args.size}_open_file.png"))
    report.append(dict(name="open_file", width=dlg.width(), height=dlg.height(),
                       inside_screen=dlg.frameGeometry().width() <= win.screen().availableGeometry().width()))
    dlg.close()
    win.grab().save(str(out / f"{args.size}_window.png"))
    print(json.dumps(dict(size=args.size, theme=args.theme, dialogs=report, text_at_edge=bad), indent=1))
    win.editor.io.ask_to_save = False
    win.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
