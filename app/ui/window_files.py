"""The main window's file side: open / drop FASTA, export CSV, remembered last folder (a mixin)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from app.core.fasta import FastaError, read_fasta_text
from app.core.outputs import safe_stem
from app.ui.csv_export import export_csv
from app.ui.mutations import substitutions

MAX_FILE_BYTES = 50 * 1024 * 1024
FASTA_FILTER = "FASTA files (*.fasta *.fa *.faa *.fas *.txt);;All files (*)"


class WindowFilesMixin:
    """Needs `settings`, `editor`, `result`, `results`, `show_error` and `statusBar()` on the window."""

    def last_dir(self) -> str:
        """The folder of the user's last opened or saved file (never a pack folder)."""
        return str(self.settings.value("paths/last_dir", str(Path.home())))

    def last_pack_dir(self) -> str:
        return str(self.settings.value("paths/last_pack_dir", self.last_dir()))

    def _remember_dir(self, path: str | Path) -> None:
        self.settings.setValue("paths/last_dir", str(Path(path).parent))

    @Slot()
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open FASTA", self.last_dir(), FASTA_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Load a FASTA file into the editor; a dialog explains an unreadable or invalid file."""
        path = Path(path)
        try:  # the CLI's messages: a directory, not a regular file, empty, not text (byte offset)
            text = read_fasta_text(path, max_bytes=MAX_FILE_BYTES)
        except FastaError as e:  # the editor keeps its text
            self.show_error("Cannot open file", str(e))
            return False
        self._remember_dir(path)
        self.editor.set_text(text, source=str(path))
        self.statusBar().showMessage(f"Opened {path}", 5000)
        if self.editor.error():
            self.show_error("Invalid FASTA file", self.editor.error())
            return False
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if any(u.isLocalFile() for u in mime.urls()) or mime.hasText():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if files:
            self.open_path(files[0])
        elif mime.hasText():
            self.editor.set_text(mime.text())
        event.acceptProposedAction()

    @Slot()
    def export_csv(self) -> None:
        if self.result is None:
            return
        name = f"{safe_stem(self.result.record.id)}_{self.result.method}.csv"  # sp|P1|X -> sp_P1_X
        path, _ = QFileDialog.getSaveFileName(self, "Export scores as CSV",
                                              str(Path(self.last_dir()) / name),
                                              "CSV files (*.csv);;All files (*)")
        if not path:
            return
        try:
            export_csv(path, substitutions(self.result.record.sequence, self.result.scores),
                       self.result.record.id, self.result.provenance)
        except OSError as e:
            self.show_error("Export failed", f"{path}: {e}")
            return
        self._remember_dir(path)
        self.statusBar().showMessage(f"Exported {len(self.results.model.substitutions())} "
                                     f"substitutions to {path} (provenance: {path}.json)", 8000)
