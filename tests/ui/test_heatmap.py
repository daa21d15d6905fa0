"""Heatmap widget: hover read-out from a pixel, click signal, zoom and scroll."""
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.ui.heatmap import HeatmapView
from app.ui.mutations import AMINO_ACIDS

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"  # 53 residues


@pytest.fixture
def view(qtbot):
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 2, size=(len(SEQ), 20))
    v = HeatmapView()
    qtbot.addWidget(v)
    v.resize(400, 360)
    v.show()
    qtbot.waitExposed(v)
    v.set_scores(SEQ, scores)
    v.set_cell_width(10.0)
    v.horizontalScrollBar().setValue(0)
    return v, scores


def centre(g, i, j):
    """Pixel inside cell (i, j), written from the layout constants, not from cell_rect."""
    return QPoint(int(g.left + (i - g.scroll_x / g.cell_w) * g.cell_w + 3),
                  int(g.top + j * g.row_h + 2))


def test_hover_reports_mutation_and_score(view, qtbot):
    v, scores = view
    g = v.geometry_model()
    j = AMINO_ACIDS.index("R")
    with qtbot.waitSignal(v.hoverTextChanged) as sig:
        QTest.mouseMove(v.viewport(), centre(g, 7, j))  # residue 8 is K
    assert sig.args[0] == f"K8R  score {scores[7, j]:+.3f}"


def test_hover_on_wild_type_and_outside(view, qtbot):
    v, _ = view
    g = v.geometry_model()
    with qtbot.waitSignal(v.cellHovered) as sig:
        QTest.mouseMove(v.viewport(), centre(g, 1, AMINO_ACIDS.index("K")))
    assert sig.args == [1, AMINO_ACIDS.index("K")]
    assert v.describe(1, AMINO_ACIDS.index("K")) == "K2 (wild type)"
    with qtbot.waitSignal(v.cellHovered) as sig:
        QTest.mouseMove(v.viewport(), QPoint(2, int(g.top + 5)))  # label gutter
    assert sig.args == [-1, -1]


def test_pixel_mapping_follows_horizontal_scroll(view, qtbot):
    v, scores = view
    v.horizontalScrollBar().setValue(120)  # 12 columns of 10 px
    g = v.geometry_model()
    assert g.scroll_x == 120
    assert v.cell_at(QPoint(g.left + 1, g.top + 1)) == (12, 0)
    assert v.describe(12, 0) == f"S13A  score {scores[12, 0]:+.3f}"


def test_click_emits_residue_clicked(view, qtbot):
    v, _ = view
    g = v.geometry_model()
    with qtbot.waitSignal(v.residueClicked) as sig:
        QTest.mouseClick(v.viewport(), Qt.LeftButton, Qt.NoModifier, centre(g, 12, 3))
    assert sig.args == [12]
    assert v.selected_residue() == 12


def test_zoom_keeps_anchor_and_fit_shows_whole_sequence(view):
    v, _ = view
    v.zoom_to_fit()
    g = v.geometry_model()
    assert g.content_width <= v.viewport().width() - g.left
    assert v.horizontalScrollBar().maximum() == 0
    v.set_cell_width(30.0, anchor_x=g.left + 100)
    # the residue under x = left + 100 before zooming (index 100 / old width) is still there
    old = 100 / g.cell_w
    g2 = v.geometry_model()
    assert v.cell_at(QPoint(g.left + 100, g.top + 1))[0] == int(old)
    assert g2.cell_w == 30.0 and v.horizontalScrollBar().maximum() > 0


def test_rejects_scores_of_the_wrong_shape(qtbot):
    v = HeatmapView()
    qtbot.addWidget(v)
    with pytest.raises(ValueError, match="shape"):
        v.set_scores("MKT", np.zeros((4, 20)))


def test_renders_long_sequences(qtbot):
    v = HeatmapView()
    qtbot.addWidget(v)
    v.resize(500, 360)
    v.show()
    qtbot.waitExposed(v)
    seq = (AMINO_ACIDS * 100)[:1500]
    v.set_scores(seq, np.linspace(-3, 3, 1500 * 20).reshape(1500, 20))
    v.zoom_to_fit()
    image = v.viewport().grab().toImage()
    g = v.geometry_model()
    assert g.content_width <= v.viewport().width() - g.left and g.cell_w < 1
    # a cell of the last residue is painted in colour (not the blank background)
    last = image.pixelColor(int(g.left + g.cell_w * 1499.5), int(g.top + g.row_h * 19.5))
    assert last.blue() > last.red()  # +3 is the blue end of the scale
