"""3D view without WebEngine (offscreen): lazy, still tracks structure and highlight; heatmap clicks reach it."""
from __future__ import annotations

import numpy as np
import pytest

from app.ui.main_window import MainWindow
from app.ui.structure_html import highlight_js
from app.ui.structure_view import DISABLE_ENV, StructureView, webengine_unavailable_reason
from test_structure_html import pdb_with_plddt  # tests/ui is on sys.path (no __init__.py)


def test_offscreen_never_starts_webengine(qtbot) -> None:
    assert "offscreen" in webengine_unavailable_reason()
    view = StructureView()
    qtbot.addWidget(view)
    view.set_structure(pdb_with_plddt([95.0, 60.0, 30.0]))
    assert view.web_view() is None
    assert len(view.residues()) == 3 and "3Dmol-min.js" in view.html()
    assert "3 residues loaded" in view.placeholder.text()


def test_environment_switch_disables_webengine(monkeypatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert DISABLE_ENV in webengine_unavailable_reason()


def test_highlight_clamps_to_the_structure(qtbot) -> None:
    view = StructureView()
    qtbot.addWidget(view)
    view.set_structure(pdb_with_plddt([90.0] * 5, first=10))
    seen = []
    view.residueHighlighted.connect(seen.append)
    view.highlight_residue(4)
    assert view.last_js == highlight_js(view.residues()[4]) and '"resi": 14' in view.last_js
    view.highlight_residue(5)  # past the end: cleared
    assert view.last_js == highlight_js(None) and seen == [4, -1]


@pytest.fixture
def window(qtbot, settings, packs_dir):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    return w


def test_heatmap_click_highlights_the_residue_in_3d_and_on_the_pae(window, qtbot) -> None:
    from types import SimpleNamespace

    from app.core.fasta import Record
    from app.ui.scoring_job import ScoreResult

    panel = window.fold_panel
    panel.show_structure(pdb_with_plddt([95.0, 80.0, 60.0, 30.0]), "test", np.full((4, 4), 5.0))
    record = Record("p", "", "MKTA")  # the heatmap links to the 3D view only for the folded sequence
    panel.outcome = SimpleNamespace(record=record)
    window._on_result(ScoreResult(record, "wt-marginal", "tiny", np.zeros((4, 20), np.float32), 0.1, None))
    window.results.heatmap.resize(600, 400)
    window.results.residueClicked.emit(2)
    assert panel.viewer.highlighted() == 2
    assert panel.viewer.last_js == highlight_js(panel.viewer.residues()[2])
    assert panel.pae._selected == 2


def test_fold_action_lives_in_the_run_menu(window) -> None:
    assert window.fold_act.isEnabled() and window.fold_act.shortcut().toString() == "Ctrl+Shift+F"
    assert window.fold_dock.widget() is window.fold_panel
