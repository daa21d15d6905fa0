"""The desktop app as a biologist uses it: which record the results are of, heatmap <-> 3D link
only for the same sequence, not-scored residues, file errors, safe names and folders, provenance."""
from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from app.core.fasta import Record
from app.core.outputs import write_scores_csv
from app.core.provenance import Provenance
from app.ui.colormap import scored_limit
from app.ui.main_window import MainWindow
from app.ui.mutations import substitutions
from app.ui.scoring_job import ScoreResult

A = Record("recA", "", "MKTAYIAKQRQISFVKSHFSRQ")
B = Record("sp|P0A7V0|RS2_ECOLI", "", "GSHMLEDPVDAFQEMLQWAXCRKH" * 3)  # 72 aa, X at 20, 44, 68


@pytest.fixture
def window(qtbot, settings, packs_dir):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    yield w
    w.pool.waitForDone(5000)


def _scores(record: Record, seed: int = 0) -> np.ndarray:
    s = np.random.default_rng(seed).normal(size=(len(record), 20))
    s[[i for i, aa in enumerate(record.sequence) if aa == "X"]] = np.nan  # as app.core.scoring
    return s


def _show(window, record: Record, provenance=None) -> None:
    window._on_result(ScoreResult(record, "wt-marginal", "tiny", _scores(record), 0.1, provenance))


def _fold(window, record: Record) -> None:
    window.fold_panel.outcome = SimpleNamespace(record=record)
    window.fold_panel.outcomeChanged.emit(window.fold_panel.outcome)


def test_heatmap_marks_the_3d_residue_only_for_the_same_sequence(window, monkeypatch):
    marked = []
    monkeypatch.setattr(window.fold_panel, "highlight_residue", marked.append)
    _fold(window, A)
    _show(window, B)
    label = window.results.link_label
    assert not label.isHidden() and "Not linked" in label.text() and "recA" in label.text()
    window.results.residueClicked.emit(3)
    window.results.residueClicked.emit(60)  # beyond A's length
    assert marked == []  # was: A's residue 4 marked for B's click
    _fold(window, Record("foldedB", "", B.sequence))
    assert "Linked" in label.text() and "foldedB" in label.text()
    window.results.residueClicked.emit(60)
    assert marked == [60]


def test_results_say_which_record_they_are_of_and_when_it_is_no_longer_shown(window):
    window.editor.set_text(f">{B.id}\n{B.sequence}\n>other\nMKT\n")
    _show(window, B)
    title = window.results.title_label
    assert B.id in title.text() and "\u26a0" not in title.text()
    window.editor.records.setCurrentIndex(1)  # pick another record
    assert "\u26a0" in title.text() and "other" in title.text() and B.id in title.text()
    window.editor.records.setCurrentIndex(0)
    assert "\u26a0" not in title.text()
    window.editor.set_text(">z\nGGG\n")  # open another file / paste
    assert "\u26a0" in title.text() and "z" in title.text()


def test_nonstandard_residues_are_grey_not_ranked_and_said(window, tmp_path):
    scores = _scores(B)
    scores[0, 3] = 40.0  # one outlier
    window.results.set_scores(B.sequence, scores, "Scores of B")
    assert window.results.model.rowCount() == (72 - 3) * 19  # X rows are not in the ranked table
    assert all(np.isfinite(window.results.model.value(r, 4)) for r in range(window.results.model.rowCount()))
    assert "3 non-standard residue(s)" in window.results.title_label.text()
    assert "60 substitutions are not scored" in window.results.title_label.text()
    assert window.results.heatmap.vmax() < 5  # 1st/99th percentile of the scored cells
    assert "not scored" in window.results.heatmap.describe(19, 0)
    assert scored_limit("AX", np.array([[0.0] + [1.0] * 19, [np.nan] * 20])) == 1.0


def test_empty_and_binary_files_get_the_cli_messages(window, tmp_path, captured_errors):
    window.editor.set_text(">keep\nMKT\n")
    empty, binary = tmp_path / "empty.fasta", tmp_path / "blob.fasta"
    empty.write_bytes(b"\n \n")
    binary.write_bytes(b">x\nMK\xff\xfe\x00\x01")
    assert window.open_path(empty) is False and window.open_path(binary) is False
    assert "empty file" in captured_errors[0][1] and str(empty) in captured_errors[0][1]
    assert "not a text FASTA file" in captured_errors[1][1] and "UnicodeDecodeError" not in captured_errors[1][1]
    assert window.editor.text() == ">keep\nMKT\n"  # the editor keeps its text


def test_export_is_the_cli_csv_with_provenance_safe_name_in_the_users_folder(window, tmp_path, make_pack,
                                                                          monkeypatch):
    docs, pack = tmp_path / "docs", make_pack(tmp_path / "mypack", name="mypack")
    docs.mkdir()
    window.settings.setValue("paths/last_dir", str(docs))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(pack)))
    window.add_pack_act.trigger()
    prov = Provenance.of_pack(pack, "wt-marginal")
    _show(window, B, prov)
    asked = []
    out = docs / "out.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, *a: asked.append(start) or (str(out), "")))
    window.export_csv()
    assert asked == [str(docs / "sp_P0A7V0_RS2_ECOLI_wt-marginal.csv")]  # was: the pack folder, sp|P0A7V0|...
    subs = substitutions(B.sequence, window.result.scores)
    write_scores_csv(tmp_path / "cli.csv", [(B.id, subs.mutant(k), subs.score[k]) for k in range(len(subs))], prov)
    assert out.read_bytes() == (tmp_path / "cli.csv").read_bytes()
    with open(out, newline="") as f:
        assert not any(r["mutant"].startswith("X") for r in csv.DictReader(f))
    side = json.loads((docs / "out.csv.json").read_text())
    assert side["provenance"] == prov.as_dict() and side["records"] == [B.id] and side["not_scored"] == 60


def test_structure_save_suggests_a_safe_name(window, tmp_path, monkeypatch):
    window.settings.setValue("paths/last_dir", str(tmp_path))
    window.fold_panel.outcome = SimpleNamespace(record=B, pdb="END\n", cif="data_x\n")
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, *a: asked.append(start) or ("", "")))
    window.fold_panel.save("pdb")
    assert asked == [str(tmp_path / "sp_P0A7V0_RS2_ECOLI.pdb")]


def test_gui_structure_files_record_provenance(tmp_path_factory):
    pytest.importorskip("torch")
    import hashlib

    from app.core.jobs import CancelToken
    from app.ui.fold_job import PartsCache, make_fold_job
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    pack = write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("gui_fold") / "tf", "tiny_fold")
    outcome = make_fold_job(pack, Record("r", "", "MKTAYIAKQR"), PartsCache(threads=1), num_recycles=0)(
        lambda *a: None, CancelToken())
    sha = hashlib.sha256((pack / "manifest.json").read_bytes()).hexdigest()
    assert f"REMARK   2 {sha}" in outcome.pdb.splitlines() and "REMARK   2 MODEL tiny_fold" in outcome.pdb
    assert f"_edgefold.pack_sha256 {sha}" in outcome.cif.splitlines()
    assert "_edgefold.edgefold_version" in outcome.cif
