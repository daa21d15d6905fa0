"""Heatmap pixel <-> cell mapping."""
import pytest

from app.ui.heatmap_geometry import HeatmapGeometry, label_step


def geom(**kw):
    base = dict(n_residues=30, left=20, top=30, cell_w=10.0, row_h=12.0)
    base.update(kw)
    return HeatmapGeometry(**base)


def test_cell_at_maps_pixels_to_residue_and_amino_acid():
    g = geom()
    assert g.cell_at(20, 30) == (0, 0)
    assert g.cell_at(29.9, 41.9) == (0, 0)
    assert g.cell_at(30, 42) == (1, 1)
    assert g.cell_at(20 + 10 * 29 + 9, 30 + 12 * 19 + 11) == (29, 19)


def test_gutters_and_beyond_the_data_are_not_cells():
    g = geom()
    assert g.cell_at(19, 100) is None  # amino-acid label gutter
    assert g.cell_at(100, 29) is None  # position label gutter
    assert g.cell_at(20 + 10 * 30, 50) is None  # right of the last residue
    assert g.cell_at(50, 30 + 12 * 20) is None  # below the last amino acid


def test_scrolling_shifts_the_mapping_but_not_the_gutters():
    g = geom(scroll_x=55, scroll_y=24)
    assert g.cell_at(20, 30) == (5, 2)  # 55 px = 5.5 columns, 24 px = 2 rows
    assert g.cell_at(24, 30) == (5, 2)
    assert g.cell_at(25, 30) == (6, 2)
    assert g.cell_at(10, 30) is None
    x, y, w, h = g.cell_rect(6, 2)
    assert (x, y, w, h) == (25, 30, 10.0, 12.0)


def test_visible_columns():
    g = geom(scroll_x=55)
    assert g.visible_columns(viewport_w=20 + 40) == (5, 10)
    assert geom(n_residues=3).visible_columns(500) == (0, 3)


def test_rejects_non_positive_cells():
    with pytest.raises(ValueError):
        geom(cell_w=0)


def test_label_step_keeps_numbers_apart():
    assert label_step(40.0, 36) == 1
    assert label_step(10.0, 36) == 5
    assert label_step(1.0, 36) == 50
    assert label_step(0.1, 36) == 500
