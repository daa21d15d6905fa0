"""Ranked substitution table: content and sorting through a QTableView."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from app.ui.mutations import AMINO_ACIDS
from app.ui.table_model import COLUMNS, MutationTableModel

SEQ = "MKTW"


@pytest.fixture
def model(qtbot):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(len(SEQ), 20))
    m = MutationTableModel()
    m.set_scores(SEQ, scores)
    return m, scores


def rows(m):
    return [[m.index(r, c).data(Qt.UserRole) for c in range(m.columnCount())]
            for r in range(m.rowCount())]


def test_one_row_per_single_substitution(model):
    m, scores = model
    assert m.columnCount() == 5 and [m.headerData(c, Qt.Horizontal) for c in range(5)] == list(COLUMNS)
    table = rows(m)
    assert len(table) == len(SEQ) * 19
    assert all(r[2] != r[3] for r in table)
    for mutant, pos, wt, mt, score in table:
        assert mutant == f"{wt}{pos}{mt}" and SEQ[pos - 1] == wt
        assert score == scores[pos - 1, AMINO_ACIDS.index(mt)]


def test_default_order_is_most_damaging_first(model):
    m, scores = model
    got = [r[4] for r in rows(m)]
    assert got == sorted(got)
    assert got[0] == min(scores[i, j] for i in range(4) for j in range(20) if SEQ[i] != AMINO_ACIDS[j])


def test_view_sorting(model, qtbot):
    m, _ = model
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(m)
    view.setSortingEnabled(True)
    view.sortByColumn(4, Qt.DescendingOrder)
    got = [r[4] for r in rows(m)]
    assert got == sorted(got, reverse=True)
    view.sortByColumn(1, Qt.AscendingOrder)
    table = rows(m)
    assert [(r[1], r[3]) for r in table] == sorted((r[1], r[3]) for r in table)
    assert table[0][0] == "M1A" and table[-1][0] == "W4Y"
    view.sortByColumn(3, Qt.DescendingOrder)
    assert rows(m)[0][3] == "Y"


def test_display_text_and_residue_lookup(model):
    m, scores = model
    m.sort(1, Qt.AscendingOrder)
    assert m.index(0, 4).data() == f"{scores[0, 0]:+.4f}"  # M1A
    assert m.index(0, 0).data() == "M1A"
    assert m.residue_at(19) == 1  # rows 0..18 are position 1 (19 substitutions)
