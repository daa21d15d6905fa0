"""Score a mutant list ("A23G:K40R" lines, CSV with a `mutant` column) from the shown score matrix."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QLabel, QPlainTextEdit, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.core.mutants import MutantError, parse_mutant, parse_mutant_text
from app.core.outputs import safe_stem, write_scores_csv
from app.core.scoring import ScoreMatrix, score_mutants
from app.ui.errors import show_error
from app.ui.scoring_job import ScoreResult


def score_mutant_text(result: ScoreResult, text: str) -> list[tuple[str, float]]:
    """(code, score) per mutant of `text` (app.core.mutants), additive over the record's matrix;
    MutantError names the first code that does not fit the record (wild type, position)."""
    codes = parse_mutant_text(text)
    if not codes:
        raise MutantError("no mutant codes found (one per line, e.g. A23G or A23G:K40R)", text[:40])
    for code in codes:
        parse_mutant(code, result.record.sequence)
    matrix = ScoreMatrix(result.record.sequence, np.asarray(result.scores, dtype=np.float32), result.method)
    return list(zip(codes, (float(s) for s in score_mutants(matrix, codes))))


class MutantListDialog(QDialog):
    """Paste mutants, press Score; the table shows each code's score; Save CSV writes the CLI's CSV."""

    def __init__(self, result: ScoreResult, last_dir: Callable[[], str], remember_dir: Callable[[Path], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result, self._last_dir, self._remember = result, last_dir, remember_dir
        self.rows: list[tuple[str, float]] = []
        self.setWindowTitle(f"Score a mutant list \u2014 {result.record.id}")
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText("One mutant per line (1-based), e.g.\nA23G\nA23G:K40R")
        self.note = QLabel(f"Scores of {result.record.id} ({result.method}, {result.pack_name}); a multi-mutant "
                           f"is the sum of its single log-ratios; one at a non-standard residue is not scored.")
        self.note.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["mutant", "score"])
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.score_button = buttons.addButton("Score", QDialogButtonBox.ActionRole)
        self.save_button = buttons.addButton("Save CSV\u2026", QDialogButtonBox.ActionRole)
        self.save_button.setEnabled(False)
        self.score_button.clicked.connect(self.score)
        self.save_button.clicked.connect(lambda: self.save())
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (self.note, self.edit, self.table, buttons):
            layout.addWidget(w)
        self.resize(520, 560)

    @Slot()
    def score(self) -> bool:
        try:
            self.rows = score_mutant_text(self.result, self.edit.toPlainText())
        except MutantError as e:
            show_error(self, "Cannot score the mutant list", f"record {self.result.record.id!r}: {e}")
            return False
        self.table.setRowCount(len(self.rows))
        for r, (code, score) in enumerate(self.rows):
            self.table.setItem(r, 0, QTableWidgetItem(code))
            item = QTableWidgetItem(f"{score:+.4f}" if np.isfinite(score) else "not scored")
            item.setData(Qt.UserRole, score)
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.table.setItem(r, 1, item)
        self.save_button.setEnabled(bool(self.rows))
        return True

    def save(self, path: str | Path | None = None) -> Path | None:
        """The CLI's `score --mutants` CSV (+ provenance sidecar) of the scored list."""
        if path is None:
            start = Path(self._last_dir()) / f"{safe_stem(self.result.record.id)}_mutants.csv"
            path, _ = QFileDialog.getSaveFileName(self, "Save mutant scores as CSV", str(start),
                                                  "CSV files (*.csv);;All files (*)")
            if not path:
                return None
        try:
            write_scores_csv(path, [(self.result.record.id, c, s) for c, s in self.rows], self.result.provenance)
        except OSError as e:
            show_error(self, "Save failed", f"{path}: {e}")
            return None
        self._remember(Path(path))
        return Path(path)
