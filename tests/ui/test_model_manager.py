"""Model manager dialog, Get ESM-2 dialog, and packs that appear without a restart (folder watcher,
Fold pressed again). packbuild is faked in sys.modules (tests/app/fake_packbuild.py)."""
from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
import fake_packbuild  # noqa: E402
from standin import write_standin_pack  # noqa: E402

from app.core.fasta import Record  # noqa: E402
from app.core.pack import load_pack  # noqa: E402
from app.ui.fold_packs import install_hint  # noqa: E402
from app.ui.fold_panel import FoldPanel  # noqa: E402
from app.ui.main_window import MainWindow  # noqa: E402
from app.ui.model_manager import ModelManagerDialog  # noqa: E402
from app.ui.model_manager_get import GetEsm2Dialog, fit_progress  # noqa: E402
from app.ui.model_manager_watch import PacksWatcher, watched_paths  # noqa: E402

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLE"


@pytest.fixture
def manager(qtbot, packs_dir):
    d = ModelManagerDialog()
    qtbot.addWidget(d)
    yield d
    d.pool.waitForDone(10_000)


@pytest.fixture
def window(qtbot, settings, packs_dir):
    w = MainWindow(settings)
    qtbot.addWidget(w)
    yield w
    w.fold_panel.shutdown()
    w.pool.waitForDone(10_000)


def answer(monkeypatch, button) -> list:
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda parent, title, text, *a: asked.append(text)
                                                              or button))
    return asked


def test_lists_packs_and_verifies_in_a_worker(manager, packs_dir, qtbot, captured_errors):
    pack = write_standin_pack(packs_dir / "a", seed=1, name="alpha", scheme="int8")
    manager.refresh()
    assert [r.info.name for r in manager.rows()] == ["alpha"]
    cells = [manager.table.item(0, c).text() for c in range(manager.table.columnCount())]
    assert cells[:3] == ["alpha", "masked-lm", "int8"] and "fidelity to fp32" in cells[7]
    assert manager.table.horizontalHeaderItem(5).text() == "Source checkpoint"
    assert not manager.buttons["verify"].isEnabled()
    manager.select("alpha")
    assert manager.verify() is True
    qtbot.waitUntil(lambda: manager.worker is None, timeout=20_000)
    assert "alpha: OK, 1 files" in manager.status.text() and captured_errors == []
    data = bytearray((pack / "model.onnx").read_bytes())
    data[-4] ^= 1
    (pack / "model.onnx").write_bytes(bytes(data))
    manager.verify()
    qtbot.waitUntil(lambda: manager.worker is None, timeout=20_000)
    assert captured_errors and captured_errors[0][0] == "Verification failed" and "model.onnx" in captured_errors[0][1]


def test_remove_asks_and_never_removes_the_embedded_pack(manager, packs_dir, tmp_path, monkeypatch,
                                                         captured_errors, qtbot):
    default = write_standin_pack(tmp_path / "embedded", seed=8, name="embedded")
    monkeypatch.setattr("app.core.pack.default_pack_dir", lambda: default)
    write_standin_pack(packs_dir / "a", seed=1, name="alpha")
    manager.refresh()
    manager.select("embedded")
    assert not manager.buttons["remove"].isEnabled() and manager.remove() is False
    assert default.is_dir() and "cannot be removed" in captured_errors[0][1]
    manager.select("alpha")
    assert manager.buttons["remove"].isEnabled()
    asked = answer(monkeypatch, QMessageBox.No)
    assert manager.remove() is False and (packs_dir / "a").is_dir() and str(packs_dir / "a") in asked[0]
    answer(monkeypatch, QMessageBox.Yes)
    with qtbot.waitSignal(manager.packsChanged, timeout=2000):
        assert manager.remove() is True
    assert not (packs_dir / "a").exists() and [r.info.name for r in manager.rows()] == ["embedded"]


def test_import_folder_copies_in_and_refuses_a_duplicate(manager, packs_dir, tmp_path, qtbot, captured_errors):
    src = write_standin_pack(tmp_path / "downloads" / "x", seed=2, name="beta")
    with qtbot.waitSignal(manager.packsChanged, timeout=20_000):
        assert manager.import_folder(src) is True
    qtbot.waitUntil(lambda: manager.worker is None, timeout=20_000)
    assert load_pack(packs_dir / "beta").name == "beta"
    assert manager.selected().info.name == "beta"
    manager.import_folder(src)
    qtbot.waitUntil(lambda: manager.worker is None, timeout=20_000)
    assert captured_errors[0][0] == "Import failed" and "already installed as 'beta'" in captured_errors[0][1]


def test_get_esm2_shows_size_and_network_notice_then_installs(manager, packs_dir, qtbot, monkeypatch):
    builder = fake_packbuild.make_module(steps=3)
    monkeypatch.setitem(sys.modules, "packbuild", builder)
    dialog = manager.get_esm2()
    qtbot.addWidget(dialog)
    labels = [dialog.checkpoint.itemText(i) for i in range(dialog.checkpoint.count())]
    assert labels[0] == "esm2_t6_8M_UR50D (6 layers, dim 320)" and labels[1].startswith("esm2_t33_650M_UR50D")
    assert "31.0 MB" in dialog.size.text()
    dialog.checkpoint.setCurrentIndex(1)
    assert "2.6 GB" in dialog.size.text()
    dialog.checkpoint.setCurrentIndex(0)
    assert dialog.scheme.currentText() == "pwlq8"
    assert "only step in EdgeFold that uses the network" in dialog.notice.text() and dialog.notice.isVisibleTo(dialog)
    with qtbot.waitSignal(manager.packsChanged, timeout=20_000):
        assert dialog.start() is True
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=20_000)
    assert builder.calls[0]["thread"] != threading.get_ident()  # built off the UI thread
    assert load_pack(packs_dir / "esm2_t6_8M_UR50D-pwlq8").scheme == "pwlq8"
    assert manager.selected().info.name == "esm2_t6_8M_UR50D-pwlq8"


def test_get_esm2_cancel_installs_nothing(manager, packs_dir, qtbot, monkeypatch):
    gate = threading.Event()
    builder = fake_packbuild.make_module(gate=gate)
    monkeypatch.setitem(sys.modules, "packbuild", builder)
    dialog = GetEsm2Dialog()
    qtbot.addWidget(dialog)
    assert dialog.start() is True
    qtbot.waitUntil(lambda: "downloading" in dialog.status.text(), timeout=10_000)
    assert dialog.progress.isVisibleTo(dialog) and dialog.cancel_button.isEnabled()
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=10_000)
    assert "Cancelled; nothing was installed." == dialog.status.text()
    assert list(packs_dir.iterdir()) == []


def test_a_get_that_would_replace_an_installed_pack_says_so(qtbot, packs_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "packbuild", fake_packbuild.make_module())
    write_standin_pack(packs_dir / "esm2_t6_8M_UR50D-int8", seed=1, name="esm2_t6_8M_UR50D", scheme="int8")
    dialog = GetEsm2Dialog()
    qtbot.addWidget(dialog)
    assert "installed already" not in dialog.size.text()  # pwlq8: not installed
    dialog.scheme.setCurrentText("int8")
    assert "esm2_t6_8M_UR50D-int8 is installed already: getting it again replaces it" in dialog.size.text()


def test_byte_progress_past_2_gib_reaches_the_bar_in_mib(qtbot, packs_dir, monkeypatch):
    seen = []
    fitted = fit_progress(lambda d, t, m: seen.append((d, t)))
    fitted(5, 10, "calibrating")
    fitted(2_600_000_000, 2_600_000_000, "downloading esm2_t33_650M_UR50D.pt")  # a Qt int wraps past 2**31 - 1
    assert seen == [(5, 10), (2_600_000_000 >> 20, 2_600_000_000 >> 20)]
    gate = threading.Event()
    mod = fake_packbuild.make_module(gate=gate)
    real = mod.build_pack
    mod.build_pack = lambda source, packs_dir, progress=None, **k: (
        progress(1_300_000_000, 2_600_000_000, "downloading big"), real(source, packs_dir, progress=None, **k))[1]
    monkeypatch.setitem(sys.modules, "packbuild", mod)
    dialog = GetEsm2Dialog()
    qtbot.addWidget(dialog)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.maximum() > 1, timeout=10_000)
    assert (dialog.progress.value(), dialog.progress.maximum()) == (1_300_000_000 >> 20, 2_600_000_000 >> 20)
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=10_000)


def test_get_esm2_without_the_builder_says_so(qtbot, packs_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "packbuild", None)
    dialog = GetEsm2Dialog()
    qtbot.addWidget(dialog)
    assert "needs EdgeFold's pack builder (the 'packbuild' package)" in dialog.status.text()
    assert not dialog.get_button.isEnabled() and dialog.start() is False


def test_a_local_checkpoint_is_not_a_download(qtbot, packs_dir, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "packbuild", fake_packbuild.make_module())
    ckpt = tmp_path / "mine.pt"
    ckpt.write_bytes(b"0" * 2048)
    dialog = GetEsm2Dialog()
    qtbot.addWidget(dialog)
    dialog.checkpoint.setCurrentIndex(dialog.checkpoint.count() - 1)  # "Other"
    dialog.other.setText(str(ckpt))
    assert "nothing is downloaded" in dialog.size.text() and dialog.get_button.isEnabled()
    dialog.other.setText(str(tmp_path / "missing.pt"))
    assert "is not a known checkpoint" in dialog.size.text() and not dialog.get_button.isEnabled()


def test_watcher_follows_a_missing_packs_folder_and_new_pack_folders(qtbot, tmp_path, monkeypatch):
    root = tmp_path / "share" / "edgefold" / "packs"
    monkeypatch.setenv("EDGEFOLD_PACKS", str(root))
    assert watched_paths(root) == [str(tmp_path)]
    w = PacksWatcher(quiet_ms=50)
    root.mkdir(parents=True)
    (root / "p").mkdir()
    w.rewatch()
    assert w.paths() == [str(root), str(root / "p")]
    with qtbot.waitSignal(w.changed, timeout=5000):
        (root / "p" / "model.onnx").write_bytes(b"part")  # a file appearing inside a pack folder
    assert w.paths() == [str(root), str(root / "p"), str(root / "p" / "model.onnx")]
    with qtbot.waitSignal(w.changed, timeout=5000):  # and the same file growing (a long copy)
        with open(root / "p" / "model.onnx", "ab") as f:
            f.write(b" and the rest")


def test_packs_copied_in_appear_without_a_restart(window, packs_dir, qtbot, tmp_path):
    assert window.picker.packs() == [] and window.fold_panel.packs() == []
    assert window.models_act in window.add_pack_act.associatedObjects()[0].actions()
    src = write_standin_pack(tmp_path / "elsewhere" / "gamma", seed=3, name="gamma")
    shutil.copytree(src, packs_dir / "gamma")  # as a shell or a file manager would
    qtbot.waitUntil(lambda: [p.name for p in window.picker.packs()] == ["gamma"], timeout=10_000)
    assert window.picker.current_pack().name == "gamma"
    shutil.rmtree(packs_dir / "gamma")
    qtbot.waitUntil(lambda: window.picker.packs() == [], timeout=10_000)


def test_models_menu_opens_the_manager_and_its_changes_reach_the_picker(window, packs_dir, tmp_path, qtbot):
    window.models_act.trigger()
    manager = window.model_manager
    qtbot.addWidget(manager)
    src = write_standin_pack(tmp_path / "dl" / "delta", seed=4, name="delta")
    window.packs_watcher.blockSignals(True)  # only the manager's own signal may update the picker here
    manager.import_folder(src)
    qtbot.waitUntil(lambda: [p.name for p in window.picker.packs()] == ["delta"], timeout=20_000)
    window.packs_watcher.blockSignals(False)
    manager.pool.waitForDone(10_000)


@pytest.fixture(scope="module")
def tiny_fold_pack(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("mm_fold") / "tiny_fold", "tiny_fold")


def test_fold_again_after_copying_a_folding_pack_in_folds(qtbot, settings, packs_dir, tiny_fold_pack,
                                                          captured_errors):
    panel = FoldPanel(settings, lambda: Record("query", "", SEQUENCE))
    qtbot.addWidget(panel)
    assert panel.fold() is False
    assert captured_errors == [("No folding model installed", install_hint(packs_dir))]
    assert "press Fold again" in captured_errors[0][1]
    shutil.copytree(tiny_fold_pack, packs_dir / "esmfold-tiny")  # what the hint says to do, no restart
    assert panel.fold() is True  # "press Fold again": it folds
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    assert panel.outcome is not None and panel.outcome.record.id == "query"
    assert panel.current_pack().name == "tiny_fold" and len(captured_errors) == 1


def test_get_esm2_with_the_real_builder_from_a_local_checkpoint(window, packs_dir, tmp_path, qtbot, monkeypatch):
    """The whole path with packbuild itself (no network: a tiny fair-esm checkpoint on disk), from the
    Models menu to the model picker."""
    from exporter.testing import save_fair_esm, tiny_torch_model  # torch only writes the checkpoint file

    ckpt = save_fair_esm(tiny_torch_model(seed=0)[0], tmp_path / "ckpt")
    window.models_act.trigger()
    dialog = window.model_manager.get_esm2()
    qtbot.addWidget(window.model_manager)
    dialog.checkpoint.setCurrentIndex(dialog.checkpoint.findData("__other__"))
    dialog.other.setText(str(ckpt))
    dialog.scheme.setCurrentText("int8")
    assert "nothing is downloaded" in dialog.size.text()
    assert dialog.start() is True
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=300_000)
    assert dialog.status.text().startswith("Installed "), dialog.status.text()
    names = [p.name for p in window.picker.packs()]
    assert len(names) == 1 and window.picker.packs()[0].scheme == "int8"
    assert load_pack(window.picker.packs()[0].path).task == "masked-lm"
