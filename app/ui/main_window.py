"""EdgeFold main window: sequence in, model pack and method chosen, mutation scores out."""
from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QSettings, Qt, QThreadPool, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel,
                               QMainWindow, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from app.core.embedding import write_embedding_files
from app.core.fasta import FastaError, Record
from app.core.outputs import safe_stem
from app.ui import about, model_manager, window_state, workers
from app.ui.batch_dialog import open_batch_dialog
from app.ui.errors import install_excepthooks, is_user_error, show_error, user_message
from app.ui.embedding_job import EmbedResult, make_embed_job
from app.ui.export_menu import ImageExportMenu
from app.ui.fold_panel import FoldPanel
from app.ui.model_picker import ModelPicker
from app.ui.mutant_list import MutantListDialog
from app.ui.results_panel import ResultsPanel
from app.ui.scoring_job import METHODS, RuntimeCache, ScoreResult, make_score_job
from app.ui.sequence_editor import SequenceEditor
from app.ui.structure_view import prepare_webengine
from app.ui.window_files import WindowFilesMixin

log = logging.getLogger(__name__)


class MainWindow(WindowFilesMixin, QMainWindow):
    """One window; long work runs in `self.pool`, never in the GUI thread."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.cache = RuntimeCache()
        self.worker: workers.Worker | None = None
        self.result: ScoreResult | None = None
        self.setWindowTitle("EdgeFold \u2014 mutation effects")
        self.setAcceptDrops(True)
        self._create_widgets()
        self._create_actions()
        self.image_export = ImageExportMenu(self)  # File > Export image, right-click on each map
        self._create_menus()
        self.packs_watcher = model_manager.attach(self, self.rescan_packs)  # File > Models..., packs folder watch
        self._layout()
        self._restore_settings()
        self.picker.reload()
        self._update_actions()

    # ---- construction -------------------------------------------------------------------
    def _create_widgets(self) -> None:
        self.editor = SequenceEditor()
        self.picker = ModelPicker(self.settings)
        self.method = QComboBox()
        for label, name, tip in METHODS:
            self.method.addItem(label, name)
            self.method.setItemData(self.method.count() - 1, tip, Qt.ToolTipRole)
        self.score_button = QPushButton("Score")
        self.score_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m")
        self.progress.setVisible(False)
        self.results = ResultsPanel()
        self.fold_panel = FoldPanel(self.settings, self._checked_record)
        self.results.residueClicked.connect(self._on_residue_clicked)
        self.fold_panel.outcomeChanged.connect(self._update_link)
        self.editor.recordChanged.connect(self._on_record_changed)
        self.fold_panel.statusMessage.connect(self.statusBar().showMessage)
        self.score_button.clicked.connect(self.score)
        self.cancel_button.clicked.connect(self.cancel)
        self.editor.validityChanged.connect(self._update_actions)
        self.picker.packChanged.connect(self._update_actions)
        self.picker.addFolderRequested.connect(self.add_pack_folder)

        self.fold_dock = QDockWidget("Structure", self)
        self.fold_dock.setObjectName("structureDock")  # saveState() keys docks by object name
        self.fold_dock.setWidget(self.fold_panel)

    def _create_actions(self) -> None:
        def act(text: str, slot, shortcut=None, tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            return a

        self.open_act = act("&Open FASTA\u2026", self.open_file, QKeySequence.Open,
                            "Load a FASTA file into the editor")
        self.export_act = act("&Export CSV\u2026", self.export_csv, "Ctrl+E",
                              "Save all substitutions as ProteinGym CSV (mutant,score)")
        self.embed_act = act("Save &embeddings\u2026", self.save_embeddings, None,
                             "Per-residue and mean embeddings (and contacts) of the current record as .npy")
        self.mutants_act = act("Score &mutant list\u2026", self.score_mutant_list, "Ctrl+M",
                               "Score pasted mutants such as A23G:K40R from the shown scores")
        self.add_pack_act = act("Add &pack folder\u2026", self.add_pack_folder, None,
                                "Load a model pack directory")
        self.quit_act = act("&Quit", self.close, QKeySequence.Quit, "Quit EdgeFold")
        self.score_act = act("&Score", self.score, "Ctrl+Return", "Score all substitutions")
        self.cancel_act = act("&Cancel", self.cancel, "Esc", "Stop the running job")
        self.fold_act = act("&Fold structure", self.fold, "Ctrl+Shift+F",
                            "Predict the 3D structure of the current sequence (needs a folding pack)")
        self.zoom_in_act = act("Zoom &in", self.results.heatmap.zoom_in, QKeySequence.ZoomIn)
        self.zoom_out_act = act("Zoom &out", self.results.heatmap.zoom_out, QKeySequence.ZoomOut)
        self.zoom_fit_act = act("&Fit sequence", self.results.heatmap.zoom_to_fit, "Ctrl+0")
        self.about_act = act("&About EdgeFold", self.show_about)
        self.batch_act = act("&Batch\u2026", lambda: open_batch_dialog(self), None,
                             "Score and fold every record of a FASTA into a folder (resumable)")

    def _create_menus(self) -> None:
        menus = {
            "&File": [self.open_act, self.export_act, self.image_export.menu.menuAction(), self.embed_act, None, self.add_pack_act, None,
                      self.quit_act],
            "&Run": [self.score_act, self.mutants_act, self.cancel_act, None, self.fold_act, None, self.batch_act],
            "&View": [self.zoom_in_act, self.zoom_out_act, self.zoom_fit_act, None,
                      self.fold_dock.toggleViewAction()],
            "&Help": [self.about_act],
        }
        for title, actions in menus.items():
            menu = self.menuBar().addMenu(title)
            for a in actions:
                menu.addSeparator() if a is None else menu.addAction(a)

    def _layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Model:"))
        controls.addWidget(self.picker, 3)
        controls.addWidget(QLabel("Method:"))
        controls.addWidget(self.method)
        controls.addWidget(self.score_button)
        controls.addWidget(self.cancel_button)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.editor)
        self.splitter.addWidget(self.results)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 4, 6, 2)  # every pixel counts on a 768-pixel screen
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.fold_dock)  # full width: 3D view and PAE side by side
        self.progress.setMaximumWidth(320)
        self.statusBar().addPermanentWidget(self.progress)  # no layout jump when it appears
        self.statusBar().showMessage("Ready")

    # ---- settings -----------------------------------------------------------------------
    def _splitters(self) -> dict[str, QSplitter]:
        return {"window/splitter": self.splitter, "window/results_splitter": self.results.splitter,
                "window/fold_splitter": self.fold_panel.splitter}

    def _restore_settings(self) -> None:
        window_state.restore(self, self.settings, self._splitters(), self.method, METHODS[0][1])

    def _save_settings(self) -> None:
        window_state.save(self, self.settings, self._splitters(), self.method)

    # ---- state --------------------------------------------------------------------------
    @Slot()
    def _update_actions(self, *_) -> None:
        busy = self.worker is not None
        can_score = not busy and bool(self.editor.text().strip()) and \
            self.picker.current_pack() is not None
        self.score_button.setEnabled(can_score)
        self.score_act.setEnabled(can_score)
        self.cancel_button.setEnabled(busy)
        self.cancel_act.setEnabled(busy)
        self.export_act.setEnabled(self.result is not None and not busy)
        self.mutants_act.setEnabled(self.result is not None and not busy)
        self.embed_act.setEnabled(can_score)
        for w in (self.picker, self.method, self.add_pack_act):
            w.setEnabled(not busy)

    def show_error(self, title: str, text: str, details: str = "") -> None:
        show_error(self, title, text, details)

    @Slot()
    def add_pack_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add model pack folder", self.last_pack_dir())
        if not path:
            return
        self.settings.setValue("paths/last_pack_dir", path)  # save dialogs keep the user's folder
        if self.fold_panel.add_folder(path):  # a folding pack goes to the structure panel
            self.fold_dock.show()
            return
        info = self.picker.add_folder(path)
        if not info.ok:
            self.show_error("Model pack cannot be used", info.error or "unknown error")

    @Slot()
    def rescan_packs(self) -> None:
        """Packs appeared or vanished (the packs folder watcher, the model manager): list them again."""
        self.picker.reload()
        self.fold_panel.reload_packs()

    @Slot()
    def show_about(self) -> None:
        about.show_about(self, self.picker.current_pack())

    # ---- scoring ------------------------------------------------------------------------
    @Slot()
    def score(self) -> None:
        """Validate the input and the pack, then score in the pool; errors go to a dialog."""
        if self.worker is not None:
            return
        record, pack = self._checked_record(), self.picker.current_pack()
        if record is None:
            return
        if pack is None:
            self.show_error("Cannot score", "Select a usable model pack first.")
            return
        job = make_score_job(pack.path, record, self.method.currentData(), self.cache)
        w = workers.Worker(job, name=f"score {record.id}")
        workers.connect(w, self)
        self.worker = w
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setVisible(True)
        self.statusBar().showMessage(f"Scoring {record.id} ({len(record)} residues) with "
                                     f"{pack.name}, {self.method.currentText().lower()}\u2026")
        self._update_actions()
        workers.start(w, self.pool)

    @Slot()
    def score_mutant_list(self) -> MutantListDialog | None:
        """A dialog scoring pasted mutants (app.core.mutants) from the shown record's scores."""
        if self.result is None:
            return None
        dialog = MutantListDialog(self.result, self.last_dir, self._remember_dir, self)
        dialog.show()
        return dialog

    @Slot()
    def save_embeddings(self) -> bool:
        """Embed the current record in the pool; `_on_embedded` asks where to save the .npy files."""
        record, pack = (self._checked_record() if self.worker is None else None), self.picker.current_pack()
        if record is None or pack is None:
            return False
        w = workers.Worker(make_embed_job(pack.path, record, self.cache), name=f"embed {record.id}")
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_embedded)
        w.signals.failed.connect(self._on_failed)
        w.signals.finished.connect(self._on_finished)
        self.worker = w
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self._update_actions()
        workers.start(w, self.pool)
        return True

    @Slot(object)
    def _on_embedded(self, result: EmbedResult, out_dir: str | None = None) -> list:
        """Show the contact map beside the PAE; write `python -m app embed`'s files into a folder."""
        emb = result.embedding
        if emb.contacts is not None:
            self.fold_panel.contacts.set_contacts(emb.contacts, result.record.id)
            self.fold_dock.show()
        if out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Save embeddings (.npy) in folder", self.last_dir())
        if not out_dir:
            return []
        try:
            paths = write_embedding_files(out_dir, safe_stem(result.record.id), result.record.id,
                                          result.record.sequence, emb, result.provenance)
        except OSError as e:
            self.show_error("Save failed", f"{out_dir}: {e}")
            return []
        self.settings.setValue("paths/last_dir", str(out_dir))
        self.statusBar().showMessage(f"Saved {len(paths)} embedding files of {result.record.id} to {out_dir}", 8000)
        return paths

    def _checked_record(self) -> Record | None:
        """The editor's current record, or None after a dialog saying what is wrong."""
        try:
            self.editor.parse()
        except FastaError as e:
            self.show_error("Invalid sequence", str(e))
            return None
        self.editor.validate()
        record = self.editor.current_record()
        if record is None:
            self.show_error("No sequence", "Enter a protein sequence first.")
        return record

    @Slot()
    def fold(self) -> None:
        self.fold_dock.show()
        self.fold_panel.fold()

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.statusBar().showMessage("Cancelling after the current batch\u2026")

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total > 0 else 0)
        if message:
            self.statusBar().showMessage(message)

    @Slot(object)
    def _on_result(self, result: ScoreResult) -> None:
        self.result = result
        method = self.method.itemText(max(0, self.method.findData(result.method)))
        self.results.set_scores(result.record.sequence, result.scores,
                                f"Scores of {result.record.id} ({len(result.record)} aa)",
                                f"{method.lower()}, {result.pack_name}")
        self._on_record_changed(self.editor.current_record())
        self._update_link()
        self.statusBar().showMessage(
            f"Scored {len(self.results.model.substitutions())} substitutions of "
            f"{result.record.id} with {result.pack_name} in {result.seconds:.1f} s")

    @Slot(object)
    def _on_record_changed(self, record: Record | None) -> None:
        """Label the scores as another record's once the editor shows a different one."""
        if self.result is None:
            return
        same = record is not None and record.id == self.result.record.id and \
            record.sequence == self.result.record.sequence
        self.results.set_current_record(None if same else (record.id if record else "no valid record"))

    def scores_linked_to_structure(self) -> bool:
        """The heatmap marks residues in the 3D view only when both show the same sequence."""
        outcome = self.fold_panel.outcome
        return self.result is not None and outcome is not None and \
            outcome.record.sequence == self.result.record.sequence

    def _update_link(self, *_) -> None:
        """Say on the results whether a click there marks the residue in the 3D view."""
        outcome = self.fold_panel.outcome
        if self.result is None or outcome is None:
            self.results.set_link_text("", True)
        elif self.scores_linked_to_structure():
            self.results.set_link_text(f"\u21c4 Linked to the structure of {outcome.record.id} (same "
                                       f"sequence): a click marks the residue in the 3D view.", True)
        else:
            self.results.set_link_text(f"Not linked: the structure is of {outcome.record.id} "
                                       f"({len(outcome.record)} aa), these scores are of "
                                       f"{self.result.record.id}. Fold this record to link them.", False)

    @Slot(int)
    def _on_residue_clicked(self, index0: int) -> None:
        if self.scores_linked_to_structure():
            self.fold_panel.highlight_residue(index0)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        title, text = user_message(exc)
        self.statusBar().showMessage(title)
        details = "" if is_user_error(exc) or self.worker is None else self.worker.traceback
        self.cache.clear()  # a broken pack or session must be reloaded next time
        self.show_error(title, text, details)

    @Slot()
    def _on_cancelled(self) -> None:
        self.statusBar().showMessage("Scoring cancelled", 5000)

    @Slot()
    def _on_finished(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self._update_actions()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.worker is not None:
            self.worker.cancel()
            self.pool.waitForDone(10_000)
        self.fold_panel.shutdown()
        self._save_settings()
        super().closeEvent(event)


def main(self_test: str | None = None) -> int:
    """Create the application, route uncaught errors to dialogs, show the window, run (with
    `self_test`, a folder: app.ui.self_test drives the window once, then quits)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepare_webengine()  # must precede the QApplication
    app = QApplication.instance() or QApplication(sys.argv)
    app.setOrganizationName("EdgeFold")
    app.setApplicationName("EdgeFold")
    install_excepthooks(app)
    window = MainWindow()
    window.show()
    if self_test:
        from app.ui.self_test import start_self_test  # noqa: PLC0415

        start_self_test(window, self_test)
    return app.exec()
