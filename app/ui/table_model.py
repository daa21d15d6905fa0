"""Sortable table model of all single substitutions: mutant, position, wt, mt, score."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.ui.mutations import Substitutions, substitutions

COLUMNS = ("mutant", "position", "wt", "mt", "score")
SCORE_COLUMN = COLUMNS.index("score")

Index = QModelIndex | QPersistentModelIndex


class MutationTableModel(QAbstractTableModel):
    """Rows are single substitutions; sorting permutes a row order array (no copies of data)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._subs = substitutions("", np.zeros((0, 20)))
        self._order = np.zeros(0, dtype=np.int64)  # view row -> substitution row
        self.not_scored = 0

    def set_scores(self, sequence: str, scores: np.ndarray) -> None:
        """Replace the content; the initial order is by score, most damaging first. Substitutions
        that were not scored (NaN: non-standard wild type) are not rows; `not_scored` counts them."""
        self.beginResetModel()
        subs = substitutions(sequence, scores)
        keep = np.isfinite(subs.score)
        self.not_scored = int((~keep).sum())
        self._subs = Substitutions(subs.position0[keep], subs.wt[keep], subs.mt[keep], subs.score[keep])
        self._order = np.argsort(self._subs.score, kind="stable")
        self.endResetModel()

    def substitutions(self) -> Substitutions:
        return self._subs

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Vertical and role == Qt.DisplayRole:
            return section + 1  # rank
        return None

    def value(self, row: int, column: int):
        """Raw value of a cell (str, int 1-based position or float score) in view order."""
        k = int(self._order[row])
        s = self._subs
        return (s.mutant(k), int(s.position0[k]) + 1, str(s.wt[k]), str(s.mt[k]),
                float(s.score[k]))[column]

    def data(self, index: Index, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.DisplayRole:
            v = self.value(index.row(), index.column())
            return f"{v:+.4f}" if index.column() == SCORE_COLUMN else v
        if role == Qt.UserRole:  # raw value, for tests and delegates
            return self.value(index.row(), index.column())
        if role == Qt.TextAlignmentRole and index.column() in (1, SCORE_COLUMN):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def residue_at(self, row: int) -> int:
        """0-based residue index of a view row."""
        return int(self._subs.position0[self._order[row]])

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        s = self._subs
        keys = {
            0: (s.mt, s.position0),  # mutant: by position, then mutant letter
            1: (s.mt, s.position0),
            2: (s.position0, s.wt),
            3: (s.position0, s.mt),
            4: (s.score,),
        }[column]
        self.layoutAboutToBeChanged.emit()
        order_idx = np.lexsort(keys)  # last key is primary
        if order == Qt.DescendingOrder:
            order_idx = order_idx[::-1]
        self._order = np.ascontiguousarray(order_idx)
        self.layoutChanged.emit()
