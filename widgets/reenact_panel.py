"""ReenactPanel: the live reenactment preview (source and result side by side) and its controls.

Pure display and user intent: it shows the numpy RGB frames and the figures the
controller (:mod:`app.reenact_controller`) gives it, and emits what the user asked
for. It never touches a camera, a file or a face model.

Layout for demos: the source and result previews take the panel's width when the settings
column is folded away (the "Settings" button); under them the target gallery (thumbnails of the
targets used; drop photos or videos on it or on the previews to add them, click one to drive
it) and the actions. While recording a red "REC 0:12" shows the time recorded; the readout
says the result's frame rate against the camera's and how far it is behind.

Signals (GUI thread):
    start_requested(source_spec, target_path)   Start pressed; source_spec is ``webcam:N``,
                                                ``simcam:/path.mp4`` or a video file path
    stop_requested()
    target_chosen(target_path)                  a target photo/video was picked (prepare it now)
    targets_dropped(list[str])                  files dropped on the gallery or the previews
    gallery_remove_requested(path)              a gallery entry's "Remove"
    settings_changed(TransferSettings)          the transfer settings, see :meth:`settings`
    recalibrate_requested()
    record_requested(output_path)               start recording the result to a video file
    record_stop_requested()
    quick_record_requested()                    start/stop recording without asking for a file
                                                (F7, R in the presenter view)
    virtual_camera_toggled(bool)                send the result to a virtual camera
    export_requested(source_spec, target_path, output_path)   offline, full-quality export
    cancel_requested()                          cancel the job shown in the progress row
    renderer_changed(name)                      "warp" or "neural" chosen
    train_requested(target_path)                "Train renderer..." pressed for the target
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem, QMenu, QProgressBar, QPushButton, QScrollArea,
    QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from core.model.arkit import GROUPS as ARKIT_GROUPS
from core.reenact.transfer import TransferSettings
from widgets.frame_view import FrameView
from widgets.presenter_window import PresenterWindow
from widgets.train_view import TrainView
from widgets.video_view import rgb_to_qimage

#: source kinds of the source picker: (label, key)
SOURCE_KINDS = (("Webcam", "webcam"), ("Simulated camera (file)", "simcam"), ("Video file", "file"))
MODES = (("Head (expression + pose + gaze)", "head"), ("Face (target keeps its pose)", "face"),
         ("Self (source = target)", "self"))
ATTRIBUTES = ("expression", "pose", "gaze")
#: the renderer choice: (label, key)
RENDERERS = (("Warp", "warp"), ("Neural (trained on the target)", "neural"))
#: the expression groups that can be switched off: core's one table (core.model.arkit)
GROUPS = ARKIT_GROUPS
VIDEO_FILTER = "Videos (*.mp4 *.mov *.m4v *.avi *.mkv *.webm);;All files (*)"
TARGET_FILTER = ("Photos and videos (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.mp4 *.mov *.m4v "
                 "*.avi *.mkv *.webm);;All files (*)")
#: file endings a target can have (photos and videos)
TARGET_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".mp4", ".mov", ".m4v", ".avi",
                     ".mkv", ".webm")
THUMB = 52
REC_STYLE = "QLabel { color: white; background: #c0392b; font-weight: bold; padding: 2px 8px; border-radius: 3px; }"


def format_elapsed(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour)."""
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def dropped_targets(mime) -> list[str]:
    """The local photo and video files in a drag's data."""
    if not mime.hasUrls():
        return []
    paths = [u.toLocalFile() for u in mime.urls() if isinstance(u, QUrl) and u.isLocalFile()]
    return [p for p in paths if Path(p).suffix.lower() in TARGET_EXTENSIONS]


class TargetDrops:
    """Takes dropped photo and video files (a mixin for a QWidget): ``_targets_dropped(paths)``
    is called with them; other drags are refused."""

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if dropped_targets(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent  # noqa: N815 (Qt API)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        paths = dropped_targets(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self._targets_dropped(paths)

    def _targets_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError


class TargetGallery(TargetDrops, QListWidget):
    """Thumbnails of the targets used: click one to drive it, drop files to add them,
    right-click to remove one. Emits ``chosen(path)``, ``dropped(list)``, ``remove_requested(path)``."""

    chosen = Signal(str)
    dropped = Signal(list)
    remove_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedHeight(THUMB + 40)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)  # (drops land on the viewport)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Targets: click one to drive it (1-9 in the presenter view); drop photos or videos "
                        "here to add them; right-click to remove")
        self.itemClicked.connect(lambda it: self.chosen.emit(str(it.data(Qt.ItemDataRole.UserRole))))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def set_items(self, items, current: str = "") -> None:
        """``items``: [(path, thumbnail (h, w, 3) uint8 RGB or None)]; ``current`` is selected."""
        self.clear()
        for k, (path, thumb) in enumerate(items):
            label = f"{k + 1}  {Path(path).name}" if k < 9 else Path(path).name
            it = QListWidgetItem(label)
            it.setData(Qt.ItemDataRole.UserRole, str(path))
            it.setToolTip(str(path))
            if thumb is not None:
                it.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(np.ascontiguousarray(thumb)))))
            it.setSizeHint(QSize(THUMB + 48, THUMB + 22))
            self.addItem(it)
        self.set_current(current)

    def set_current(self, path: str) -> None:
        for i in range(self.count()):
            it = self.item(i)
            it.setSelected(str(it.data(Qt.ItemDataRole.UserRole)) == str(path))

    def paths(self) -> list[str]:
        return [str(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def _menu(self, pos) -> None:
        it = self.itemAt(pos)
        if it is None:
            return
        m = QMenu(self)
        a = m.addAction(f"Remove {Path(str(it.data(Qt.ItemDataRole.UserRole))).name}")
        if m.exec(self.viewport().mapToGlobal(pos)) is a:
            self.remove_requested.emit(str(it.data(Qt.ItemDataRole.UserRole)))

    def _targets_dropped(self, paths: list[str]) -> None:
        self.dropped.emit(paths)


class ReenactPanel(TargetDrops, QWidget):
    start_requested = Signal(str, str)
    stop_requested = Signal()
    target_chosen = Signal(str)
    settings_changed = Signal(object)  # core.reenact.transfer.TransferSettings
    recalibrate_requested = Signal()
    record_requested = Signal(str)
    record_stop_requested = Signal()
    export_requested = Signal(str, str, str)
    cancel_requested = Signal()
    renderer_changed = Signal(str)
    train_requested = Signal(str)
    targets_dropped = Signal(list)
    gallery_remove_requested = Signal(str)
    quick_record_requested = Signal()
    virtual_camera_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._running = False
        self._recording = False
        self._last_dir = str(Path.home())
        self.setAcceptDrops(True)

        # -- views and readout ---------------------------------------------------------
        self.source_view = FrameView("Source: pick a camera or a clip and press Start")
        self.result_view = FrameView("Result: the target driven by the source")
        self.source_caption = QLabel("Source")
        self.result_caption = QLabel("Result")
        self.source_caption.setToolTip("The camera frame the result beside it was made from")
        self.readout = QLabel("stopped")
        self.readout.setToolTip(
            "Results per second against the camera's frames per second, and how far the result is behind "
            "the camera (median). The pipeline always works on the newest camera frame: on a busy machine it "
            "shows fewer frames, never late ones; the source shown is the one each result is for.")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.rec_label = QLabel("")
        self.rec_label.setStyleSheet(REC_STYLE)
        self.rec_label.setToolTip("Recording: the time recorded so far")
        self.rec_label.hide()
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        self.settings_button.setArrowType(Qt.ArrowType.RightArrow)
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.settings_button.setToolTip("Show or fold away the source, target and transfer settings "
                                        "(folded, the previews take the whole width)")
        readout_row = QHBoxLayout()
        readout_row.addWidget(self.rec_label)
        readout_row.addWidget(self.readout, 1)
        readout_row.addWidget(self.settings_button)
        views = QGridLayout()
        views.setContentsMargins(0, 0, 0, 0)
        views.addWidget(self.source_caption, 0, 0)
        views.addWidget(self.result_caption, 0, 1)
        views.addWidget(self.source_view, 1, 0)
        views.addWidget(self.result_view, 1, 1)
        views.addLayout(readout_row, 2, 0, 1, 2)
        views.setRowStretch(1, 1)
        views.setColumnStretch(0, 2)
        views.setColumnStretch(1, 3)  # the result is what the audience looks at
        self.gallery = TargetGallery()
        self.add_target_button = QToolButton()
        self.add_target_button.setText("+")
        self.add_target_button.setToolTip("Add a target photo or video to the gallery")
        gallery_row = QHBoxLayout()
        gallery_row.addWidget(self.gallery, 1)
        gallery_row.addWidget(self.add_target_button)

        # -- source --------------------------------------------------------------------
        self.source_kind = QComboBox()
        for label, key in SOURCE_KINDS:
            self.source_kind.addItem(label, key)
        self.webcam_index = QSpinBox()
        self.webcam_index.setRange(0, 15)
        self.webcam_index.setPrefix("camera ")
        self.source_path = QLineEdit()
        self.source_path.setPlaceholderText("video file")
        self.source_browse = QToolButton()
        self.source_browse.setText("...")
        self.source_browse.setToolTip("Choose the driving video file")
        src_row = QHBoxLayout()
        src_row.addWidget(self.webcam_index)
        src_row.addWidget(self.source_path, 1)
        src_row.addWidget(self.source_browse)
        src_box = QGroupBox("Source (drives)")
        sl = QVBoxLayout(src_box)
        sl.addWidget(self.source_kind)
        sl.addLayout(src_row)

        # -- target --------------------------------------------------------------------
        self.target_path = QLineEdit()
        self.target_path.setPlaceholderText("photo or video")
        self.target_browse = QToolButton()
        self.target_browse.setText("...")
        self.target_browse.setToolTip("Choose the target photo or video (the face that is driven)")
        self.target_status = QLabel("no target")
        self.target_status.setWordWrap(True)
        tgt_row = QHBoxLayout()
        tgt_row.addWidget(self.target_path, 1)
        tgt_row.addWidget(self.target_browse)
        tgt_box = QGroupBox("Target (driven)")
        tl = QVBoxLayout(tgt_box)
        tl.addLayout(tgt_row)
        tl.addWidget(self.target_status)
        # the renderer: the mesh-driven warp, or a network trained on this target
        self.renderer_choice = QComboBox()
        for label, key in RENDERERS:
            self.renderer_choice.addItem(label, key)
        self.renderer_choice.setToolTip("Warp: the mesh-driven image warp. Neural: a rendering network "
                                        "trained on this target (train-renderer)")
        self.train_button = QPushButton("Train renderer...")
        self.train_button.setToolTip("Train a neural renderer on this target video (runs in the background)")
        ren_row = QHBoxLayout()
        ren_row.addWidget(QLabel("Renderer"))
        ren_row.addWidget(self.renderer_choice, 1)
        ren_row.addWidget(self.train_button)
        tl.addLayout(ren_row)
        self.renderer_status = QLabel("")
        self.renderer_status.setWordWrap(True)
        tl.addWidget(self.renderer_status)

        # -- transfer ------------------------------------------------------------------
        self.mode = QComboBox()
        for label, key in MODES:
            self.mode.addItem(label, key)
        self.attr_checks: dict[str, QCheckBox] = {}
        self.attr_sliders: dict[str, QSlider] = {}
        self.attr_values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.addRow("Mode", self.mode)
        for name in ATTRIBUTES:
            check = QCheckBox(name.capitalize())
            check.setChecked(True)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(100)
            slider.setToolTip(f"Strength of the {name} transfer (0-100%)")
            value = QLabel("100%")
            value.setMinimumWidth(36)
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(value)
            form.addRow(check, row)
            self.attr_checks[name], self.attr_sliders[name], self.attr_values[name] = check, slider, value
        self.group_checks: dict[str, QCheckBox] = {}
        groups_grid = QGridLayout()
        for k, g in enumerate(GROUPS):
            c = QCheckBox(g)
            c.setChecked(True)
            c.setToolTip(f"Transfer the {g} part of the expression")
            groups_grid.addWidget(c, k // 3, k % 3)
            self.group_checks[g] = c
        form.addRow("Groups", groups_grid)
        xfer_box = QGroupBox("Transfer")
        xfer_box.setLayout(form)

        # -- actions and progress --------------------------------------------------------
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start or stop the live preview (F6; Space in the presenter view)")
        self.recalibrate_button = QPushButton("Recalibrate neutral")
        self.recalibrate_button.setToolTip("Take the source's next frame as its rest pose and expression")
        self.record_button = QPushButton("Record...")
        self.record_button.setToolTip("Record the result to a video file with the source's sound (start / stop; "
                                      "F7 records to a new file in the last folder without asking)")
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip("Reenact the whole source video offline at full quality, "
                                      "keeping its audio")
        self.presenter_button = QPushButton("Presenter view")
        self.presenter_button.setCheckable(True)
        self.presenter_button.setToolTip("Show the result big in its own window for an audience "
                                         "(F11 there: full screen; also a double click on the result)")
        self.presenter: PresenterWindow | None = None  # made on first use
        self.screen_combo = QComboBox()
        self.screen_combo.setToolTip("The screen the presenter view goes full screen on (F11 there)")
        self.refresh_screens()
        self.virtual_camera_check = QCheckBox("Virtual camera")
        self.virtual_camera_check.setToolTip("Send the result to a virtual camera, for a video call or OBS")
        # two rows (the live preview; what goes out of it), so a 1280 px screen holds the panel
        buttons = QVBoxLayout()
        for row_widgets in ((self.start_button, self.recalibrate_button, self.presenter_button, self.screen_combo),
                            (self.record_button, self.export_button, self.virtual_camera_check)):
            row = QHBoxLayout()
            for b in row_widgets:
                row.addWidget(b)
            row.addStretch(1)
            buttons.addLayout(row)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        prog_row = QHBoxLayout()
        prog_row.addWidget(self.progress_bar, 1)
        prog_row.addWidget(self.cancel_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # the actions, progress and messages stay under the views (always visible); the
        # pickers and the transfer settings scroll when the dock is short
        left = QVBoxLayout()
        left.addLayout(views, 1)
        left.addLayout(gallery_row)
        left.addLayout(buttons)
        left.addLayout(prog_row)
        left.addWidget(self.status)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(0, 0, 0, 0)
        # a renderer's training as it runs (shown by the controller while one trains)
        self.train_view = TrainView()
        self.train_box = QGroupBox("Renderer training")
        QVBoxLayout(self.train_box).addWidget(self.train_view)
        self.train_box.setVisible(False)
        for w in (src_box, tgt_box, xfer_box, self.train_box):
            cl.addWidget(w)
        cl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(controls.sizeHint().width() + 24)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.settings_area = scroll

        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(left, 1)
        lay.addWidget(scroll)

        self._connect()
        self._on_source_kind()
        self.set_progress(None)

    # -------------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.settings_button.toggled.connect(self.set_settings_visible)
        self.gallery.chosen.connect(self._on_gallery_chosen)
        self.gallery.dropped.connect(self.targets_dropped.emit)
        self.gallery.remove_requested.connect(self.gallery_remove_requested.emit)
        self.add_target_button.clicked.connect(self._add_targets)
        self.virtual_camera_check.toggled.connect(self.virtual_camera_toggled.emit)
        self.presenter_button.toggled.connect(self.set_presenter_visible)
        self.result_view.double_clicked.connect(lambda: self.set_presenter_visible(True))
        self.source_kind.currentIndexChanged.connect(self._on_source_kind)
        self.source_browse.clicked.connect(self._browse_source)
        self.target_browse.clicked.connect(self.browse_target)
        self.target_path.editingFinished.connect(self._on_target_edited)
        self.mode.currentIndexChanged.connect(self._emit_settings)
        for name in ATTRIBUTES:
            self.attr_checks[name].toggled.connect(self._emit_settings)
            self.attr_sliders[name].valueChanged.connect(self._emit_settings)
        for c in self.group_checks.values():
            c.toggled.connect(self._emit_settings)
        self.start_button.clicked.connect(self.request_start_stop)
        self.recalibrate_button.clicked.connect(self.recalibrate_requested.emit)
        self.record_button.clicked.connect(self.request_record)
        self.export_button.clicked.connect(self.request_export)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.renderer_choice.currentIndexChanged.connect(
            lambda *_: self.renderer_changed.emit(self.renderer()))
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.target()))

    def _on_source_kind(self, *_args) -> None:
        webcam = self.source_kind.currentData() == "webcam"
        self.webcam_index.setVisible(webcam)
        self.source_path.setVisible(not webcam)
        self.source_browse.setVisible(not webcam)

    def _browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Driving video", self._last_dir, VIDEO_FILTER)
        if path:
            self._last_dir = str(Path(path).parent)
            self.source_path.setText(path)

    def set_settings_visible(self, visible: bool) -> None:
        """Show the settings column, or fold it away so the previews take the whole width."""
        self.settings_area.setVisible(visible)
        self.settings_button.setArrowType(Qt.ArrowType.RightArrow if visible else Qt.ArrowType.LeftArrow)
        if self.settings_button.isChecked() != visible:
            self.settings_button.setChecked(visible)

    def _on_gallery_chosen(self, path: str) -> None:
        if path and path != self.target():
            self.set_target(path)

    def _add_targets(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add targets", self._last_dir, TARGET_FILTER)
        if paths:
            self._last_dir = str(Path(paths[0]).parent)
            self.targets_dropped.emit(list(paths))

    def choose_gallery_target(self, number: int) -> bool:
        """Drive the gallery's ``number``-th target (1-based, as the presenter's keys 1-9)."""
        paths = self.gallery.paths()
        if 1 <= number <= len(paths):
            self._on_gallery_chosen(paths[number - 1])
            return True
        return False

    def set_gallery(self, items, current: str = "") -> None:
        """The gallery's targets: [(path, thumbnail RGB or None)]."""
        self.gallery.set_items(items, current or self.target())

    # -- drops on the previews (TargetDrops) --------------------------------------------------
    def _targets_dropped(self, paths: list[str]) -> None:
        self.targets_dropped.emit(paths)

    # -- screens ----------------------------------------------------------------------------
    def refresh_screens(self) -> None:
        """List the screens the presenter view can go full screen on."""
        keep = self.screen_combo.currentData()
        self.screen_combo.blockSignals(True)
        self.screen_combo.clear()
        for k, sc in enumerate(QGuiApplication.screens()):
            g = sc.geometry()
            self.screen_combo.addItem(f"Screen {k + 1} ({g.width()}x{g.height()})", k)
            self.screen_combo.setItemData(k, f"{sc.name() or 'display'} {g.width()}x{g.height()}",
                                          Qt.ItemDataRole.ToolTipRole)
        if keep is not None and 0 <= keep < self.screen_combo.count():
            self.screen_combo.setCurrentIndex(keep)
        self.screen_combo.blockSignals(False)

    def presenter_screen(self):
        """The QScreen chosen for the presenter view's full screen."""
        screens = QGuiApplication.screens()
        k = self.screen_combo.currentData()
        return screens[k] if k is not None and 0 <= k < len(screens) else QGuiApplication.primaryScreen()

    def browse_target(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Target photo or video", self._last_dir, TARGET_FILTER)
        if path:
            self._last_dir = str(Path(path).parent)
            self.target_path.setText(path)
            self.target_chosen.emit(path)

    def _on_target_edited(self) -> None:
        if self.target_path.isModified() and self.target_path.text().strip():
            self.target_path.setModified(False)
            self.target_chosen.emit(self.target_path.text().strip())

    def _emit_settings(self, *_args) -> None:
        for name in ATTRIBUTES:
            self.attr_values[name].setText(f"{self.attr_sliders[name].value()}%")
            self.attr_sliders[name].setEnabled(self.attr_checks[name].isChecked())
        on = self.attr_checks["expression"].isChecked()
        for c in self.group_checks.values():
            c.setEnabled(on)
        self.settings_changed.emit(self.settings())

    def request_start_stop(self) -> None:
        if self._running:
            self.stop_requested.emit()
        else:
            self.start_requested.emit(self.source_spec(), self.target())

    def request_record(self) -> None:
        if self._recording:
            self.record_stop_requested.emit()
            return
        path, _ = QFileDialog.getSaveFileName(self, "Record the result to", str(Path(self._last_dir) / "live.mp4"),
                                              "MP4 video (*.mp4)")
        if path:
            self.record_requested.emit(path if Path(path).suffix else path + ".mp4")

    def request_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the reenactment to",
                                              str(Path(self._last_dir) / "reenacted.mp4"), "MP4 video (*.mp4)")
        if path:
            self.export_requested.emit(self.source_spec(), self.target(),
                                       path if Path(path).suffix else path + ".mp4")

    # -- what the user chose ---------------------------------------------------------------
    def source_spec(self) -> str:
        """``webcam:N``, ``simcam:/path`` or a video file path (empty when none is chosen)."""
        kind = self.source_kind.currentData()
        if kind == "webcam":
            return f"webcam:{self.webcam_index.value()}"
        path = self.source_path.text().strip()
        if not path:
            return ""
        return f"simcam:{path}" if kind == "simcam" else path

    def set_source(self, spec: str) -> None:
        """Show ``spec`` (``webcam:N``, ``simcam:path`` or a file) in the source picker."""
        spec = str(spec)
        if spec.lower().startswith("webcam:"):
            kind, rest = "webcam", spec.split(":", 1)[1]
            self.webcam_index.setValue(int(rest) if rest.strip().isdigit() else 0)
        elif spec.lower().startswith("simcam:"):
            kind = "simcam"
            self.source_path.setText(spec.split(":", 1)[1])
        else:
            kind = "file"
            self.source_path.setText(spec)
        self.source_kind.setCurrentIndex(self.source_kind.findData(kind))

    def target(self) -> str:
        return self.target_path.text().strip()

    def set_target(self, path: str, emit: bool = True) -> None:
        self.target_path.setText(str(path))
        self.target_path.setModified(False)
        self.gallery.set_current(str(path))
        if emit:
            self.target_chosen.emit(str(path))

    def settings(self) -> TransferSettings:
        """The transfer settings the panel shows (mode, attributes and their strengths in
        [0, 1], expression groups switched on or off)."""
        s = {"mode": self.mode.currentData()}
        for name in ATTRIBUTES:
            s[name] = self.attr_checks[name].isChecked()
            s[f"{name}_strength"] = self.attr_sliders[name].value() / 100.0
        return TransferSettings(**s, group_strength={g: 1.0 if c.isChecked() else 0.0
                                                     for g, c in self.group_checks.items()})

    def set_attribute(self, name: str, on: bool | None = None, strength: float | None = None) -> None:
        """Set an attribute toggle and/or strength (0..1) as if the user did (emits settings_changed)."""
        if on is not None:
            self.attr_checks[name].setChecked(bool(on))
        if strength is not None:
            self.attr_sliders[name].setValue(int(round(100 * float(strength))))

    # -- what the controller shows ---------------------------------------------------------
    def set_source_frame(self, frame: np.ndarray | None) -> None:
        self.source_view.set_frame(frame)
        if self._presenting():
            self.presenter.set_frames(source=frame)

    def set_result_frame(self, frame: np.ndarray | None) -> None:
        self.result_view.set_frame(frame)
        if self._presenting():
            self.presenter.set_frames(result=frame)

    def set_readout(self, text: str) -> None:
        self.readout.setText(text)
        if self._presenting():
            self.presenter.set_readout(text)

    def set_stats(self, fps: float, latency_ms: float, face: bool, camera_fps: float = 0.0) -> None:
        """The figures: results per second (``camera_fps``: the camera's, for comparison), the
        median latency behind the camera, whether the source has a face."""
        face_text = "face" if face else "no face in the source"
        camera = f" (camera {camera_fps:.0f})" if camera_fps > 0 else ""
        self.set_readout(f"{fps:.1f} fps{camera}   latency {latency_ms:.0f} ms   {face_text}")

    def set_recording_time(self, seconds: float | None) -> None:
        """The REC indicator: the time recorded so far, or None to hide it."""
        if seconds is None:
            self.rec_label.hide()
            text = ""
        else:
            text = f"\u25cf REC {format_elapsed(seconds)}"
            self.rec_label.setText(text)
            self.rec_label.show()
        if self.presenter is not None:
            self.presenter.set_recording(text or None)

    # -- presenter view ----------------------------------------------------------------------
    def _presenting(self) -> bool:
        return self.presenter is not None and self.presenter.isVisible()

    def set_presenter_visible(self, visible: bool) -> None:
        """Open (with the frames shown now) or close the presenter window."""
        if visible:
            if self.presenter is None:
                self.presenter = PresenterWindow(self)
                self.presenter.closed.connect(lambda: self.presenter_button.setChecked(False))
                self.presenter.start_stop_requested.connect(self.request_start_stop)
                self.presenter.record_requested.connect(self.quick_record_requested.emit)
                self.presenter.target_number_requested.connect(self.choose_gallery_target)
            self.presenter.set_full_screen_screen(self.presenter_screen())
            self.presenter.set_frames(self.source_view.frame(), self.result_view.frame())
            self.presenter.set_readout(self.readout.text())
            self.presenter.show()
            self.presenter.raise_()
            self.presenter.activateWindow()
        elif self.presenter is not None and self.presenter.isVisible():
            self.presenter.close()
        if self.presenter_button.isChecked() != visible:
            self.presenter_button.setChecked(visible)

    def set_running(self, running: bool, busy: bool = False) -> None:
        """Live preview on/off; ``busy`` while it is starting or stopping (Start disabled)."""
        self._running = bool(running)
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setEnabled(not busy)
        self.recalibrate_button.setEnabled(running and not busy)
        self.record_button.setEnabled((running and not busy) or self._recording)
        for w in (self.source_kind, self.webcam_index, self.source_path, self.source_browse,
                  self.target_path, self.target_browse, self.renderer_choice):
            w.setEnabled(not running and not busy)
        if not running:
            self.set_readout("stopped")

    def is_running(self) -> bool:
        return self._running

    def set_recording(self, recording: bool) -> None:
        self._recording = bool(recording)
        self.record_button.setText("Stop recording" if recording else "Record...")
        self.record_button.setEnabled(self._running or recording)
        if not recording:
            self.set_recording_time(None)

    def is_recording(self) -> bool:
        return self._recording

    def set_target_status(self, text: str) -> None:
        self.target_status.setText(text)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_progress(self, label: str | None, done: int = 0, total: int = 0) -> None:
        """Show a job's progress (``total`` 0 = busy without a known end); None hides the row."""
        visible = label is not None
        self.progress_bar.setVisible(visible)
        self.cancel_button.setVisible(visible)
        if not visible:
            return
        self.cancel_button.setEnabled(True)
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        else:
            self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(label)

    def set_export_enabled(self, enabled: bool) -> None:
        self.export_button.setEnabled(enabled)

    def renderer(self) -> str:
        """The chosen renderer: "warp" or "neural"."""
        return str(self.renderer_choice.currentData())

    def set_renderer(self, name: str, emit: bool = True) -> None:
        """Choose "warp" or "neural" (``emit``: as if the user had)."""
        self.renderer_choice.blockSignals(not emit)
        try:
            self.renderer_choice.setCurrentIndex(self.renderer_choice.findData(name))
        finally:
            self.renderer_choice.blockSignals(False)

    def set_renderer_status(self, text: str) -> None:
        """The line under the renderer choice (what is trained for the target, the frame rates)."""
        self.renderer_status.setText(text)

    def set_train_enabled(self, enabled: bool) -> None:
        self.train_button.setEnabled(enabled)
