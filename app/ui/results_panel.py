"""Results: heatmap with colour bar and hover read-out above a ranked substitution table."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QSplitter,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from app.ui.colorbar import ColorBar
from app.ui.heatmap import HeatmapView
from app.ui.table_model import SCORE_COLUMN, MutationTableModel

HOVER_HINT = "Hover a cell for its mutation and score; click to select a residue; " \
             "Ctrl+wheel zooms."


class ResultsPanel(QWidget):
    """Shows one score matrix two ways; forwards the heatmap's residueClicked."""

    residueClicked = Signal(int)  # 0-based residue index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmap = HeatmapView()
        self.colorbar = ColorBar()
        self.hover_label = QLabel(HOVER_HINT)
        self.hover_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.model = MutationTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SCORE_COLUMN, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Stretch)
        for column in (1, 2, 3):  # position, wt, mt: narrow
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.clicked.connect(self._on_table_clicked)
        self.heatmap.hoverTextChanged.connect(self._on_hover_text)
        self.heatmap.residueClicked.connect(self.residueClicked)
        self._build_layout()

    def _zoom_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        for text, tip, slot in (("\u2212", "Zoom out (Ctrl+-)", self.heatmap.zoom_out),
                                ("+", "Zoom in (Ctrl++)", self.heatmap.zoom_in),
                                ("Fit", "Fit the whole sequence (Ctrl+0)", self.heatmap.zoom_to_fit)):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            row.addWidget(b)
        row.addWidget(self.hover_label, 1)
        return row

    def _build_layout(self) -> None:
        top = QWidget()
        grid = QVBoxLayout(top)
        grid.setContentsMargins(0, 0, 0, 0)
        maps = QHBoxLayout()
        maps.addWidget(self.heatmap, 1)
        maps.addWidget(self.colorbar)
        grid.addLayout(maps, 1)
        grid.addLayout(self._zoom_buttons())
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def set_scores(self, sequence: str, scores: np.ndarray) -> None:
        self.heatmap.set_scores(sequence, scores)
        self.colorbar.set_vmax(self.heatmap.vmax())
        self.model.set_scores(sequence, scores)
        header = self.table.horizontalHeader()
        self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.hover_label.setText(HOVER_HINT)

    @Slot(str)
    def _on_hover_text(self, text: str) -> None:
        self.hover_label.setText(text or HOVER_HINT)

    @Slot(QModelIndex)
    def _on_table_clicked(self, index: QModelIndex) -> None:
        residue = self.model.residue_at(index.row())
        self.heatmap.select_residue(residue)
        self.residueClicked.emit(residue)
