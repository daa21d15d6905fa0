"""`python -m app fold`: verified folding packs in, PDB/mmCIF/JSON per record out; refusals are clean."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import gemmi
from app.cli import main
from app.core.pack import find_packs, load_pack, PackError

SEQS = {"first|rec": "MKTAYIAKQRQISFVKSHFSRQ", "second": "GSHMLEDPVDAFQEMLQWAXCRKH"}


@pytest.fixture(scope="module")
def folding_pack(tmp_path_factory):
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("packs") / "tiny_fold", "tiny_fold")


@pytest.fixture()
def fasta(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text("".join(f">{k}\n{v}\n" for k, v in SEQS.items()))
    return path


def test_fold_writes_structures_and_confidences(folding_pack, fasta, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["fold", "--model", str(folding_pack), "--fasta", str(fasta), "--out", str(out),
                 "--recycles", "1", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "language model" in err and "recycle 2/2" in err and "confidence" in err
    assert len(list(out.glob("_batch_sequences.*.json"))) == 1  # the batch's records (app.core.batch_queue)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_batch_sequences.")) == sorted(
        ["_batch_state.json", "_batch_summary.csv"] + [
        f"{s}{x}" for s in ("first_rec", "second") for x in (".pdb", ".cif", ".json", ".pae.json")])
    pae = json.loads((out / "second.pae.json").read_text())  # the AlphaFold DB layout
    assert isinstance(pae, list) and set(pae[0]) == {"predicted_aligned_error", "max_predicted_aligned_error"}
    assert np.array(pae[0]["predicted_aligned_error"]).shape == (len(SEQS["second"]),) * 2
    record = json.loads((out / "second.json").read_text())
    assert record["id"] == "second" and record["length"] == len(SEQS["second"]) and record["recycling_passes"] == 2
    assert len(record["plddt"]) == len(SEQS["second"]) and 0 < record["mean_plddt"] < 100
    assert np.isclose(record["mean_plddt"], np.mean(record["plddt"]), atol=0.01)
    assert np.array(record["predicted_aligned_error"]).shape == (len(SEQS["second"]),) * 2
    assert 0 < record["ptm"] < 1
    st = gemmi.read_structure(str(out / "first_rec.pdb"))
    assert gemmi.one_letter_code([r.name for r in st[0]["A"]]) == SEQS["first|rec"]
    ca = [a for r in st[0]["A"] for a in r if a.name == "CA"]
    assert np.allclose([a.b_iso for a in ca], json.loads((out / "first_rec.json").read_text())["plddt"], atol=0.011)
    assert len(gemmi.read_structure(str(out / "second.cif"))[0]["A"]) == len(SEQS["second"]) - 1  # X has no atoms


def test_folding_packs_are_listed_with_their_task_and_hash_checked(folding_pack, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEFOLD_PACKS", str(tmp_path))
    shutil.copytree(folding_pack, tmp_path / "fold")
    infos = [i for i in find_packs() if i.source == "user"]
    assert [(i.name, i.task, i.ok) for i in infos] == [("tiny_fold", "folding", True)]
    pack = load_pack(tmp_path / "fold")
    assert pack.task == "folding" and set(pack.parts) == {"lm", "trunk", "structure", "heads"}
    with open(tmp_path / "fold" / "trunk.onnx", "r+b") as fh:  # flip one byte, same size
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(PackError, match="trunk.onnx.*sha256"):
        load_pack(tmp_path / "fold")


def test_memory_refusal_and_wrong_pack_are_clean_errors(folding_pack, fasta, tmp_path, capsys) -> None:
    manifest = json.loads((folding_pack / "manifest.json").read_text())
    big = tmp_path / "big"
    shutil.copytree(folding_pack, big)
    manifest["architecture"]["c_z"] = 1 << 24  # a pair representation no machine holds
    (big / "manifest.json").write_text(json.dumps(manifest))
    (big / "manifest.sha256").unlink()  # hand-edited: drop the manifest's hash (else that refuses first)
    assert main(["fold", "--model", str(big), "--fasta", str(fasta), "--out", str(tmp_path / "o")]) == 1  # FAILED
    err = capsys.readouterr().err
    assert "record 'first|rec'" in err and "needs about" in err and "longest sequence that fits" in err
    assert not (tmp_path / "o").exists()
    assert main(["fold", "--fasta", str(fasta), "--out", str(tmp_path / "o")]) == 2
    assert "--model" in capsys.readouterr().err


def test_ctrl_c_keeps_finished_records_and_leaves_no_partial_file(folding_pack, fasta, tmp_path, capsys,
                                                                  monkeypatch) -> None:
    import app.core.fold.driver as driver

    real, calls = driver.fold, []

    def fold_then_interrupt(parts, sequence, **kw):
        calls.append(sequence)
        if len(calls) == 2:  # Ctrl-C while the second record folds
            raise KeyboardInterrupt
        return real(parts, sequence, **kw)

    monkeypatch.setattr(driver, "fold", fold_then_interrupt)
    out = tmp_path / "out"
    assert main(["fold", "--model", str(folding_pack), "--fasta", str(fasta), "--out", str(out),
                 "--recycles", "0"]) == 130
    assert "interrupted; 1 of 2 record(s) written" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_batch_sequences.")) == [
        "_batch_state.json", "_batch_summary.csv", "first_rec.cif", "first_rec.json", "first_rec.pae.json",
        "first_rec.pdb"]
