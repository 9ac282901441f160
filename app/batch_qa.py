"""The batch QA list: a batch folder (the OUTDIR of ``main.py batch``) opened in the GUI.

File > Open batch folder... (or opening such a folder any other way: the Open dialog's folder
choice, drag and drop, ``run.sh FOLDER``) reads the folder's clips (core.batch.report.load_rows,
on a job thread) into the "Batch QA" dock: one row per clip with its status and fit figures,
sortable by any column, worst p95 fit error first. Picking a clip (double click, Enter or Open
clip) opens it at its worst-fitting frame:

- a whole clip has a project (``<clip>/project``): it opens through the editor's project open
  (``MainWindow.open_media``), and the frame is sought once the project is on screen;
- a clip cut short by --max-frames has arrays: they are read on a job thread
  (core.batch.report.load_clip_arrays), the source is opened (``MainWindow.open_media``) and the
  reconstruction put on screen (``EditorUI.show_reconstruction``);
- a failed or unfinished clip shows its error in the status bar.

``clip_opened(clip_id)`` is emitted when a clip is on screen at its frame.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QFileDialog, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.jobs import Job
from core.batch.report import is_batch_folder, load_clip_arrays, load_rows

#: (column heading, row value key, numeric)
COLUMNS = (("clip", "clip_id", False), ("status", "status", False), ("frames", "frames", True),
           ("tracked %", "tracked_pct", True), ("fit median px", "fit_median_px", True),
           ("fit p95 px", "fit_p95_px", True), ("jitter px", "jitter_px", True), ("worst frame", "worst_frame", True),
           ("error", "error", False))
SORT_COLUMN = 5  # fit p95, largest first: the clips most worth a look at the top
DOCK_WIDTH = 460


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers; a missing figure after every number)."""

    def __init__(self, value, numeric: bool):
        missing = value is None or (isinstance(value, float) and value != value)
        text = "" if missing else (f"{value:.2f}" if isinstance(value, float) else str(value))
        super().__init__(text)
        self.key = (1, 0.0) if missing else (0, float(value)) if numeric else (0, str(value).lower())
        if numeric:
            self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:
        if isinstance(other, _Item):
            desc = self.tableWidget() is not None and \
                self.tableWidget().horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
            if self.key[0] != other.key[0]:  # missing figures last in either order
                return (self.key[0] > other.key[0]) if desc else (self.key[0] < other.key[0])
            return self.key[1] < other.key[1]
        return super().__lt__(other)


class BatchQA(QObject):
    """The batch QA list of a MainWindow (see the module docstring): ``win.batch_qa``."""

    clip_opened = Signal(str)
    rows_loaded = Signal(str)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.folder: Path | None = None
        self.rows: list = []
        self.dock: QDockWidget | None = None
        self._pending: tuple[str, int, str] | None = None   # (clip id, frame, project path) being opened
        self.act_open = win.new_action("Open &batch folder...", self.open_dialog, None,
                                       "Open the results of main.py batch as a QA list of its clips")
        win.menus.add("file", "open", self.act_open)
        win.editor.io.project_loaded.connect(self._on_project_loaded)

    # -- the folder ------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.win, "Open batch folder", str(self.folder or Path.home()))
        if path:
            self.open_folder(path)

    def open_folder(self, path: str) -> bool:
        """Read the batch folder ``path`` into the QA list (on a job thread); False when it cannot start."""
        if self.win.job_running:
            self.win.statusBar().showMessage(f"Cannot open {path} while {self.win.job.name.lower()} runs.", 6000)
            return False
        job = Job(load_rows, str(path), name="Reading the batch")
        self.win.start_job(job, lambda result: self._show_rows(Path(path), result))
        return True

    def _show_rows(self, folder: Path, result) -> None:
        index, rows = result
        self.folder, self.rows = folder, rows
        if self.dock is None:
            self._build_dock()
        t = self.table
        t.setSortingEnabled(False)
        t.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, (_, key, numeric) in enumerate(COLUMNS):
                item = _Item(row.value(key), numeric)
                item.setData(Qt.ItemDataRole.UserRole, row.clip_id)
                if row.status != "done":
                    item.setToolTip((row.record or {}).get("error") or row.status)
                t.setItem(i, j, item)
        t.setSortingEnabled(True)
        t.sortItems(SORT_COLUMN, Qt.SortOrder.DescendingOrder)
        counts = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        self.summary.setText(f"{folder}: {len(rows)} clips ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}"
                             f"; run {index.get('state', '?')})")
        self.dock.show()
        self.dock.raise_()
        self.win.statusBar().showMessage(f"Batch {folder.name}: pick a clip to open it at its worst-fitting frame",
                                         8000)
        self.rows_loaded.emit(str(folder))

    def _build_dock(self) -> None:
        self.dock = QDockWidget("Batch QA", self.win)
        self.dock.setObjectName("batch_qa_dock")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda r, _c: self.open_clip(self.clip_at(r)))
        self.table.activated.connect(lambda index: self.open_clip(self.clip_at(index.row())))
        self.open_button = QPushButton("Open clip")
        self.open_button.setToolTip("Open the selected clip at its worst-fitting frame (double click, Enter)")
        self.open_button.clicked.connect(lambda: self.open_clip(self.clip_at(self.table.currentRow())))
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.open_button)
        self.dock.setWidget(body)
        # on the left, the whole window's height: a list to walk down beside the clip it opened
        self.win.add_panel(self.dock, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.win.resizeDocks([self.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)

    def clip_at(self, table_row: int) -> str | None:
        """The clip id shown in table row ``table_row`` (the table's current order)."""
        item = self.table.item(table_row, 0) if table_row >= 0 else None
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    # -- a clip ------------------------------------------------------------------------------
    def open_clip(self, clip_id: str | None) -> bool:
        """Open clip ``clip_id`` of the list at its worst-fitting frame (module docstring)."""
        row = next((r for r in self.rows if r.clip_id == clip_id), None)
        if row is None:
            return False
        w = self.win
        record = row.record or {}
        if row.status != "done" or "worst_frame" not in record:
            why = record.get("error") or ("the clip was not run" if row.record is None else "it was only tracked")
            w.statusBar().showMessage(f"{row.clip_id}: {row.status}: {why}", 15000)
            return False
        frame = int(record["worst_frame"])
        if row.project:
            path = str(self.folder / row.project)
            self._pending = (row.clip_id, frame, path)
            if not w.open_media(path):
                self._pending = None
                return False
            return True
        if w.job_running:
            w.statusBar().showMessage(f"Cannot open {row.clip_id} while {w.job.name.lower()} runs.", 6000)
            return False
        job = Job(load_clip_arrays, str(self.folder), row.clip_id, name="Opening the clip")
        w.start_job(job, lambda result: self._show_arrays(row, frame, result))
        return True

    def _show_arrays(self, row, frame: int, result) -> None:
        rec, track, model = result
        w = self.win
        if not w.open_media(row.input):
            return
        w.session.set_track_result(track)
        w.editor.show_reconstruction(rec, model, track)
        self._arrive(row.clip_id, frame)

    def _on_project_loaded(self, path: str) -> None:
        if self._pending is not None and Path(path) == Path(self._pending[2]):
            clip_id, frame, _ = self._pending
            self._pending = None
            self._arrive(clip_id, frame)

    def _arrive(self, clip_id: str, frame: int) -> None:
        self.win.session.seek(frame)
        self.win.statusBar().showMessage(f"{clip_id}: its worst-fitting frame, {frame}", 10000)
        self.clip_opened.emit(clip_id)


def handles(path: str) -> bool:
    """True when ``path`` is a batch folder (MainWindow.open_media hands it to the QA list)."""
    return is_batch_folder(path)
