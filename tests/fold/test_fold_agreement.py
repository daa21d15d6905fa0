"""bench.fold_agreement on tiny folding packs: a pack agrees with itself exactly, a chunked one closely."""
from __future__ import annotations

import json

import pytest

from bench.fold_agreement import main, pick_sequences


@pytest.fixture(scope="module")
def chunked_pack(tiny_model, tmp_path_factory):
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_model, tmp_path_factory.mktemp("agree") / "chunked", "tiny", chunk_size=4)


def test_identical_and_chunked_packs_agree_with_the_reference(tiny_pack, chunked_pack, tmp_path) -> None:
    fasta = tmp_path / "s.fasta"
    fasta.write_text(">a\nMSEKIRVLLVDDHPVVRQGLRALLEGEPDFKV\n>b\nMKTAYIAKQRQISFVKSHFSRQ\n")
    out = tmp_path / "a.json"
    rc = main(["--pack", f"ref={tiny_pack}", "--pack", f"same={tiny_pack}", "--pack", f"chunked={chunked_pack}",
               "--fasta", str(fasta), "--lengths", "20,30", "--num-recycles", "1", "--threads", "1",
               "--json", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["pack"], r["against"], r["L"]) for r in rows] == [
        ("same", "ref", 20), ("same", "ref", 30), ("chunked", "ref", 20), ("chunked", "ref", 30),
        ("chunked", "same", 20), ("chunked", "same", 30)]
    same = [r for r in rows if r["pack"] == "same"]
    assert all(r["ca_rmsd"] < 1e-5 and r["plddt_delta"] == 0.0 for r in same)
    assert all(r["distogram_sqnr_db"] == float("inf") for r in same)  # identical outputs
    chunked = [r for r in rows if r["pack"] == "chunked"]
    assert all(r["ca_rmsd"] < 1e-3 and 60 < r["distogram_sqnr_db"] for r in chunked)


def test_sequences_are_cropped_and_a_missing_length_is_named(tmp_path, capsys) -> None:
    fasta = tmp_path / "s.fasta"
    fasta.write_text(">a\nMSEKIRVLLV\n>b\nMKTAYIAKQRQISF\n")
    assert pick_sequences(fasta, [8, 12], 2) == ["MSEKIRVL", "MKTAYIAK", "MKTAYIAKQRQI"]
    assert main(["--pack", f"x={tmp_path}", "--fasta", str(fasta)]) == 2
    assert "trunk.onnx does not exist" in capsys.readouterr().err
