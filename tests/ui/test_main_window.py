"""Main window: scoring end to end with a real tiny pack, cancel, export, error dialogs."""
import csv

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
from app.core.scoring import METHODS as CORE_METHODS
from app.core.scoring import score_matrix
from app.ui.main_window import MainWindow
from app.ui.mutations import AMINO_ACIDS
from app.ui.scoring_job import METHODS

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    pytest.importorskip("torch")  # the tiny model is torch; any other ImportError is a failure
    from exporter.testing import make_tiny_pack

    return make_tiny_pack(tmp_path_factory.mktemp("tiny") / "tiny_fp32", scheme="fp32", seed=0)


@pytest.fixture
def window(qtbot, settings, packs_dir):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.worker is not None:
        w.worker.cancel()
    w.pool.waitForDone(10_000)


def add_tiny(window, tiny_pack):
    info = window.picker.add_folder(tiny_pack)
    assert info.ok, info.error
    assert window.picker.current_pack().path == tiny_pack


def test_ui_methods_are_the_core_methods():
    assert tuple(name for _, name, _ in METHODS) == tuple(CORE_METHODS)


def test_scores_a_sequence_end_to_end(window, qtbot, tiny_pack, tmp_path, monkeypatch,
                                      captured_errors):
    add_tiny(window, tiny_pack)
    window.editor.set_text(f">test_protein demo\n{SEQ}\n")
    assert window.score_button.isEnabled()
    with qtbot.waitSignal(window.results.model.modelReset, timeout=60_000):
        qtbot.mouseClick(window.score_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    assert captured_errors == []
    expected = score_matrix(Esm2Runtime(load_pack(tiny_pack)), SEQ, "wt-marginal").scores
    np.testing.assert_allclose(window.result.scores, expected, rtol=0, atol=1e-6)
    model = window.results.model
    assert model.rowCount() == len(SEQ) * 19
    best = model.index(0, 0).data(Qt.UserRole)
    i, j = int(best[1:-1]) - 1, AMINO_ACIDS.index(best[-1])
    assert model.index(0, 4).data(Qt.UserRole) == pytest.approx(expected[i, j])
    assert window.results.heatmap.sequence() == SEQ
    assert window.export_act.isEnabled()

    out = tmp_path / "export.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    window.export_act.trigger()
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["record_id", "mutant", "score"] and len(rows) == 1 + len(SEQ) * 19
    assert {r for r, _, _ in rows[1:]} == {window.result.record.id}
    got = {m: float(s) for _, m, s in rows[1:]}
    assert got["K2R"] == pytest.approx(expected[1, AMINO_ACIDS.index("R")], abs=1e-6)


def test_cancel_stops_masked_marginal_scoring(window, qtbot, tiny_pack):
    add_tiny(window, tiny_pack)
    window.method.setCurrentIndex(window.method.findData("masked-marginal"))
    window.editor.set_text((SEQ * 30)[:990])  # 62 batches of 16 masked copies
    progress = []
    window.score()
    window.worker.signals.progress.connect(lambda d, t, m: progress.append((d, t)))
    worker = window.worker
    qtbot.waitUntil(lambda: any(d > 0 for d, _ in progress), timeout=30_000)
    assert window.cancel_button.isEnabled() and not window.score_button.isEnabled()
    with qtbot.waitSignal(worker.signals.cancelled, timeout=30_000):
        window.cancel_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    assert window.result is None
    assert max(d for d, _ in progress) < 990
    assert "cancelled" in window.statusBar().currentMessage().lower()
    assert window.score_button.isEnabled()


def test_bad_input_shows_an_error_dialog(window, captured_errors, make_pack, packs_dir):
    make_pack(packs_dir / "p", name="p")
    window.picker.reload()
    window.editor.set_text(">seq_1\nMKTAY\nIAB1KQ\n")
    window.score()
    assert len(captured_errors) == 1
    title, text = captured_errors[0]
    assert title == "Invalid sequence" and "'seq_1'" in text and "position 9" in text
    assert window.worker is None


def test_unloadable_model_shows_an_error_dialog(window, qtbot, captured_errors, make_pack,
                                               packs_dir):
    make_pack(packs_dir / "garbage", name="garbage", model_bytes=b"\x00garbage, not onnx")
    window.picker.reload()
    window.editor.set_text("MKTAYIAK")
    window.score()
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    assert len(captured_errors) == 1
    title, text = captured_errors[0]
    assert title == "Model pack cannot be used" and "model.onnx" in text
    assert window.result is None and window.score_button.isEnabled()


def test_adding_a_broken_pack_folder_shows_the_reason(window, captured_errors, tmp_path,
                                                      monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(tmp_path)))
    window.add_pack_act.trigger()
    assert captured_errors and "manifest missing" in captured_errors[0][1]


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_dropping_a_fasta_file_loads_it(window, tmp_path, captured_errors):
    path = tmp_path / "two.fasta"
    path.write_text(">a\nMKT\n>b\nGGA\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, drop)
    assert window.editor.records.count() == 2 and captured_errors == []
    assert window.settings.value("paths/last_dir") == str(tmp_path)


def test_opening_an_invalid_fasta_file_explains_why(window, tmp_path, captured_errors):
    path = tmp_path / "bad.fasta"
    path.write_text(">x\nMK*T\n")
    assert window.open_path(path) is False
    assert captured_errors and str(path) in captured_errors[0][1] and "position 3" in captured_errors[0][1]


def test_geometry_and_method_are_remembered(qtbot, settings, packs_dir):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(640, 470)
    w.method.setCurrentIndex(1)
    w.close()
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    assert w2.method.currentData() == METHODS[1][1]
    assert (w2.width(), w2.height()) == (640, 470)
