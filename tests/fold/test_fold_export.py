"""`python -m exporter ESMFOLD_DIR`: one verified folding pack per scheme, a printed table, results in the manifest."""
from __future__ import annotations

import json

import pytest

from exporter.cli import main
from packbuild.pack import sha256_file

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMLEDPVDAFQEMLQ", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG"]


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fold_export")
    tiny_model.save_pretrained(tmp / "tiny_esmfold")
    fasta = tmp / "seqs.fasta"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)))
    args = [str(tmp / "tiny_esmfold"), "--schemes", "fp32,int8", "--out", str(tmp / "packs"), "--calibration",
            str(fasta), "--verify", str(fasta), "--calibration-size", "2", "--verify-size", "2", "--recycles", "1"]
    return tmp / "packs", args


def test_folding_export_prints_the_table_and_verifies_fp32_exactly(exported, capsys) -> None:
    packs, args = exported
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "CA RMSD A" in out and "TM vs fp32" in out and "int8" in out
    fp32 = json.loads((packs / "fp32" / "manifest.json").read_text())
    acc = fp32["accuracy"]
    assert fp32["task"] == "folding" and acc["n_sequences"] == 2 and acc["num_recycles"] == 1
    assert acc["ca_rmsd"] < 1e-3 and acc["max_atom_deviation_max"] < 1e-2 and acc["tm_score"] > 0.999
    assert acc["plddt_delta"] < 1e-2 and acc["ptm_delta"] < 1e-4
    assert fp32["calibration"] is None


def test_int8_pack_is_quantized_hash_listed_and_measured(exported) -> None:
    packs, _ = exported
    manifest = json.loads((packs / "int8" / "manifest.json").read_text())
    for name, meta in manifest["files"].items():
        assert sha256_file(packs / "int8" / name) == meta["sha256"]
    parts = manifest["scheme_config"]["parts"]
    assert parts["trunk"]["counts"]["linear/uniform/qdq"] > 0 and parts["heads"]["counts"] == {}
    assert parts["structure"]["counts"]["linear/uniform/qdq"] > 0  # the Loop body's Linears included
    assert manifest["calibration"]["n_sequences"] == 2
    acc = manifest["accuracy"]
    assert acc["ca_rmsd"] > 1e-4  # quantization does move atoms ...
    assert 0.0 < acc["tm_score"] <= 1.0 and acc["plddt_delta"] > 0  # ... and the deltas are recorded


def test_unknown_folding_scheme_names_it(tiny_model, tmp_path, capsys) -> None:
    tiny_model.save_pretrained(tmp_path / "m")
    assert main([str(tmp_path / "m"), "--schemes", "int4", "--out", str(tmp_path / "packs")]) == 2
    assert "int4" in capsys.readouterr().err
    # a registered scheme that does not apply to folding models is refused, naming those that do
    assert main([str(tmp_path / "m"), "--schemes", "ternary", "--out", str(tmp_path / "packs")]) == 2
    err = capsys.readouterr().err
    assert "ternary" in err and "does not apply to esmfold" in err and "pwlq8" in err
    assert not (tmp_path / "packs").exists()


def test_chunk_size_flag_reaches_the_pack(exported, tmp_path) -> None:
    _, args = exported
    out = tmp_path / "chunked"
    args = [a for a in args] + ["--chunk-size", "4"]
    args[args.index("--out") + 1], args[args.index("--schemes") + 1] = str(out), "fp32"
    assert main(args) == 0
    manifest = json.loads((out / "fp32" / "manifest.json").read_text())
    assert manifest["architecture"]["chunk_size"] == 4
    assert manifest["accuracy"]["ca_rmsd"] < 1e-3  # chunked pack vs unchunked torch
    import onnx

    trunk = onnx.load(str(out / "fp32" / "trunk.onnx"))
    assert manifest["architecture"]["unchunked_rows"] > 0
    # each triangle-attention core: an If between all rows at once and a Loop over chunks of 4
    ifs = [n for n in trunk.graph.node if n.op_type == "If"]
    assert len(ifs) == 4
    assert all(any(m.op_type == "Loop" for a in n.attribute if a.name == "else_branch" for m in a.g.node)
               for n in ifs)


def test_chunk_size_defaults_to_the_checkpoint_and_zero_turns_it_off() -> None:
    from types import SimpleNamespace

    from exporter.esmfold.cli import chunk_size

    model = SimpleNamespace(trunk=SimpleNamespace(chunk_size=128))
    assert chunk_size(SimpleNamespace(chunk_size=None), model) == 128
    assert chunk_size(SimpleNamespace(chunk_size=0), model) is None
    assert chunk_size(SimpleNamespace(chunk_size=32), model) == 32
    with pytest.raises(ValueError, match="--chunk-size"):
        chunk_size(SimpleNamespace(chunk_size=-1), model)
