"""Drive the real FaceStudio window like a person for a while and report whether it held up.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/gui_soak.py \
        --input ../shared/data/videos/d12.mp4 --seconds 60 --json out/soak.json

Starts the app the way ``run.sh`` does (``app.gui_main.start_gui``: crash guard, log,
exception hook, recovery offer), opens the input, tracks it (Ctrl+T) and reconstructs it
(Ctrl+R), then plays it for ``--seconds`` while doing, in turn, what users do: scrub with the
arrow keys, drag expression sliders, set and delete keys (K, Shift+K), switch viewport
modes and presets, toggle original / side by side / edited (O, B, E), undo and redo, save
the project, export PNG frames, start and stop live reenactment from a simulated camera
(``simcam:``), open and close the presenter view (F5). Keys go through Qt's real key
events and shortcuts; sliders and buttons get real mouse events.

Watched all along: a heartbeat timer on the GUI thread (a watchdog thread ends the process
with every thread's stack when the GUI stops answering for ``--hang-s``), the reference
count of ``None`` (a binding that loses references to it aborts the app), the resident
memory, and every error dialog. The JSON report holds all samples. Exit code 0 when the
run ended normally (a crash of the app ends this process too: that is the point).

``--keep-dirty``: finish with unsaved edits, already autosaved, and kill the process with
SIGKILL (for the recovery test). ``--expect-recovery``: start on the same ``--settings``,
accept the recovery offer and report what was recovered.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SLIDER_NAMES = ("jawOpen", "mouthSmileLeft", "browInnerUp", "eyeBlinkLeft", "mouthFunnel", "cheekPuff")


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class Soak:
    def __init__(self, args):
        self.args = args
        self.report: dict = dict(input=args.input, seconds=args.seconds, actions={}, errors=[], refcount_none=[],
                                 rss_mb=[], heartbeat_max_gap_s=0.0, answer_ms=[], phases={})
        self._beat = time.monotonic()
        self._t0 = time.monotonic()
        self._step = 0
        self._finished = False

    # -- the app ------------------------------------------------------------------------
    def start(self) -> None:
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QMessageBox

        self._patch_dialogs(QMessageBox)
        settings = QSettings(str(Path(self.args.settings) / "facestudio.ini"), QSettings.Format.IniFormat)
        os.environ.setdefault("FACESTUDIO_LOG_DIR", str(Path(self.args.settings) / "logs"))
        from app.gui_main import start_gui

        self.app, self.win = start_gui(None if self.args.expect_recovery else self.args.input, settings=settings)
        self.win.resize(1500, 950)
        self.editor = self.win.editor
        self.reenact = self.win.controllers["reenact"]
        self.hb = QTimer()
        self.hb.setInterval(50)
        self.hb.timeout.connect(self._heartbeat)
        self.hb.start()
        self.sampler = QTimer()
        self.sampler.setInterval(1000)
        self.sampler.timeout.connect(self._sample)
        self.sampler.start()
        threading.Thread(target=self._watchdog, name="soak-watchdog", daemon=True).start()
        self.timer = QTimer()
        self.timer.setInterval(200)
        self.timer.timeout.connect(self._tick)
        self.phase = "recover" if self.args.expect_recovery else "open"
        self._phase_t = time.monotonic()
        self.timer.start()

    def _patch_dialogs(self, QMessageBox) -> None:
        seen = self.report["errors"]

        def box(parent, title, text, *a, **k):
            seen.append([title, text])
            return QMessageBox.StandardButton.Ok

        def question(parent, title, text, *a, **k):
            self.report.setdefault("questions", []).append([title, text])
            if title.startswith("Recover"):
                return QMessageBox.StandardButton.Yes
            return QMessageBox.StandardButton.Discard  # closing: a decided, clean quit

        def exec_(self_box):
            seen.append([self_box.windowTitle(), self_box.text()])
            return int(QMessageBox.StandardButton.Ok.value)

        QMessageBox.critical = staticmethod(box)
        QMessageBox.warning = staticmethod(box)
        QMessageBox.question = staticmethod(question)
        QMessageBox.exec = exec_

    def _heartbeat(self) -> None:
        now = time.monotonic()
        gap = now - self._beat
        self._beat = now
        if self.phase == "soak":
            self.report["heartbeat_max_gap_s"] = max(self.report["heartbeat_max_gap_s"], round(gap, 3))

    def _sample(self) -> None:
        t = round(time.monotonic() - self._t0, 1)
        self.report["refcount_none"].append([t, sys.getrefcount(None)])
        if int(t) % 5 == 0:
            self.report["rss_mb"].append([t, round(_rss_mb(), 1)])

    def _watchdog(self) -> None:
        while not self._finished:
            time.sleep(1.0)
            if time.monotonic() - self._beat > self.args.hang_s:
                sys.stderr.write(f"gui_soak: the GUI thread did not answer for {self.args.hang_s} s\n")
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)

    # -- input like a person's -------------------------------------------------------
    def key(self, key, modifier=None, widget=None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        target = widget or self.app.focusWidget() or self.win
        top = target.window()
        if self.app.activeWindow() is not top:
            # a person types into the window in front; shortcuts only work in the active window
            top.activateWindow()
            deadline = time.monotonic() + 1.0
            while self.app.activeWindow() is not top and time.monotonic() < deadline:
                self.app.processEvents()
                time.sleep(0.005)
        QTest.keyClick(target, key, modifier or Qt.KeyboardModifier.NoModifier)

    def _act(self, name: str) -> None:
        self.report["actions"][name] = self.report["actions"].get(name, 0) + 1
        # how long until the GUI thread answers again (the next heartbeat after the action)
        t = time.monotonic()
        beat = self._beat
        from PySide6.QtCore import QTimer

        def check(tries=[0]):  # noqa: B006 (a counter kept by the closure)
            if self._beat != beat or tries[0] > 600:
                self.report["answer_ms"].append(round((time.monotonic() - t) * 1000, 1))
                return
            tries[0] += 1
            QTimer.singleShot(5, check)
        QTimer.singleShot(0, check)

    # -- the script ------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        self.report["phases"][self.phase] = round(time.monotonic() - self._phase_t, 1)
        print(f"gui_soak: {self.phase} -> {phase} after {self.report['phases'][self.phase]} s", flush=True)
        self.phase = phase
        self._phase_t = time.monotonic()

    def _tick(self) -> None:
        from PySide6.QtCore import Qt

        w, ed = self.win, self.editor
        elapsed = time.monotonic() - self._phase_t
        if self.phase == "recover":
            if ed.doc.has_reconstruction and not w.job_running:
                self.report["recovered"] = dict(
                    project_path=ed.io.project_path, dirty=not ed.doc.undo_stack.isClean(),
                    frames=ed.doc.num_frames,
                    edits={n: sorted(c.keys.items()) for n, c in ed.doc.edits.components.items()})
                self.finish()
            elif elapsed > 120:
                self.report["recovered"] = None
                self.finish()
        elif self.phase == "open":
            if w.session.frame is not None and not w.job_running:
                self.key(Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier, w)  # Track
                self._enter("track")
        elif self.phase == "track":
            if w.session.track_result is not None and not w.job_running:
                self.key(Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier, w)  # Reconstruct
                self._enter("reconstruct")
            elif elapsed > 10 and not w.job_running and w.session.track_result is None:
                self.fail("Ctrl+T started no tracking")
            elif elapsed > 600:
                self.fail("tracking did not finish in 600 s")
        elif self.phase == "reconstruct":
            if ed.doc.has_reconstruction and not w.job_running and not ed.expressions.building:
                self._enter("soak")
                self._soak_t0 = time.monotonic()
                self.timer.setInterval(self.args.action_ms)
                if w.session.frame_count > 1:
                    self.key(Qt.Key.Key_Space, widget=w)  # play
            elif elapsed > 10 and not w.job_running and not ed.doc.has_reconstruction:
                self.fail("Ctrl+R started no reconstruction")
            elif elapsed > 900:
                self.fail("reconstruction did not finish in 900 s")
        elif self.phase == "soak":
            if time.monotonic() - self._soak_t0 >= self.args.seconds:
                self._enter("ending")
                return
            self._do_next()
        elif self.phase == "ending":
            if self.reenact.running:
                self.reenact.stop()
            if self.reenact.panel.presenter_visible() if hasattr(self.reenact.panel, "presenter_visible") else False:
                self.reenact.panel.set_presenter_visible(False)
            if w.job_running or self.reenact.busy or self.reenact.running:
                if elapsed < 120:
                    return
            self.report["frames_played_to"] = w.session.index
            if self.args.keep_dirty:
                self._enter("dirty")
                ed.doc.set_offset("mouthSmileLeft", 3, 0.6, gesture=False)
                return
            self.finish()
        elif self.phase == "dirty":
            rp = ed.io.recovery.project_path
            saved = rp is not None and (rp / "project.json").is_file() and not ed.io.autosave_timer.isActive() \
                and not (ed.io._autosave_thread is not None and ed.io._autosave_thread.is_alive())  # noqa: SLF001
            if saved and elapsed > 2.0:
                self._write_report(killed=True)
                os.kill(os.getpid(), signal.SIGKILL)  # a crash: no clean-up of any kind
            elif elapsed > 60:
                self.fail(f"the edit was not autosaved within 60 s (dirty: {not ed.doc.undo_stack.isClean()}, "
                          f"project: {ed.io.project_path})")

    def _do_next(self) -> None:
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        w, ed, s = self.win, self.editor, self.win.session
        steps = ["scrub", "slider", "key", "viewport", "compare", "undo", "slider", "save", "export", "live",
                 "presenter", "scrub", "keydel", "compare", "live", "presenter"]
        name = steps[self._step % len(steps)]
        self._step += 1
        if name == "scrub":
            for _ in range(8):
                self.key(Qt.Key.Key_Right, widget=w)
            for _ in range(3):
                self.key(Qt.Key.Key_Left, widget=w)
        elif name == "slider":
            nm = SLIDER_NAMES[(self._step // 3) % len(SLIDER_NAMES)]
            panel = ed.expressions
            if nm not in panel.rows:
                return
            panel.search.setText(nm)
            row = panel.rows[nm]
            sl = row.slider
            y = sl.height() // 2
            x0 = sl.width() // 2 + int((sl.value() / max(sl.maximum(), 1)) * (sl.width() // 2 - 8))
            QTest.mousePress(sl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y))
            for dx in (6, 12, 18, 24, 18, 12):
                QTest.mouseMove(sl, QPoint(min(sl.width() - 2, x0 + dx), y))
                self.app.processEvents()
            QTest.mouseRelease(sl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                               QPoint(min(sl.width() - 2, x0 + 12), y))
            panel.search.clear()
            w.setFocus()
        elif name == "key":
            self.key(Qt.Key.Key_K, widget=w)
        elif name == "keydel":
            self.key(Qt.Key.Key_K, Qt.KeyboardModifier.ShiftModifier, widget=w)
        elif name == "viewport":
            combo = ed.panels.mode_combo
            combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())
            presets = list(ed.panels.preset_buttons.values())
            b = presets[(self._step // 4) % len(presets)]
            QTest.mouseClick(b, Qt.MouseButton.LeftButton)
        elif name == "compare":
            k = (Qt.Key.Key_O, Qt.Key.Key_B, Qt.Key.Key_E)[(self._step // 5) % 3]
            self.key(k, widget=w)
        elif name == "undo":
            self.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier, widget=w)
            self.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier, widget=w)
            self.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier, widget=w)
        elif name == "save":
            # (what Save as... does once the dialog returned a folder)
            if not ed.io.save_project(str(Path(self.args.settings) / "soak.fsproj")):
                self.report["errors"].append(["save", "save_project returned False"])
        elif name == "export":
            if w.job_running:
                return
            out = Path(self.args.settings) / f"export{self._step}"
            if not ed.export("png", str(out)):
                return
        elif name == "live":
            if not self.args.simcam or not self.args.target:
                return
            if self.reenact.running:
                self.reenact.stop()
            elif not self.reenact.busy:
                self.reenact.start(f"simcam:{self.args.simcam}", self.args.target)
        elif name == "presenter":
            panel = self.reenact.panel
            if panel.presenter is not None and panel.presenter.isVisible():
                self.key(Qt.Key.Key_Escape, widget=panel.presenter)
            else:
                self.key(Qt.Key.Key_F5, widget=w)
        if s.frame_count > 1 and not s.playing and name not in ("save",):
            self.key(Qt.Key.Key_Space, widget=w)  # keep playing, as a person watching would
        self._act(name)

    # -- the end -----------------------------------------------------------------------
    def fail(self, message: str) -> None:
        self.report["errors"].append(["soak", message])
        self.finish()

    def finish(self) -> None:
        from PySide6.QtCore import QTimer

        self._enter("closing")
        self.timer.stop()
        QTimer.singleShot(0, self._close)

    def _close(self) -> None:
        self.win.close()  # asks about unsaved edits: answered "Discard" (a decided quit)
        self._finished = True
        self.app.quit()

    def _write_report(self, killed: bool = False) -> None:
        self.report["killed"] = killed
        self.report["log_file"] = str(Path(os.environ.get("FACESTUDIO_LOG_DIR", "")) / "facestudio.log")
        if self.args.json:
            Path(self.args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(self.args.json).write_text(json.dumps(self.report, indent=1))

    def run(self) -> int:
        self.start()
        code = self.app.exec()
        self.win.shutdown()
        self.report["exit_code"] = int(code)
        self.report["survived"] = True
        self.report["phases"]["closing"] = round(time.monotonic() - self._phase_t, 1)
        self._write_report()
        return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="video or image to open")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of playback with actions")
    ap.add_argument("--action-ms", type=int, default=700, help="pause between two user actions")
    ap.add_argument("--simcam", default="", help="video played as the live camera for reenactment")
    ap.add_argument("--target", default="", help="reenactment target (photo or video)")
    ap.add_argument("--settings", default="", help="folder for settings, logs, saves (default: a temp folder)")
    ap.add_argument("--json", default="", help="write the report here")
    ap.add_argument("--hang-s", type=float, default=120.0, help="GUI silence that counts as a hang")
    ap.add_argument("--keep-dirty", action="store_true", help="end killed with autosaved unsaved edits")
    ap.add_argument("--expect-recovery", action="store_true", help="start, accept recovery, report it")
    args = ap.parse_args(argv)
    args.settings = args.settings or tempfile.mkdtemp(prefix="facestudio-soak-")
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
