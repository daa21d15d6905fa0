"""Get ESM-2... : pick a checkpoint (or a URL, a file, a HuggingFace folder) and a scheme, see the download
size and that this is the only network use, build the pack in a worker with progress and Cancel.

The builder (`packbuild`, through app.core.pack_get) is imported when this dialog opens, to list its
checkpoints (its top level is the standard library only), and builds in the worker; the app never
imports it at start. When it is missing the dialog says so in words and the Get button stays disabled.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QThreadPool, Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from app.core.jobs import CancelToken, Progress
from app.core.pack import user_packs_dir
from app.core.pack_admin import PackAdminError
from app.core.pack_get import DEFAULT_SCHEME, NETWORK_NOTICE, BuilderMissing, checkpoints, get_pack, plan
from app.ui import workers
from app.ui.errors import is_user_error, show_error

_INT_MAX = 2**31 - 1  # Qt signals and QProgressBar carry a C int


def fit_progress(progress: Progress) -> Progress:
    """`progress` for byte counts past 2 GiB (a 2.6 GB checkpoint): sent in MiB then, which a Qt int holds
    (raw, they wrap to negative numbers)."""
    def fitted(done: int, total: int, message: str) -> None:
        if max(done, total) > _INT_MAX:
            done, total = done >> 20, total >> 20
        progress(done, total, message)
    return fitted


OTHER = "__other__"
SCHEMES = (DEFAULT_SCHEME, "int8", "dynamic-int8", "fp32")


class GetEsm2Dialog(QDialog):
    """`installed(Path)` once a pack is built and checked; the manager re-scans on it."""

    installed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get ESM-2")
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.worker: workers.Worker | None = None
        self.cancel_event = threading.Event()
        self.checkpoint = QComboBox()
        self.other = QLineEdit()
        self.other.setPlaceholderText("https://... .pt, a local checkpoint file or a HuggingFace ESM folder")
        self.browse_file = QPushButton("File\u2026")
        self.browse_dir = QPushButton("Folder\u2026")
        self.scheme = QComboBox()
        for s in SCHEMES:
            self.scheme.addItem(s)
        self.size = QLabel("")
        self.notice = QLabel(NETWORK_NOTICE)
        self.notice.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.get_button = QPushButton("Get")
        self.get_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        self._layout()
        self.known = self._load_known()
        self.checkpoint.currentIndexChanged.connect(self._update)
        self.other.textChanged.connect(self._update)
        self.scheme.currentIndexChanged.connect(self._update)
        self.browse_file.clicked.connect(lambda: self._browse(False))
        self.browse_dir.clicked.connect(lambda: self._browse(True))
        self.get_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self._update()

    def _layout(self) -> None:
        other = QHBoxLayout()
        other.addWidget(self.other, 1)
        other.addWidget(self.browse_file)
        other.addWidget(self.browse_dir)
        form = QFormLayout()
        form.addRow("Checkpoint:", self.checkpoint)
        form.addRow("Or from:", other)
        form.addRow("Scheme:", self.scheme)
        form.addRow("Download:", self.size)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.get_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.notice)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(620, 0)

    def _load_known(self) -> dict:
        """The builder's checkpoints, smallest first; {} and a sentence when the builder is missing."""
        try:
            known = checkpoints()
        except BuilderMissing as e:
            self.builder_error = str(e)
            self.status.setText(str(e))
            return {}
        self.builder_error = ""
        for key, c in sorted(known.items(), key=lambda kv: int(getattr(kv[1], "approx_bytes", 0) or 0)):
            layers, dim = getattr(c, "layers", "?"), getattr(c, "dim", "?")
            self.checkpoint.addItem(f"{getattr(c, 'name', key)} ({layers} layers, dim {dim})", key)
        self.checkpoint.addItem("Other: the URL, file or folder below", OTHER)
        return known

    def installed_already(self) -> Path | None:
        """The pack folder packbuild would replace (`<checkpoint>-<scheme>`), for a known checkpoint."""
        key = self.checkpoint.currentData()
        target = user_packs_dir() / f"{key}-{self.scheme.currentText()}"
        return target if key in self.known and (target / "manifest.json").is_file() else None

    def source(self) -> str:
        key = self.checkpoint.currentData()
        return self.other.text().strip() if key in (None, OTHER) else str(key)

    @Slot()
    def _update(self, *_) -> None:
        busy = self.worker is not None
        other = self.checkpoint.currentData() in (None, OTHER)
        self.other.setEnabled(other and not busy)
        text, ok = "", False
        if not self.builder_error and self.source():
            try:
                text, ok = plan(self.source(), self.known).describe(), True
            except PackAdminError as e:
                text = str(e)
        if ok and self.installed_already() is not None:
            text += f"; {self.installed_already().name} is installed already: getting it again replaces it"
        self.size.setText(text)
        self.get_button.setEnabled(ok and not busy)
        self.cancel_button.setEnabled(busy)
        for w in (self.checkpoint, self.scheme, self.browse_file, self.browse_dir):
            w.setEnabled(not busy and not self.builder_error)

    def _browse(self, folder: bool) -> None:
        path = QFileDialog.getExistingDirectory(self, "HuggingFace ESM folder") if folder else \
            QFileDialog.getOpenFileName(self, "ESM-2 checkpoint", "", "Checkpoints (*.pt *.pth *.bin);;All (*)")[0]
        if path:
            self.checkpoint.setCurrentIndex(max(0, self.checkpoint.findData(OTHER)))
            self.other.setText(path)

    @Slot()
    def start(self) -> bool:
        """Build the chosen source's pack in the pool; False when nothing started."""
        if self.worker is not None or not self.get_button.isEnabled():
            return False
        source, scheme = self.source(), self.scheme.currentText()
        self.cancel_event = event = threading.Event()

        def job(progress: Progress, token: CancelToken) -> Path:
            return get_pack(source, scheme, progress=fit_progress(progress), cancel=event)

        w = workers.Worker(job, name=f"get {source}")
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_result)
        w.signals.failed.connect(self._on_failed)
        w.signals.cancelled.connect(lambda: self.status.setText("Cancelled; nothing was installed."))
        w.signals.finished.connect(self._on_finished)
        self.worker = w
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(f"Getting {source} ({scheme})\u2026")
        self._update()
        workers.start(w, self.pool)
        return True

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.cancel_event.set()  # packbuild polls it (download chunks, calibration batches)
            self.worker.cancel()
            self.status.setText("Cancelling\u2026")

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        self.status.setText(message)

    @Slot(object)
    def _on_result(self, path: Path) -> None:
        self.status.setText(f"Installed {path}.")
        self.installed.emit(Path(path))

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self.status.setText(f"Could not get the model: {exc}")
        show_error(self, "Could not get the model", str(exc),
                   "" if is_user_error(exc) or self.worker is None else self.worker.traceback)

    @Slot()
    def _on_finished(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self._update()

    def done(self, result: int) -> None:  # noqa: D401 - closing cancels and waits for the build
        self.cancel()
        self.pool.waitForDone(10_000)
        super().done(result)
