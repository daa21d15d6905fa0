"""The CLI's mutant lists, embeddings and contact maps in the GUI, with a real tiny pack."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from app.core.embedding import embed_sequence
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
from app.ui.main_window import MainWindow
from app.ui.mutations import AMINO_ACIDS

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    pytest.importorskip("torch")
    from exporter.testing import make_tiny_pack

    return make_tiny_pack(tmp_path_factory.mktemp("tiny") / "tiny_fp32", scheme="fp32", seed=0)


@pytest.fixture
def window(qtbot, settings, packs_dir, tiny_pack):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    assert w.picker.add_folder(tiny_pack).ok
    w.editor.set_text(f">sp|P1|DEMO\n{SEQ}\n")
    yield w
    w.pool.waitForDone(10_000)


def test_mutant_list_scores_through_app_core_mutants(window, qtbot, tmp_path, captured_errors):
    assert not window.mutants_act.isEnabled()
    with qtbot.waitSignal(window.results.model.modelReset, timeout=60_000):
        window.score()
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    dialog = window.score_mutant_list()
    dialog.edit.setPlainText("K2R\nK2R:T3A\n")
    assert dialog.score()
    s = window.result.scores
    k2r, t3a = s[1, AMINO_ACIDS.index("R")], s[2, AMINO_ACIDS.index("A")]
    assert [c for c, _ in dialog.rows] == ["K2R", "K2R:T3A"]
    np.testing.assert_allclose([v for _, v in dialog.rows], [k2r, k2r + t3a], rtol=1e-6)
    assert dialog.table.item(1, 1).data(Qt.UserRole) == pytest.approx(k2r + t3a, rel=1e-6)
    out = dialog.save(tmp_path / "m.csv")
    with open(out, newline="") as f:
        assert [r["mutant"] for r in csv.DictReader(f)] == ["K2R", "K2R:T3A"]
    assert json.loads((tmp_path / "m.csv.json").read_text())["provenance"]["method"] == "wt-marginal"
    dialog.edit.setPlainText("A2G")  # wild type at 2 is K
    assert not dialog.score() and "'sp|P1|DEMO'" in captured_errors[-1][1] and "'K'" in captured_errors[-1][1]


def test_embeddings_are_saved_as_npy_and_the_contact_map_is_shown(window, qtbot, tiny_pack, tmp_path, monkeypatch,
                                                                 captured_errors):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    assert window.embed_act.isEnabled()
    window.embed_act.trigger()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60_000)
    assert captured_errors == []
    expected = embed_sequence(Esm2Runtime(load_pack(tiny_pack)), SEQ, contacts=True)
    np.testing.assert_allclose(np.load(tmp_path / "sp_P1_DEMO.per_residue.npy"), expected.per_residue, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "sp_P1_DEMO.mean.npy"), expected.mean, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "sp_P1_DEMO.contacts.npy"), expected.contacts, atol=1e-5)
    side = json.loads((tmp_path / "sp_P1_DEMO.json").read_text())
    assert side["id"] == "sp|P1|DEMO" and side["provenance"]["method"] == "embedding + contacts"
    view = window.fold_panel.contacts
    assert not view.isHidden() and view.image().width() == len(SEQ) and "sp|P1|DEMO" in view.caption.text()
