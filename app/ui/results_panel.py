"""Results: heatmap with colour bar and hover read-out above a ranked substitution table."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QSizePolicy, QSplitter,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from app.ui.colorbar import ColorBar
from app.ui.heatmap import HeatmapView
from app.ui.table_model import SCORE_COLUMN, MutationTableModel

HOVER_HINT = "Hover a cell for its mutation and score; click to select a residue; " \
             "Ctrl+wheel zooms."
NO_SCORES = "No scores yet: enter a sequence and press Score."
STALE_STYLE = "color: #b00020;"


class ResultsPanel(QWidget):
    """Shows one score matrix two ways; forwards the heatmap's residueClicked."""

    residueClicked = Signal(int)  # 0-based residue index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmap = HeatmapView()
        self.colorbar = ColorBar()
        self.title_label = QLabel(NO_SCORES)  # which record (and method, pack) the scores are of
        self.title_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.title_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # one line, clipped
        self.link_label = QLabel()  # whether a click here also marks the residue in the 3D view
        self.link_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # one line, clipped
        self.link_label.setVisible(False)
        self._title = self._detail = ""
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
        rows = self.table.verticalHeader()
        rows.setMinimumSectionSize(self.fontMetrics().height() + 2)  # the style's minimum is larger
        rows.setDefaultSectionSize(self.fontMetrics().height() + 3)
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
        grid.setSpacing(2)
        labels = QHBoxLayout()  # one row: what the scores are of, and whether they are linked to the 3D view
        labels.addWidget(self.title_label, 3)
        labels.addWidget(self.link_label, 2)
        grid.addLayout(labels)
        maps = QHBoxLayout()
        maps.addWidget(self.heatmap, 1)
        maps.addWidget(self.colorbar)
        grid.addLayout(maps, 1)
        grid.addLayout(self._zoom_buttons())
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 0)  # the heatmap keeps its height (20 rows), the table grows
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def set_scores(self, sequence: str, scores: np.ndarray, title: str = "", detail: str = "") -> None:
        """Show scores (L, 20); `title` names the record they are of, `detail` method and pack."""
        self.heatmap.set_scores(sequence, scores)
        self.colorbar.set_vmax(self.heatmap.vmax())
        self.model.set_scores(sequence, scores)
        header = self.table.horizontalHeader()
        self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.hover_label.setText(HOVER_HINT)
        self._title, self._detail = title, detail
        self.set_current_record(None)

    def title(self) -> str:
        return self.title_label.text()

    def set_current_record(self, other: str | None) -> None:
        """Say the scores are not of the editor's record `other` (None: they are)."""
        text = self._title or NO_SCORES
        if self.model.not_scored:
            k = sum(aa in "XBZUO" for aa in self.heatmap.sequence())
            text += (f" [{k} non-standard residue(s) (X, B, Z, U, O): their "
                     f"{self.model.not_scored} substitutions are not scored: grey, not ranked]")
        if self._detail:
            text += f" \u2014 {self._detail}"
        if other is not None and self._title:
            text = f"\u26a0 {text}. The editor now shows {other}: press Score to score it."
        self.title_label.setText(text)
        self.title_label.setToolTip(text)
        self.title_label.setStyleSheet(STALE_STYLE if other is not None and self._title else "")

    def set_link_text(self, text: str, linked: bool) -> None:
        """'' hides the link label; otherwise it says whether heatmap and structure are linked."""
        self.link_label.setText(text)
        self.link_label.setToolTip(text)
        self.link_label.setStyleSheet("" if linked else STALE_STYLE)
        self.link_label.setVisible(bool(text))

    @Slot(str)
    def _on_hover_text(self, text: str) -> None:
        self.hover_label.setText(text or HOVER_HINT)

    @Slot(QModelIndex)
    def _on_table_clicked(self, index: QModelIndex) -> None:
        residue = self.model.residue_at(index.row())
        self.heatmap.select_residue(residue)
        self.residueClicked.emit(residue)
