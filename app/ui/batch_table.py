"""Table model of a batch's items: record, task, length, status (with the running step), pLDDT, pTM, time."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from app.core.batch_queue import CANCELLED, DONE, FAILED, RUNNING, Batch

COLUMNS = ("Record", "Task", "Length", "Status", "Mean pLDDT", "pTM", "Time (s)", "Reason / outputs")
STATUS_COLUMN = COLUMNS.index("Status")
STATUS_COLOURS = {DONE: "#1b7f3b", FAILED: "#b00020", CANCELLED: "#7a7a7a", RUNNING: "#1f4fb4"}

Index = QModelIndex | QPersistentModelIndex


class BatchTableModel(QAbstractTableModel):
    """One row per batch item, in queue order; `refresh_row` after the controller changes one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.batch: Optional[Batch] = None
        self.step = ""  # the running record's progress message

    def set_batch(self, batch: Optional[Batch]) -> None:
        self.beginResetModel()
        self.batch, self.step = batch, ""
        self.endResetModel()

    def refresh_row(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_step(self, row: int, message: str) -> None:
        self.step = message
        self.dataChanged.emit(self.index(row, STATUS_COLUMN), self.index(row, STATUS_COLUMN))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.batch is None else len(self.batch.items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.DisplayRole):
        if not index.isValid() or self.batch is None:
            return None
        item, col = self.batch.items[index.row()], index.column()
        if role == Qt.ForegroundRole and col == STATUS_COLUMN and item.status in STATUS_COLOURS:
            return QBrush(QColor(STATUS_COLOURS[item.status]))
        if role == Qt.ToolTipRole:
            return item.error or "\n".join(item.outputs) or None
        if role == Qt.TextAlignmentRole and col in (2, 4, 5, 6):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role != Qt.DisplayRole:
            return None
        if col == STATUS_COLUMN and item.status == RUNNING and self.step:
            return f"running: {self.step}"
        values = (item.record_id, item.task, item.length or "", item.status,
                  "" if item.mean_plddt is None else f"{item.mean_plddt:.1f}",
                  "" if item.ptm is None else f"{item.ptm:.3f}",
                  "" if item.seconds is None else f"{item.seconds:.1f}",
                  item.error if item.error else ", ".join(item.outputs))
        return values[col]
