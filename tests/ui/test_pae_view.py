"""PAE widget: geometry hit-testing and the hover read-out under the mouse."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.ui.pae_view import PaeGeometry, PaeView


def test_geometry_maps_pixels_to_row_and_column() -> None:
    g = PaeGeometry(n=10, x0=20.0, y0=30.0, side=100.0)
    assert g.cell_at(20.0, 30.0) == (0, 0)
    assert g.cell_at(20.0 + 35.0, 30.0 + 91.0) == (9, 3)  # y picks the row, x the column
    assert g.cell_at(119.9, 129.9) == (9, 9)
    for x, y in ((19.9, 50.0), (120.0, 50.0), (50.0, 29.0), (50.0, 130.0)):
        assert g.cell_at(x, y) is None
    assert PaeGeometry(0, 0.0, 0.0, 100.0).cell_at(1.0, 1.0) is None


@pytest.fixture
def view(qtbot):
    v = PaeView()
    qtbot.addWidget(v)
    v.resize(420, 360)
    v.show()
    qtbot.waitExposed(v)
    rng = np.random.default_rng(3)
    v.set_pae(rng.uniform(0.0, 31.0, (12, 12)))
    return v


def test_hover_reads_out_the_cell_under_the_mouse(view, qtbot) -> None:
    g = view.geometry_model()
    assert g.side > 100
    texts = []
    view.hoverTextChanged.connect(texts.append)
    i, j = 7, 2
    point = QPoint(round(g.x0 + g.center(j)), round(g.y0 + g.center(i)))
    QTest.mouseMove(view, point)
    qtbot.waitUntil(lambda: bool(texts))
    assert texts[-1] == f"residue {i + 1} vs {j + 1}: {view.pae()[i, j]:.1f} \u00c5"
    QTest.mouseMove(view, QPoint(2, 2))  # the axis gutter: no cell
    qtbot.waitUntil(lambda: texts[-1] == "")


def test_pae_must_be_square(view) -> None:
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        view.set_pae(np.zeros((3, 4)))


def test_select_residue_ignores_out_of_range(view) -> None:
    view.select_residue(4)
    assert view._selected == 4
    view.select_residue(12)
    assert view._selected is None
