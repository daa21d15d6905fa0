"""Sequence input: FASTA or a bare sequence, live validation and a record selector."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.core.fasta import FastaError, Record, parse_fasta

VALIDATE_DELAY_MS = 200
ERROR_STYLE = "color: #b00020;"
OK_STYLE = "color: palette(mid);"
PASTED = "input"  # FastaError messages start with the source: "input: record 'x': ..."


class SequenceEditor(QWidget):
    """Plain-text editor whose content is parsed (debounced) into FASTA records."""

    recordChanged = Signal(object)  # the selected Record, or None when the input is invalid/empty
    validityChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[Record] = []
        self._error = ""
        self._source = PASTED
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText(
            "Paste a protein sequence or FASTA here, or drop a FASTA file on the window.\n\n"
            ">my_protein\nMKTAYIAKQRQISFVKSHFSRQ\nLEERLGLIEVQAPILSRVGDGT")
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.edit.setAcceptDrops(False)  # files dropped here go to the window (File > Open path)
        self.edit.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        self.records = QComboBox()
        self.records.setToolTip("Record to score")
        self.records.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.records)
        layout.addWidget(self.status)
        self._timer = QTimer(self, singleShot=True, interval=VALIDATE_DELAY_MS)
        self._timer.timeout.connect(self.validate)
        self.edit.textChanged.connect(self._on_text_edited)
        self.records.currentIndexChanged.connect(self._on_record_selected)
        self.validate()

    def set_text(self, text: str, source: str = "") -> None:
        """Replace the content (e.g. a file's text); validation runs at once."""
        self.edit.setPlainText(text)
        self._source = source or PASTED
        self._timer.stop()
        self.validate()

    @Slot()
    def _on_text_edited(self) -> None:
        self._source = PASTED  # once edited, the text is no longer the opened file's
        self._timer.start()

    def text(self) -> str:
        return self.edit.toPlainText()

    def error(self) -> str:
        """The current validation error ('' when the input is valid or empty)."""
        return self._error

    def current_record(self) -> Record | None:
        row = self.records.currentIndex()
        return self._records[row] if 0 <= row < len(self._records) else None

    def parse(self) -> list[Record]:
        """Parse the text now; raises FastaError (record id, position, character)."""
        return parse_fasta(self.text(), source=self._source)

    @Slot()
    def validate(self) -> None:
        """Parse the text, refresh the record selector and the message below the editor."""
        self._timer.stop()
        previous = self.current_record()
        if not self.text().strip():
            self._records, self._error = [], ""
            self._show("", OK_STYLE)
        else:
            try:
                self._records, self._error = self.parse(), ""
            except FastaError as e:
                self._records, self._error = [], str(e)
                self._show(f"\u26a0 {self._error}", ERROR_STYLE)
        self._fill_selector(previous)
        self.validityChanged.emit(bool(self._records))

    def _fill_selector(self, previous: Record | None) -> None:
        self.records.blockSignals(True)
        self.records.clear()
        for r in self._records:
            self.records.addItem(f"{r.id}  ({len(r)} aa)  {r.description}"[:120])
        ids = [r.id for r in self._records]
        self.records.setCurrentIndex(ids.index(previous.id) if previous and previous.id in ids else 0)
        self.records.blockSignals(False)
        self.records.setVisible(len(self._records) > 1)
        self._on_record_selected(self.records.currentIndex())

    @Slot(int)
    def _on_record_selected(self, row: int) -> None:
        record = self.current_record()
        if record is not None:
            many = f"{len(self._records)} records; " if len(self._records) > 1 else ""
            self._show(f"\u2713 {many}{record.id}: {len(record)} residues", OK_STYLE)
        self.recordChanged.emit(record)

    def _show(self, text: str, style: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style)
