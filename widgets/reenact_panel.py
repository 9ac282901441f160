"""ReenactPanel: the live reenactment preview (source and result side by side) and its controls.

Pure display and user intent: it shows the numpy RGB frames and the figures the
controller (:mod:`app.reenact_controller`) gives it, and emits what the user asked
for. It never touches a camera, a file or a face model.

Signals (GUI thread):
    start_requested(source_spec, target_path)   Start pressed; source_spec is ``webcam:N``,
                                                ``simcam:/path.mp4`` or a video file path
    stop_requested()
    target_chosen(target_path)                  a target photo/video was picked (prepare it now)
    settings_changed(TransferSettings)          the transfer settings, see :meth:`settings`
    recalibrate_requested()
    record_requested(output_path)               start recording the result to a video file
    record_stop_requested()
    export_requested(source_spec, target_path, output_path)   offline, full-quality export
    cancel_requested()                          cancel the job shown in the progress row
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QProgressBar, QPushButton, QScrollArea, QSlider, QSpinBox, QToolButton, QVBoxLayout,
    QWidget,
)

from core.model.arkit import GROUPS as ARKIT_GROUPS
from core.reenact.transfer import TransferSettings
from widgets.frame_view import FrameView
from widgets.presenter_window import PresenterWindow

#: source kinds of the source picker: (label, key)
SOURCE_KINDS = (("Webcam", "webcam"), ("Simulated camera (file)", "simcam"), ("Video file", "file"))
MODES = (("Head (expression + pose + gaze)", "head"), ("Face (target keeps its pose)", "face"),
         ("Self (source = target)", "self"))
ATTRIBUTES = ("expression", "pose", "gaze")
#: the expression groups that can be switched off: core's one table (core.model.arkit)
GROUPS = ARKIT_GROUPS
VIDEO_FILTER = "Videos (*.mp4 *.mov *.m4v *.avi *.mkv *.webm);;All files (*)"
TARGET_FILTER = ("Photos and videos (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.mp4 *.mov *.m4v "
                 "*.avi *.mkv *.webm);;All files (*)")


class ReenactPanel(QWidget):
    start_requested = Signal(str, str)
    stop_requested = Signal()
    target_chosen = Signal(str)
    settings_changed = Signal(object)  # core.reenact.transfer.TransferSettings
    recalibrate_requested = Signal()
    record_requested = Signal(str)
    record_stop_requested = Signal()
    export_requested = Signal(str, str, str)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._running = False
        self._recording = False
        self._last_dir = str(Path.home())

        # -- views and readout ---------------------------------------------------------
        self.source_view = FrameView("Source: pick a camera or a clip and press Start")
        self.result_view = FrameView("Result: the target driven by the source")
        self.source_caption = QLabel("Source")
        self.result_caption = QLabel("Result")
        self.readout = QLabel("stopped")
        self.readout.setToolTip("Output frame rate and the median time from grabbing a camera frame "
                                "to its result being ready")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        views = QGridLayout()
        views.setContentsMargins(0, 0, 0, 0)
        views.addWidget(self.source_caption, 0, 0)
        views.addWidget(self.result_caption, 0, 1)
        views.addWidget(self.source_view, 1, 0)
        views.addWidget(self.result_view, 1, 1)
        views.addWidget(self.readout, 2, 0, 1, 2)
        views.setRowStretch(1, 1)

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
        groups_row = QHBoxLayout()
        for g in GROUPS:
            c = QCheckBox(g)
            c.setChecked(True)
            c.setToolTip(f"Transfer the {g} part of the expression")
            groups_row.addWidget(c)
            self.group_checks[g] = c
        form.addRow("Groups", groups_row)
        xfer_box = QGroupBox("Transfer")
        xfer_box.setLayout(form)

        # -- actions and progress --------------------------------------------------------
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start or stop the live preview")
        self.recalibrate_button = QPushButton("Recalibrate neutral")
        self.recalibrate_button.setToolTip("Take the source's next frame as its rest pose and expression")
        self.record_button = QPushButton("Record...")
        self.record_button.setToolTip("Record the result to a video file (start / stop)")
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip("Reenact the whole source video offline at full quality, "
                                      "keeping its audio")
        self.presenter_button = QPushButton("Presenter view")
        self.presenter_button.setCheckable(True)
        self.presenter_button.setToolTip("Show the result big in its own window for an audience "
                                         "(F11 there: full screen; also a double click on the result)")
        self.presenter: PresenterWindow | None = None  # made on first use
        buttons = QHBoxLayout()
        for b in (self.start_button, self.recalibrate_button, self.record_button, self.export_button,
                  self.presenter_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
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
        left.addLayout(buttons)
        left.addLayout(prog_row)
        left.addWidget(self.status)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(0, 0, 0, 0)
        for w in (src_box, tgt_box, xfer_box):
            cl.addWidget(w)
        cl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(controls.sizeHint().width() + 24)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(left, 1)
        lay.addWidget(scroll)

        self._connect()
        self._on_source_kind()
        self.set_progress(None)

    # -------------------------------------------------------------------------------------
    def _connect(self) -> None:
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

    def set_stats(self, fps: float, latency_ms: float, face: bool, dropped: int = 0) -> None:
        face_text = "face" if face else "no face in the source"
        self.set_readout(f"{fps:.1f} fps   latency {latency_ms:.0f} ms   {face_text}   "
                         f"{dropped} camera frames skipped")

    # -- presenter view ----------------------------------------------------------------------
    def _presenting(self) -> bool:
        return self.presenter is not None and self.presenter.isVisible()

    def set_presenter_visible(self, visible: bool) -> None:
        """Open (with the frames shown now) or close the presenter window."""
        if visible:
            if self.presenter is None:
                self.presenter = PresenterWindow(self)
                self.presenter.closed.connect(lambda: self.presenter_button.setChecked(False))
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
                  self.target_path, self.target_browse):
            w.setEnabled(not running and not busy)
        if not running:
            self.set_readout("stopped")

    def is_running(self) -> bool:
        return self._running

    def set_recording(self, recording: bool) -> None:
        self._recording = bool(recording)
        self.record_button.setText("Stop recording" if recording else "Record...")
        self.record_button.setEnabled(self._running or recording)

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
        self.progress_bar.setFormat(f"{label} %p%" if total > 0 else label)

    def set_export_enabled(self, enabled: bool) -> None:
        self.export_button.setEnabled(enabled)
