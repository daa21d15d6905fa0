"""Batch window: score and / or fold every record of a FASTA into a folder, with a queue you can cancel,
progress with an ETA, a results browser, and resume after the app was closed (app.core.batch_queue)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QFileDialog, QGridLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QTableView,
                               QVBoxLayout, QWidget)

from app.core.batch_queue import (CANCELLED, DONE, FAILED, SUMMARY_FILE, WAITING, Batch, BatchError, format_eta,
                                  has_batch, read_entries)
from app.core.batch_run import check_pack, pack_ref
from app.core.fasta import FastaError, read_fasta_text
from app.core.outputs import prepare_dir
from app.ui.batch_controller import BatchController
from app.ui.batch_results import show_item
from app.ui.batch_table import BatchTableModel
from app.ui.errors import show_error
from app.ui.fold_job import PartsCache
from app.ui.scoring_job import RuntimeCache

log = logging.getLogger(__name__)

PackProvider = Callable[[], Optional[object]]  # a pack info with .path, .name, .scheme (or None)


class BatchDialog(QDialog):
    """Non-modal: a batch runs on while the main window is used; closing the app saves it to resume."""

    def __init__(self, settings: QSettings, score_pack: PackProvider, fold_pack: PackProvider,
                 score_method: Callable[[], str], runtime_cache: Optional[RuntimeCache] = None,
                 parts_cache: Optional[PartsCache] = None, window=None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("EdgeFold \u2014 batch")
        self.settings, self.window_ = settings, window
        self.score_pack, self.fold_pack, self.score_method = score_pack, fold_pack, score_method
        self.runtime_cache, self.parts_cache = runtime_cache or RuntimeCache(), parts_cache or PartsCache()
        self.controller: Optional[BatchController] = None
        self.note = ""  # what Start or Open found in the folder, shown before the counts
        self.model = BatchTableModel(self)
        self._create_widgets()
        self._layout()
        self.timer = QTimer(self)  # the ETA counts down between records
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._update_status)
        self._update_actions()

    # ---- construction -------------------------------------------------------------------
    def _create_widgets(self) -> None:
        self.fasta_edit = QLineEdit(str(self.settings.value("batch/fasta", "")))
        self.fasta_edit.setPlaceholderText("FASTA file with the records to run")
        self.out_edit = QLineEdit(str(self.settings.value("batch/out", "")))
        self.out_edit.setPlaceholderText("Output folder (created if missing; a batch folder resumes)")
        self.fasta_button, self.out_button = QPushButton("Browse\u2026"), QPushButton("Browse\u2026")
        self.score_check = QCheckBox("Score all substitutions")
        self.fold_check = QCheckBox("Fold structures")
        self.score_check.setChecked(self.settings.value("batch/score", "true") in (True, "true"))
        self.fold_check.setChecked(self.settings.value("batch/fold", "false") in (True, "true"))
        self.packs_label = QLabel()
        self.packs_label.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Run every record of the FASTA into the output folder; records a batch "
                                     "in that folder already finished are skipped")
        self.open_button = QPushButton("Open batch folder\u2026")
        self.open_button.setToolTip("Reopen a batch folder: see its results, resume what did not finish")
        self.resume_button = QPushButton("Resume")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m records")
        self.progress.setMinimumWidth(150)
        self.status_label = QLabel("No batch yet.")
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_all_button = QPushButton("Cancel all")
        self.retry_button = QPushButton("Run again")
        self.retry_button.setToolTip("Queue the selected failed or cancelled records again")
        self.show_button = QPushButton("Show result")
        self.show_button.setToolTip("Show the selected finished record in the heatmap or structure panel "
                                    "(double-click a row does the same)")
        self.close_button = QPushButton("Close")
        self.fasta_button.clicked.connect(self._browse_fasta)
        self.out_button.clicked.connect(self._browse_out)
        self.start_button.clicked.connect(self.start)
        self.open_button.clicked.connect(lambda: self.open_folder())
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.retry_button.clicked.connect(self.run_again)
        self.show_button.clicked.connect(self.show_selected)
        self.close_button.clicked.connect(self.hide)
        self.table.doubleClicked.connect(lambda index: self.show_row(index.row()))
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        for check in (self.score_check, self.fold_check):
            check.toggled.connect(self.refresh_packs)

    def _layout(self) -> None:
        grid = QGridLayout()
        grid.addWidget(QLabel("FASTA:"), 0, 0)
        grid.addWidget(self.fasta_edit, 0, 1)
        grid.addWidget(self.fasta_button, 0, 2)
        grid.addWidget(QLabel("Output folder:"), 1, 0)
        grid.addWidget(self.out_edit, 1, 1)
        grid.addWidget(self.out_button, 1, 2)
        tasks = QHBoxLayout()
        for w in (self.score_check, self.fold_check):
            tasks.addWidget(w)
        tasks.addWidget(self.packs_label, 1)
        for w in (self.start_button, self.open_button, self.resume_button):
            tasks.addWidget(w)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress)
        bottom.addWidget(self.status_label, 1)
        buttons = QHBoxLayout()
        for w in (self.cancel_button, self.cancel_all_button, self.retry_button, self.show_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(grid)
        layout.addLayout(tasks)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        layout.addLayout(buttons)

    def sizeHint(self) -> QSize:  # noqa: N802
        """Room for ~12 rows, well inside a 1366 x 768 screen with its task bar."""
        return QSize(900, 520)

    # ---- input --------------------------------------------------------------------------
    def _last_dir(self) -> str:
        return str(self.settings.value("paths/last_dir", str(Path.home())))

    @Slot()
    def _browse_fasta(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "FASTA for the batch", self._last_dir(),
                                              "FASTA (*.fasta *.fa *.faa *.fas *.txt);;All files (*)")
        if path:
            self.fasta_edit.setText(path)
            self.settings.setValue("paths/last_dir", str(Path(path).parent))

    @Slot()
    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Batch output folder", self._last_dir())
        if path:
            self.out_edit.setText(path)

    @Slot()
    def refresh_packs(self, *_) -> None:
        """Say which packs Start would use (the window's current scoring and folding packs)."""
        parts = []
        if self.score_check.isChecked():
            p = self.score_pack()
            parts.append(f"scoring: {p.name} ({p.scheme}), {self.score_method()}" if p else
                         "scoring: no model pack selected")
        if self.fold_check.isChecked():
            p = self.fold_pack()
            parts.append(f"folding: {p.name} ({p.scheme})" if p else "folding: no folding pack installed")
        self.packs_label.setText("; ".join(parts) or "Tick what to run.")

    def showEvent(self, event) -> None:  # noqa: N802
        self.refresh_packs()
        super().showEvent(event)

    # ---- starting -----------------------------------------------------------------------
    def _new_batch(self) -> Optional[Batch]:
        """The batch Start runs, or None after a dialog saying what is missing or wrong."""
        fasta, out = self.fasta_edit.text().strip(), self.out_edit.text().strip()
        tasks = [t for t, c in (("score", self.score_check), ("fold", self.fold_check)) if c.isChecked()]
        if not tasks:
            return self._refuse("Nothing to run", "Tick Score, Fold or both.")
        if not fasta or not out:
            return self._refuse("Batch needs a FASTA and a folder", "Choose the FASTA file and the output folder.")
        packs, settings = {}, {}
        for task, provider in (("score", self.score_pack), ("fold", self.fold_pack)):
            info = provider() if task in tasks else None
            if task in tasks and info is None:
                what = "a model pack (Model: in the main window)" if task == "score" else "a folding pack"
                return self._refuse("No pack", f"To {task}, select {what} first.")
            if info is not None:
                packs[task] = pack_ref(info.path, info.name, info.scheme)
        if "score" in packs:
            settings["method"] = self.score_method()
        if "fold" in packs:
            settings["recycles"] = None  # the pack's max_recycles, as the CLI's default
        try:
            entries = read_entries(read_fasta_text(fasta), fasta)
            prepare_dir(out)
            batch = Batch.create(out, entries, packs, settings, source=fasta)
            skipped = batch.carry_over(Batch.load(out)) if has_batch(out) else 0
        except (FastaError, BatchError, OSError) as e:
            return self._refuse("Cannot start the batch", str(e))
        batch.save()
        self.settings.setValue("batch/fasta", fasta)
        self.settings.setValue("batch/out", out)
        self.settings.setValue("batch/score", "score" in packs)
        self.settings.setValue("batch/fold", "fold" in packs)
        self.note = f"{skipped} finished before, skipped. " if skipped else ""
        return batch

    def _refuse(self, title: str, text: str) -> None:
        show_error(self, title, text)
        return None

    @Slot()
    def start(self) -> bool:
        """A new batch from the FASTA (resuming what the folder holds) and run it; False if refused."""
        if self.controller is not None and self.controller.is_running():
            return False
        batch = self._new_batch()
        if batch is None:
            return False
        self.set_batch(batch)
        return self.resume()

    def open_folder(self, path: Optional[str] = None) -> bool:
        """Load a batch folder's state: its records, statuses and results; Resume runs what is left."""
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Open batch folder", self._last_dir())
            if not path:
                return False
        if self.controller is not None and self.controller.is_running():
            return self._refuse("A batch is running", "Cancel it before opening another.") or False
        try:
            batch = Batch.load(path)
        except BatchError as e:
            return self._refuse("Cannot open the batch", str(e)) or False
        self.out_edit.setText(str(path))
        left = batch.counts()[WAITING]
        self.note = f"Reopened: Resume runs the {left} left. " if left else "Reopened: nothing left to run. "
        self.set_batch(batch)
        return True

    def set_batch(self, batch: Batch) -> None:
        if self.controller is not None:
            self.controller.shutdown()
            self.controller.deleteLater()
        self.controller = BatchController(batch, self.runtime_cache, self.parts_cache, self)
        self.controller.itemChanged.connect(self._on_item_changed)
        self.controller.stepProgress.connect(self._on_step)
        self.controller.idle.connect(self._on_idle)
        self.model.set_batch(batch)
        self._update_status()
        self._update_actions()

    @Slot()
    def resume(self) -> bool:
        """Run the batch's waiting records; refused (with a dialog) when a pack changed meanwhile."""
        if self.controller is None or self.controller.is_running():
            return False
        batch = self.controller.batch
        try:
            for task in {i.task for i in batch.items if i.status == WAITING}:
                check_pack(batch.packs[task])
        except BatchError as e:
            return self._refuse("Cannot resume the batch", str(e)) or False
        if not self.controller.start():
            return False
        self.timer.start()
        self._update_actions()
        return True

    # ---- queue actions ------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    @Slot()
    def cancel_selected(self) -> None:
        for row in self.selected_rows() if self.controller is not None else []:
            self.controller.cancel_item(row)

    @Slot()
    def cancel_all(self) -> None:
        if self.controller is not None:
            self.controller.cancel_all()
            self.status_label.setText("Cancelling: the running record stops at its next step\u2026")

    @Slot()
    def run_again(self) -> None:
        if self.controller is not None and self.controller.requeue(self.selected_rows()):
            self.resume()

    @Slot()
    def show_selected(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.show_row(rows[0])

    def show_row(self, row: int) -> bool:
        """Results browser: show a finished record in the main window's panels."""
        if self.controller is None or self.window_ is None:
            return False
        item = self.controller.batch.items[row]
        try:
            message = show_item(self.window_, self.controller.batch, item)
        except (BatchError, OSError, ValueError, KeyError) as e:
            return self._refuse("Cannot show the result", str(e)) or False
        self.window_.statusBar().showMessage(message, 8000)
        return True

    # ---- progress -----------------------------------------------------------------------
    @Slot(int)
    def _on_item_changed(self, row: int) -> None:
        self.model.refresh_row(row)
        self._update_status()
        self._update_actions()

    @Slot(int, int, str)
    def _on_step(self, done: int, total: int, message: str) -> None:
        current = self.controller.current if self.controller else None
        if current is not None:
            self.model.set_step(self.controller.row(current), f"{message} ({done}/{total})" if total else message)

    @Slot()
    def _on_idle(self) -> None:
        self.timer.stop()
        self._update_status()
        self._update_actions()

    def status_text(self) -> str:
        if self.controller is None:
            return "No batch yet."
        batch = self.controller.batch
        c, total = batch.counts(), len(batch.items)
        text = f"{c[DONE]} done, {c[FAILED]} failed, {c[CANCELLED]} cancelled, {c[WAITING]} waiting of {total}"
        if self.controller.is_running():
            text += f"; {format_eta(self.controller.eta_seconds())}"
        return f"{self.note}{text}. Summary: {batch.out_dir / SUMMARY_FILE}"

    @Slot()
    def _update_status(self) -> None:
        if self.controller is None:
            return
        batch = self.controller.batch
        self.progress.setRange(0, max(1, len(batch.items)))
        self.progress.setValue(sum(i.finished for i in batch.items))
        self.status_label.setText(self.status_text())

    @Slot()
    def _update_actions(self, *_) -> None:
        running = self.controller is not None and self.controller.is_running()
        batch = self.controller.batch if self.controller else None
        rows = self.selected_rows()
        items = [batch.items[r] for r in rows] if batch else []
        for w in (self.start_button, self.open_button, self.fasta_edit, self.out_edit, self.score_check,
                  self.fold_check, self.fasta_button, self.out_button):
            w.setEnabled(not running)
        self.resume_button.setEnabled(not running and batch is not None and batch.next_waiting() is not None)
        self.cancel_all_button.setEnabled(running or (batch is not None and batch.next_waiting() is not None))
        self.cancel_button.setEnabled(any(not i.finished for i in items))
        self.retry_button.setEnabled(any(i.status in (FAILED, CANCELLED) and i.runnable for i in items))
        self.show_button.setEnabled(self.window_ is not None and any(i.status == DONE for i in items))

    # ---- closing ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the running record and save it as waiting (the batch resumes when reopened)."""
        self.timer.stop()
        if self.controller is not None:
            self.controller.shutdown()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.window_ and event.type() == QEvent.Close:
            self.shutdown()
        return False


def open_batch_dialog(window) -> BatchDialog:
    """The main window's one batch dialog (made on first use), shown; it uses the window's packs."""
    dialog = getattr(window, "_batch_dialog", None)
    if dialog is None:
        dialog = BatchDialog(window.settings, window.picker.current_pack, window.fold_panel.current_pack,
                             window.method.currentData, window.cache, window.fold_panel.cache, window, window)
        window.installEventFilter(dialog)  # closing the window stops and saves the batch
        window._batch_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog
