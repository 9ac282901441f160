"""Drive the real FaceStudio window like a person for a while and report whether it held up.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/gui_soak.py \
        --input ../shared/data/videos/d12.mp4 --seconds 60 --json out/soak.json

Starts the app the way ``run.sh`` does (``app.gui_main.start_gui``: crash guard, log,
exception hook, recovery offer), opens the input, tracks it (Ctrl+T) and reconstructs it
(Ctrl+R), then plays it for ``--seconds`` while doing, in turn, what users do: scrub with the
arrow keys, drag expression sliders, set and delete keys (K, Shift+K), switch viewport
modes and presets, toggle original / side by side / edited (O, B, E), undo and redo, save
the project, export PNG frames, start and stop live reenactment from a simulated camera
(``simcam:``), open and close the presenter view (F5); and the issue-19 interactions: auto-key
on and off (a slider move shown until K), a typed slider value (double-click), box-selecting
and dragging keys in the curve editor and framing them (Home), a click on the timeline, the
worst frames (] and [), correcting the fit by dragging a point (P), the 3D viewport maximised
and back (Ctrl+Space), recording the live result (F7), switching targets from the gallery
while live, the theme. Keys go through Qt's real key events and shortcuts; sliders, plots and
buttons get real mouse events.

Watched all along: a heartbeat timer on the GUI thread (a watchdog thread ends the process
with every thread's stack when the GUI stops answering for ``--hang-s``), the reference
count of ``None`` (a binding that loses references to it aborts the app), the resident
memory, and every error dialog. The JSON report holds all samples.

Finding a leak: ``--census`` counts Python objects by kind every minute, lists who holds the
newest objects of the kinds in ``--census-owners`` and who holds the references to ``None``
(``none_holders``); ``malloc_mb`` (glibc's heap in use / free) and ``end_heap`` (the resident
memory before and after ``malloc_trim`` at the end) tell memory in use from freed memory
kept. The reference count of ``None`` also grows with no object behind it: numpy 2.4.6's
``np.dtype(tuple)`` (``list``, ``ndarray``) leaks one per call (pyqtgraph's ``mkColor`` of a
tuple colour), and pyqtgraph's ``ScatterPlotItem.setData`` with a pen per spot ~6 per spot
(the curve editor's keys, at each redraw): ``none_holders`` stays flat while it grows. Exit code 0 when the
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

def _owner_chain(obj, everything: list, depth: int = 6) -> list[str]:
    """The types (and, for dicts, some keys) of what refers to ``obj``, then to that, ...
    (the first referrer that is not this census's own bookkeeping, ``everything``: the
    census's lists, at each step)."""
    import gc
    import types

    chain, cur, seen = [], obj, {id(x) for x in everything}
    for _ in range(depth):
        refs = [r for r in gc.get_referrers(cur) if id(r) not in seen
                and not isinstance(r, (types.FrameType, type(iter([]))))]
        seen.add(id(refs))  # (this step's own list refers to the next object)
        if not refs:
            break
        cur = refs[0]
        seen.add(id(cur))
        label = type(cur).__qualname__
        if isinstance(cur, dict):
            label += "{" + ",".join(str(k) for k in list(cur)[:6]) + "}"
        chain.append(label)
    return chain


def _none_holders(objs: list, top: int = 30) -> dict:
    """{kind of holder: references to None it holds}, the ``top`` largest (see ``--census``)."""
    import gc
    from collections import Counter

    def label(o) -> str:
        name = type(o).__qualname__
        if isinstance(o, dict):
            name += "{" + ",".join(sorted(str(k) for k in list(o)[:8])) + "}"
        return name

    holders: Counter = Counter()
    arrays: set = set()
    for o in objs:
        for r in gc.get_referents(o):
            if r is None:
                holders[label(o)] += 1
            elif type(r) in (tuple, dict) and not gc.is_tracked(r):
                n = sum(v is None for v in (r if type(r) is tuple else [*r.keys(), *r.values()]))
                if n:
                    holders[f"{label(o)} > {type(r).__name__}"] += n
            elif type(r).__name__ == "ndarray" and r.dtype.hasobject and r.base is None and id(r) not in arrays:
                # numpy arrays of objects are not tracked by gc either (their None are references)
                arrays.add(id(r))
                fields = [r[f] for f in r.dtype.names if r.dtype[f].hasobject] if r.dtype.names else [r]
                n = sum(int(sum(v is None for v in a.ravel())) for a in fields)
                if n:
                    holders[f"{label(o)} > ndarray"] += n
    return dict(holders.most_common(top))


#: one cycle of user actions, in turn (see the module docstring)
STEPS = ["scrub", "slider", "key", "viewport", "compare", "undo", "slider", "save", "export", "live",
         "presenter", "autokey", "curves", "timeline", "worst", "rec", "fixfit", "typed", "scrub", "keydel",
         "compare", "maximise", "live", "gallery", "rec", "presenter", "theme", "fixfit"]


def _malloc_mb() -> list[float]:
    """glibc's heap, MB: [in use by malloc (heap + mmapped blocks), free inside the heap] (what
    RSS holds besides: code, Python's own arenas... and what a leak of native memory shows in);
    [] elsewhere."""
    import ctypes

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        f = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return []
    f.restype = Info
    i = f()
    return [round((i.uordblks + i.hblkhd) / 2**20, 1), round(i.fordblks / 2**20, 1)]


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
        self._viewport_turn = 0  # how many times the viewport step has run
        self._finished = False
        self._minute = 0  # the sampler's last minute (census, tracemalloc)
        #: the cycle of actions (--only keeps some kinds, for finding which one costs what)
        only = {k.strip() for k in args.only.split(",") if k.strip()}
        self.steps = [s for s in STEPS if not only or s in only] or ["scrub"]

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
        self.reenact.settings.setValue("reenact/record_dir", str(Path(self.args.settings)))
        if self.args.target:
            # a second target in the gallery to switch to while live (the first is the one given)
            stills = Path(self.args.target).parent
            other = next((str(p) for p in sorted(stills.glob("*.jpg")) if str(p) != self.args.target), None)
            self.reenact.add_targets([p for p in (other, self.args.target) if p], choose=False)
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
            self.report.setdefault("malloc_mb", []).append([t, *_malloc_mb()])
            self.report.setdefault("threads", []).append([t, threading.active_count()])
        # once a minute (a busy machine's sampler may skip the very second, so by the minute's count)
        minute = int(t // 60)
        new_minute = minute > self._minute
        self._minute = minute
        if self.args.tracemalloc and new_minute:
            import tracemalloc

            snap = tracemalloc.take_snapshot()
            if getattr(self, "_snap0", None) is None:
                self._snap0 = snap
            else:
                top = snap.compare_to(self._snap0, "lineno")[:25]
                self.report["tracemalloc_growth"] = [[t, str(x)] for x in top]
        if self.args.census and new_minute:
            # which kinds of Python objects accumulate (for finding a leak)
            import gc
            from collections import Counter

            objs = gc.get_objects()
            counts = Counter(type(o).__name__ for o in objs)
            self.report.setdefault("census", []).append([t, dict(counts.most_common(40))])
            self.report.setdefault("census_all", []).append([t, dict(counts)])
            # what holds the references to None (a binding's bug shows as a fall; a growth is
            # Python objects piling up): the kinds of the objects that refer to it, with how many
            # references each (tuples and dicts of plain values are not tracked by gc: counted for
            # the tracked object that holds them)
            self.report.setdefault("none_holders", []).append([t, _none_holders(objs)])
            # who holds the newest objects of the kinds that grow (gc lists older objects first)
            owners = {}
            for kind in self.args.census_owners.split(","):
                newest = [o for o in objs if type(o).__name__ == kind][-3:]
                owners[kind] = []
                while newest:
                    owners[kind].append(_owner_chain(newest.pop(), [objs, newest]))
            self.report["census_owners"] = owners
            del objs
            if self.args.census_collect:
                # how much of it was garbage waiting for the collector (cycles)
                found = gc.collect()
                self.report.setdefault("census_collected", []).append(
                    [t, found, sys.getrefcount(None), len(gc.get_objects())])

    def _watchdog(self) -> None:
        import traceback

        main_id = threading.main_thread().ident
        stalls = self.report.setdefault("stall_stacks", {})
        while not self._finished:
            time.sleep(0.25)
            late = time.monotonic() - self._beat
            if late > 1.0 and self.phase == "soak":
                # where the GUI thread is while it does not answer: counted by innermost frames
                frame = sys._current_frames().get(main_id)  # noqa: SLF001 (the stdlib way to see a thread)
                if frame is not None:
                    key = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                      for f in reversed(traceback.extract_stack(frame)[-6:]))
                    stalls[key] = stalls.get(key, 0) + 1
            if late > self.args.hang_s:
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

    def drag(self, widget, a, b, steps: int = 6) -> None:
        """A left-button drag from ``a`` to ``b`` (widget pixels): press, moves with the button held
        (25 ms apart: pyqtgraph drops faster moves; QTest.mouseMove would move the X pointer with
        no button held), release."""
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        left, none, mods = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier

        def send(kind, p, button, buttons):
            QApplication.sendEvent(widget, QMouseEvent(kind, p, QPointF(widget.mapToGlobal(p.toPoint())), button,
                                                       buttons, mods))
        send(QEvent.Type.MouseButtonPress, QPointF(a), left, left)
        for k in range(1, steps + 1):
            time.sleep(0.025)
            self.app.processEvents()
            send(QEvent.Type.MouseMove, QPointF(a.x() + (b.x() - a.x()) * k / steps,
                                                a.y() + (b.y() - a.y()) * k / steps), none, left)
        send(QEvent.Type.MouseButtonRelease, QPointF(b), left, none)

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
            elif self.report["errors"] and not w.job_running:  # the recovery failed with a message
                self.report["recovered"] = None
                self.finish()
            elif elapsed > 600:  # (a hang guard: a busy CI machine opens slowly)
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
            # (a busy machine does fewer actions a minute: --min-cycles keeps going until every
            # kind of action has had its turns)
            if (time.monotonic() - self._soak_t0 >= self.args.seconds
                    and self._step >= self.args.min_cycles * len(self.steps)):
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
            self._heap_check()
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
        name = self.steps[self._step % len(self.steps)]
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
            # the flow modes first: a short soak reaches them (their legend broke playback once)
            order = sorted(range(combo.count()), key=lambda i: "flow" not in str(combo.itemData(i)))
            combo.setCurrentIndex(order[self._viewport_turn % len(order)])
            self._viewport_turn += 1
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
            # (a save still running makes this one wait: that is no error)
            ed.io.save_project(str(Path(self.args.settings) / "soak.fsproj"))
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
        elif name == "autokey":
            ed.actions.auto_key.trigger()                    # on / off in turn
            row = ed.expressions.rows.get(SLIDER_NAMES[self._step % len(SLIDER_NAMES)])
            if row is not None:
                if s.playing:
                    self.key(Qt.Key.Key_Space, widget=w)       # (a pending value goes with the frame)
                sl = row.slider
                y = sl.height() // 2
                self.drag(sl, QPoint(sl.width() // 2, y), QPoint(sl.width() // 2 + 30, y))
                self.key(Qt.Key.Key_K, widget=w)
        elif name == "typed":
            row = ed.expressions.rows.get(SLIDER_NAMES[self._step % len(SLIDER_NAMES)])
            if row is not None:
                if s.playing:
                    self.key(Qt.Key.Key_Space, widget=w)
                QTest.mouseDClick(row.value_label, Qt.MouseButton.LeftButton)
                if row.typing:
                    le = row.editor.lineEdit()
                    le.selectAll()
                    QTest.keyClicks(le, f"{0.1 * (self._step % 5):.2f}")
                    QTest.keyClick(le, Qt.Key.Key_Return)
                self.key(Qt.Key.Key_K, widget=w)
        elif name == "curves":
            c = ed.curves
            c.plot.setFocus()
            vb, vp = c.vb, c.plot.viewport()
            from PySide6.QtCore import QPointF

            def at(f, v):
                return c.plot.mapFromScene(vb.mapViewToScene(QPointF(f, v)))
            (x0, x1), (y0, y1) = c.view_range()
            self.drag(vp, at(x0 + 0.05 * (x1 - x0), y1 - 0.05 * (y1 - y0)),
                      at(x1 - 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)))        # box-select what is shown
            if c.keys.frames.size:
                f, v = int(c.keys.frames[0]), float(c.keys.values[0])
                self.drag(vp, at(f, v), at(min(c.num_frames - 1, f + 2), v + 0.05))   # move the selection
            self.key(Qt.Key.Key_Home, widget=c.plot)                               # frame all
        elif name == "timeline":
            sl = w.transport.slider
            QTest.mouseClick(sl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             QPoint(int(sl.width() * (0.2 + 0.6 * ((self._step * 7) % 10) / 10)), sl.height() // 2))
        elif name == "worst":
            self.key(Qt.Key.Key_BracketRight, widget=w)
            self.key(Qt.Key.Key_BracketRight, widget=w)
            self.key(Qt.Key.Key_BracketLeft, widget=w)
        elif name == "fixfit":
            if not ed.fixing_fit:
                self.key(Qt.Key.Key_P, widget=w)
                handles = ed.panels.overlay_items["handles"]
                pts, ids = handles.handle_positions()
                if len(ids) and handles.isVisible() and not w.job_running:
                    k = (self._step * 5) % len(ids)
                    a = w.view.image_to_view(*pts[k]).toPoint()
                    self.drag(w.view.viewport(), a, a + QPoint(0, 6))
            else:
                self.key(Qt.Key.Key_P, widget=w)
        elif name == "maximise":
            self.key(Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier, widget=w)
            self.app.processEvents()
            self.key(Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier, widget=w)
        elif name == "rec":
            if self.reenact.running or self.reenact.recording:
                self.key(Qt.Key.Key_F7, widget=w)
        elif name == "gallery":
            panel = self.reenact.panel
            if self.reenact.running and not self.reenact.recording and len(panel.gallery.paths()) >= 2:
                panel.choose_gallery_target(2)
        elif name == "theme":
            w.set_theme("dark" if w.theme != "dark" else "light")
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

    def _heap_check(self) -> None:
        """At the end: how much of the resident memory is freed heap glibc keeps (returned by
        malloc_trim), as against memory in use."""
        import ctypes
        import gc

        gc.collect()
        before = _rss_mb()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            return
        self.report["end_heap"] = dict(rss_mb=round(before, 1), rss_after_trim_mb=round(_rss_mb(), 1),
                                       malloc_mb=_malloc_mb())

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
    ap.add_argument("--min-cycles", type=int, default=0,
                    help="go on after --seconds until the actions' cycle has run this many times")
    ap.add_argument("--only", default="", help="only these kinds of action (comma-separated, e.g. "
                    "slider,key,undo; default: all, see STEPS)")
    ap.add_argument("--simcam", default="", help="video played as the live camera for reenactment")
    ap.add_argument("--target", default="", help="reenactment target (photo or video)")
    ap.add_argument("--settings", default="", help="folder for settings, logs, saves (default: a temp folder)")
    ap.add_argument("--json", default="", help="write the report here")
    ap.add_argument("--hang-s", type=float, default=120.0, help="GUI silence that counts as a hang")
    ap.add_argument("--census", action="store_true", help="count Python objects by type every minute")
    ap.add_argument("--census-owners", default="Condition,deque,cell",
                    help="with --census: the kinds (type names, comma-separated) whose newest objects' "
                         "holders are listed")
    ap.add_argument("--census-collect", action="store_true",
                    help="with --census: run the garbage collector after each census and report what it found")
    ap.add_argument("--tracemalloc", action="store_true", help="report where Python memory grows (slow)")
    ap.add_argument("--keep-dirty", action="store_true", help="end killed with autosaved unsaved edits")
    ap.add_argument("--expect-recovery", action="store_true", help="start, accept recovery, report it")
    args = ap.parse_args(argv)
    if bool(args.simcam) != bool(args.target):
        # the live steps need both; without one they were skipped silently (session 9's soak
        # counted 60 "recordings" of a live session it never started)
        ap.error("--simcam and --target go together: the live preview needs a camera and a target")
    args.settings = args.settings or tempfile.mkdtemp(prefix="facestudio-soak-")
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(1)
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
