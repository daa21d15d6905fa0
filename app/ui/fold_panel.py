"""Structure panel: pick a folding pack, fold in a worker, show the 3D model and PAE, save PDB / mmCIF."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from app.core.fasta import Record
from app.core.outputs import safe_stem
from app.ui import workers
from app.ui.csv_export import write_atomic
from app.ui.errors import show_error
from app.ui.fold_job import FoldOutcome, PartsCache, fold_error_message, make_fold_job
from app.ui.fold_packs import FoldPackInfo, find_folding_packs, folding_pack_info, install_hint, read_task
from app.ui.contact_view import ContactView
from app.ui.pae_view import PaeView
from app.ui.structure_view import StructureView

log = logging.getLogger(__name__)

FOLDERS_KEY = "packs/fold_folders"
CURRENT_KEY = "packs/fold_current"
FORMATS = {"pdb": ("PDB", "PDB files (*.pdb);;All files (*)"),
           "cif": ("mmCIF", "mmCIF files (*.cif);;All files (*)")}
PAE_HINT = "Hover the PAE map for the expected error between two residues."


class FoldPanel(QWidget):
    """Owns its worker; `record_provider()` gives the record to fold (None: the caller explained why)."""

    statusMessage = Signal(str, int)  # text, timeout in ms (0 = until replaced)
    outcomeChanged = Signal(object)  # the FoldOutcome now shown

    def __init__(self, settings: QSettings, record_provider: Callable[[], Optional[Record]],
                 parent: QWidget | None = None, use_webengine: bool | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.record_provider = record_provider
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.cache = PartsCache()
        self.worker: workers.Worker | None = None
        self.outcome: FoldOutcome | None = None
        self._create_widgets(use_webengine)
        self._layout()
        self.reload_packs()
        self._update_actions()

    def _create_widgets(self, use_webengine: bool | None) -> None:
        self.pack_combo = QComboBox()
        self.pack_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.pack_combo.setMinimumContentsLength(8)
        self.pack_combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.pack_combo.setToolTip("Installed folding packs (ESMFold)")
        self.fold_button = QPushButton("Fold")
        self.fold_button.setToolTip("Predict the 3D structure of the current sequence (ESMFold)")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(160)
        self.summary = QLabel("No structure yet.")
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        self.viewer = StructureView(use_webengine=use_webengine)
        self.pae = PaeView()
        self.contacts = ContactView()  # beside the PAE once embeddings with contacts are computed
        self.pae_label = QLabel(PAE_HINT)
        self.pae_label.setWordWrap(True)
        self.save_pdb_button = QPushButton("Save PDB\u2026")
        self.save_cif_button = QPushButton("Save mmCIF\u2026")
        self.fold_button.clicked.connect(self.fold)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_pdb_button.clicked.connect(lambda: self.save("pdb"))
        self.save_cif_button.clicked.connect(lambda: self.save("cif"))
        self.pack_combo.currentIndexChanged.connect(self._on_pack_changed)
        self.pae.hoverTextChanged.connect(lambda t: self.pae_label.setText(t or PAE_HINT))

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Fold with:"))
        top.addWidget(self.pack_combo, 1)
        top.addWidget(self.fold_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addWidget(self.save_pdb_button)  # one row of controls: the dock fits a 768-pixel screen
        top.addWidget(self.save_cif_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.pae, 1)
        right_layout.addWidget(self.pae_label)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.viewer)
        self.splitter.addWidget(right)
        self.splitter.addWidget(self.contacts)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.splitter, 1)

    def sizeHint(self) -> QSize:  # noqa: N802
        """A short first height, so the results keep >= 8 table rows on a 768-pixel screen."""
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())

    # ---- packs --------------------------------------------------------------------------
    def _extra_folders(self) -> list[str]:
        value = self.settings.value(FOLDERS_KEY, [])
        return [value] if isinstance(value, str) else list(value or [])

    @Slot()
    def reload_packs(self) -> None:
        """List the folding packs found on disk plus added folders; reselect the remembered one."""
        self.set_packs(find_folding_packs(self._extra_folders()))

    def set_packs(self, infos: list[FoldPackInfo]) -> None:
        remembered = str(self.settings.value(CURRENT_KEY, ""))
        self.pack_combo.blockSignals(True)
        self.pack_combo.clear()
        for info in infos:
            self.pack_combo.addItem(info.describe(), info)
            self.pack_combo.setItemData(self.pack_combo.count() - 1, info.error or str(info.path), Qt.ToolTipRole)
        usable = [r for r, info in enumerate(infos) if info.ok]
        chosen = [r for r in usable if str(infos[r].path) == remembered]
        self.pack_combo.setCurrentIndex((chosen or usable or [-1])[0])
        self.pack_combo.setPlaceholderText("No folding pack installed")
        self.pack_combo.blockSignals(False)
        self._update_actions()

    def packs(self) -> list[FoldPackInfo]:
        return [self.pack_combo.itemData(r) for r in range(self.pack_combo.count())]

    def current_pack(self) -> FoldPackInfo | None:
        info = self.pack_combo.currentData()
        return info if info is not None and info.ok else None

    def add_folder(self, path: str | Path) -> bool:
        """Take the pack at path if it is a folding pack (True); False leaves it to the model picker."""
        if read_task(Path(path)) != "folding":
            return False
        info = folding_pack_info(path)
        if not info.ok:
            show_error(self, "Folding pack cannot be used", info.error or "unknown error")
            return True
        folders = self._extra_folders()
        if str(info.path) not in folders:
            self.settings.setValue(FOLDERS_KEY, folders + [str(info.path)])
        self.settings.setValue(CURRENT_KEY, str(info.path))
        self.reload_packs()
        return True

    @Slot(int)
    def _on_pack_changed(self, row: int) -> None:
        info = self.current_pack()
        if info is not None:
            self.settings.setValue(CURRENT_KEY, str(info.path))
        self._update_actions()

    # ---- folding ------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self.worker is not None

    def _update_actions(self) -> None:
        busy = self.worker is not None
        self.fold_button.setEnabled(not busy)  # with no pack, Fold explains how to install one
        self.cancel_button.setEnabled(busy)
        self.pack_combo.setEnabled(not busy)
        has = self.outcome is not None and not busy
        self.save_pdb_button.setEnabled(has)
        self.save_cif_button.setEnabled(has)

    def show_install_hint(self) -> None:
        box = QMessageBox(QMessageBox.Information, "No folding model installed", install_hint(),
                          QMessageBox.Ok, self)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)  # the commands can be copied
        box.exec()

    @Slot()
    def fold(self) -> bool:
        """Fold the provider's record with the chosen pack in the pool; False when nothing started."""
        if self.worker is not None:
            return False
        pack = self.current_pack()
        if pack is None:  # one may have been copied in since: look again before the hint
            self.reload_packs()
            pack = self.current_pack()
        if pack is None:
            self.show_install_hint()
            return False
        record = self.record_provider()
        if record is None:
            return False
        w = workers.Worker(make_fold_job(pack.path, record, self.cache), name=f"fold {record.id}")
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self.set_outcome)
        w.signals.failed.connect(self._on_failed)
        w.signals.cancelled.connect(lambda: self.statusMessage.emit("Folding cancelled", 5000))
        w.signals.finished.connect(self._on_finished)
        self.worker = w
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.statusMessage.emit(f"Folding {record.id} ({len(record)} residues) with {pack.name}\u2026", 0)
        self._update_actions()
        workers.start(w, self.pool)
        return True

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.statusMessage.emit("Cancelling after the current recycling pass\u2026", 0)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        self.progress.setToolTip(message)
        self.statusMessage.emit(message, 0)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        title, text, user = fold_error_message(exc)
        self.cache.clear()  # a broken pack must be re-opened next time
        self.statusMessage.emit(title, 5000)
        show_error(self, title, text, "" if user or self.worker is None else self.worker.traceback)

    @Slot()
    def _on_finished(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self._update_actions()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Cancel a running fold and wait for the pool (window closing)."""
        if self.worker is not None:
            self.worker.cancel()
        self.pool.waitForDone(wait_ms)

    # ---- showing and saving -------------------------------------------------------------
    @Slot(object)
    def set_outcome(self, outcome: FoldOutcome) -> None:
        """Show a fold: 3D model coloured by pLDDT, PAE map, pLDDT / pTM summary."""
        self.outcome = outcome
        self.show_structure(outcome.pdb, outcome.summary(), outcome.result.pae)
        self.statusMessage.emit(f"Folded {outcome.summary()}", 10_000)
        self._update_actions()
        self.outcomeChanged.emit(outcome)

    def show_structure(self, pdb_text: str, summary: str, pae: np.ndarray | None = None) -> None:
        """Show any PDB text (pLDDT in B-factors) and an optional (L, L) PAE; used by folds and dev tools."""
        self.viewer.set_structure(pdb_text)
        if pae is not None:
            self.pae.set_pae(pae)
        else:
            self.pae.clear()
        self.summary.setText(summary)

    @Slot(int)
    def highlight_residue(self, index0: int) -> None:
        """Mark residue index0 (0-based) in the 3D view and on the PAE map."""
        self.viewer.highlight_residue(index0)
        self.pae.select_residue(index0)

    def save(self, kind: str, path: str | Path | None = None) -> Path | None:
        """Write the fold as 'pdb' or 'cif' (atomically); asks for a path when none is given."""
        if self.outcome is None:
            return None
        label, filters = FORMATS[kind]
        if path is None:
            last = Path(str(self.settings.value("paths/last_dir", str(Path.home()))))
            name = f"{safe_stem(self.outcome.record.id)}.{kind}"  # sp|P0A7V0|X -> sp_P0A7V0_X
            path, _ = QFileDialog.getSaveFileName(self, f"Save structure as {label}", str(last / name), filters)
            if not path:
                return None
        path = Path(path)
        try:
            write_atomic(path, self.outcome.pdb if kind == "pdb" else self.outcome.cif)
        except OSError as e:
            show_error(self, "Save failed", f"{path}: {e}")
            return None
        self.settings.setValue("paths/last_dir", str(path.parent))
        self.statusMessage.emit(f"Saved {label} to {path}", 8000)
        return path
