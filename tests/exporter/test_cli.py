"""`python -m exporter` end to end on a tiny checkpoint, and its error messages."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMLEDPVDAFQEMLQ", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG",
        "MSEKIRVLLVDDHPVVRQGLRALLEGEPDFEVVGEAENGEEAL"]


def run(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "exporter", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def write_fasta(path: Path, seqs) -> Path:
    path.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def tiny_checkpoint(tmp_path: Path) -> Path:
    from exporter.testing import tiny_torch_model

    model, _ = tiny_torch_model(seed=0)
    cfg = {"encoder_layers": 2, "encoder_embed_dim": 32, "encoder_attention_heads": 4, "token_dropout": True}
    path = tmp_path / "tiny.pt"
    torch.save({"cfg": {"model": cfg}, "model": model.state_dict()}, path)
    return path


def test_fp32_export_writes_a_verified_pack_and_prints_the_table(tmp_path):
    fasta = write_fasta(tmp_path / "cal.fasta", SEQS)
    res = run(tiny_checkpoint(tmp_path), "--schemes", "fp32", "--out", tmp_path / "packs",
              "--calibration", fasta, "--verify", fasta, "--contacts")
    assert res.returncode == 0, res.stderr
    assert "logits SQNR dB" in res.stdout and "fp32" in res.stdout
    manifest = json.loads((tmp_path / "packs" / "fp32" / "manifest.json").read_text())
    assert manifest["accuracy"]["top1_agreement"] == 1.0
    assert manifest["accuracy"]["logits_sqnr_db"] > 100
    assert set(manifest["files"]) == {"model.onnx", "contacts.onnx"}


def test_unknown_scheme_is_an_error_naming_it(tmp_path):
    res = run(tiny_checkpoint(tmp_path), "--schemes", "int3", "--out", tmp_path / "packs")
    assert res.returncode == 2
    assert "int3" in res.stderr and "pwlq8" in res.stderr and "ternary" in res.stderr  # the registry's list
    assert not (tmp_path / "packs").exists()


def test_missing_model_is_an_error_not_a_traceback(tmp_path):
    res = run(tmp_path / "nope.pt", "--out", tmp_path / "packs")
    assert res.returncode == 2
    assert "error:" in res.stderr and "nope.pt" in res.stderr and "Traceback" not in res.stderr


def test_help_explains_models_and_schemes():
    res = run("--help")
    assert res.returncode == 0
    for word in ("esm2_t33_650M_UR50D", "HuggingFace", "pwlq8", "dynamic-int8", "--calibration"):
        assert word in res.stdout


def test_linear_placement_quantizes_linear_inputs_only(tmp_path):
    fasta = write_fasta(tmp_path / "cal.fasta", SEQS)
    res = run(tiny_checkpoint(tmp_path), "--schemes", "int8", "--out", tmp_path / "packs", "--calibration", fasta,
              "--verify", fasta, "--calibration-size", "4", "--placement", "linear")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "packs" / "int8" / "manifest.json").read_text())
    assert manifest["scheme_config"]["config"]["placement"] == ["linear"]
    assert {s["kind"] for s in manifest["scheme_config"]["sites"]} == {"linear"}
    assert 10 < manifest["accuracy"]["logits_sqnr_db"] < 80


def test_bad_placements_are_errors_naming_them(tmp_path):
    res = run(tiny_checkpoint(tmp_path), "--out", tmp_path / "p", "--placement", "layernorm")
    assert res.returncode == 2 and "includes linear" in res.stderr
    res = run(tiny_checkpoint(tmp_path), "--schemes", "int8", "--out", tmp_path / "p", "--placement", "linear,softmax")
    assert res.returncode == 2 and "ESMFold only" in res.stderr and "Traceback" not in res.stderr
