"""Structure panel: folding-pack discovery, the install hint, folding a tiny pack in a worker, saving."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from app.core.fasta import Record
from app.core.fold.driver import fold
from app.core.fold.parts import open_parts
from app.ui.fold_packs import find_folding_packs, install_hint
from app.ui.fold_panel import FoldPanel

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLE"


@pytest.fixture(scope="module")
def tiny_fold_pack(tmp_path_factory) -> Path:
    """A real folding pack: the tiny random ESMFold exported to its four ONNX parts."""
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("ui_fold") / "tiny_fold", "tiny_fold")


def fake_folding_pack(directory: Path, payload: bytes = b"onnx bytes", listed_bytes: int | None = None) -> Path:
    directory.mkdir(parents=True)
    parts = {p: f"{p}.onnx" for p in ("lm", "trunk", "structure", "heads")}
    for f in parts.values():
        (directory / f).write_bytes(payload)
    files = {f: {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": listed_bytes or len(payload)}
             for f in parts.values()}
    manifest = {"format": "edgefold-pack", "format_version": 1, "name": directory.name, "task": "folding",
                "scheme": "int8", "onnx": {"parts": parts}, "files": files}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def panel_for(qtbot, settings):
    def make(record: Record | None = None) -> FoldPanel:
        calls = []
        panel = FoldPanel(settings, lambda: calls.append(1) or record)
        panel.provider_calls = calls
        qtbot.addWidget(panel)
        return panel
    return make


def test_without_a_folding_pack_fold_says_how_to_install_one(panel_for, packs_dir, make_pack, captured_errors):
    make_pack(packs_dir / "esm2")  # a masked-lm pack does not fold
    panel = panel_for(Record("r", "", SEQUENCE))
    assert panel.packs() == [] and panel.fold_button.isEnabled()
    assert panel.fold() is False
    assert captured_errors == [("No folding model installed", install_hint(packs_dir))]
    text = captured_errors[0][1]
    assert "python -m exporter <ESMFold dir or checkpoint> --schemes" in text and "--out" in text
    assert str(packs_dir) in text
    assert panel.provider_calls == [] and panel.worker is None


def test_folding_packs_are_listed_and_checked(packs_dir, make_pack) -> None:
    make_pack(packs_dir / "esm2")
    fake_folding_pack(packs_dir / "fold_ok")
    fake_folding_pack(packs_dir / "fold_truncated", listed_bytes=999)
    infos = {i.path.name: i for i in find_folding_packs()}
    assert set(infos) == {"fold_ok", "fold_truncated"}
    assert infos["fold_ok"].ok and infos["fold_ok"].scheme == "int8"
    assert not infos["fold_truncated"].ok and "truncated" in infos["fold_truncated"].error


def test_add_folder_takes_folding_packs_and_leaves_others(panel_for, packs_dir, make_pack, tmp_path) -> None:
    panel = panel_for()
    assert panel.add_folder(make_pack(tmp_path / "esm2")) is False
    pack = fake_folding_pack(tmp_path / "elsewhere" / "fold")
    assert panel.add_folder(pack) is True
    assert panel.current_pack().path == pack
    assert panel_for().current_pack().path == pack  # remembered in the settings


def wait_done(panel: FoldPanel, qtbot) -> None:
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)


def test_fold_shows_structure_confidence_and_saves_files(panel_for, qtbot, packs_dir, tiny_fold_pack,
                                                         tmp_path) -> None:
    shutil.copytree(tiny_fold_pack, packs_dir / "tiny_fold")
    panel = panel_for(Record("query", "", SEQUENCE))
    messages = []
    panel.statusMessage.connect(lambda text, ms: messages.append(text))
    assert panel.current_pack().name == "tiny_fold"
    assert panel.fold() is True
    assert not panel.fold_button.isEnabled() and panel.cancel_button.isEnabled()
    wait_done(panel, qtbot)
    out = panel.outcome
    assert out is not None and out.record.id == "query"
    expected = fold(open_parts(tiny_fold_pack, threads=1), SEQUENCE)
    np.testing.assert_allclose(out.result.atom37, expected.atom37, atol=1e-4)
    n = len(SEQUENCE)
    assert panel.pae.pae().shape == (n, n)
    np.testing.assert_allclose(panel.pae.pae(), expected.pae, atol=1e-4)
    residues = panel.viewer.residues()
    assert len(residues) == n
    np.testing.assert_allclose([r.plddt for r in residues], expected.residue_plddt, atol=0.006)
    assert f"pTM {expected.ptm:.3f}" in panel.summary.text()
    assert any("recycle" in m for m in messages)
    assert panel.save_pdb_button.isEnabled() and panel.save_cif_button.isEnabled()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    pdb_path, cif_path = panel.save("pdb", out_dir / "q.pdb"), panel.save("cif", out_dir / "q.cif")
    for path in (pdb_path, cif_path):
        st = gemmi.read_structure(str(path))
        atoms = [a for r in st[0][0] for a in r]
        assert len(st[0][0]) == n and len(atoms) == int(expected.atom37_mask.sum())
        ca_b = [r["CA"][0].b_iso for r in st[0][0]]
        np.testing.assert_allclose(ca_b, expected.residue_plddt, atol=0.006)
    assert sorted(p.name for p in out_dir.iterdir()) == ["q.cif", "q.pdb"]  # no temporary left over


def test_cancel_stops_the_fold(panel_for, qtbot, packs_dir, tiny_fold_pack) -> None:
    shutil.copytree(tiny_fold_pack, packs_dir / "tiny_fold")
    panel = panel_for(Record("query", "", SEQUENCE))
    assert panel.fold() is True
    worker = panel.worker
    cancelled = []
    worker.signals.cancelled.connect(lambda: cancelled.append(True))
    panel.cancel()
    wait_done(panel, qtbot)
    assert cancelled == [True] and panel.outcome is None


def test_an_unfoldable_sequence_is_reported(panel_for, qtbot, packs_dir, tiny_fold_pack, captured_errors) -> None:
    shutil.copytree(tiny_fold_pack, packs_dir / "tiny_fold")
    panel = panel_for(Record("bad", "", "MKT1A"))
    assert panel.fold() is True
    wait_done(panel, qtbot)
    assert len(captured_errors) == 1 and captured_errors[0][0] == "Invalid sequence"
    assert "bad" in captured_errors[0][1]
