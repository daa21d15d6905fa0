"""`python -m exporter delta`: delta packs of a tiny fine-tune on tiny base packs (exporter/delta_*.py)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from app.core.delta_pack import manifest_sha256
from app.core.pack import load_pack
from exporter import delta_testing, testing
from exporter.cli import main
from exporter.delta_pack import CODED, build_spec, compute_deltas


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("delta_export")
    return {"root": root, "fp32": testing.make_tiny_pack(root / "packs" / "fp32", "fp32", seed=0, contacts=False),
            "int8": testing.make_tiny_pack(root / "packs" / "int8", "dynamic-int8", seed=0, contacts=False),
            "ft": delta_testing.finetuned_checkpoint(root / "ft.pt"),
            "base": delta_testing.base_checkpoint(root / "base.pt")}


def _assay(path: Path, wt: str) -> Path:
    """A tiny ProteinGym-format assay of single substitutions of `wt`, scores made up."""
    rows = ["mutant,mutated_sequence,DMS_score"]
    rng = np.random.default_rng(0)
    for i in range(1, len(wt) + 1, 2):
        for aa in "AGW":
            if wt[i - 1] != aa:
                rows.append(f"{wt[i - 1]}{i}{aa},{wt[:i - 1] + aa + wt[i:]},{rng.normal():.4f}")
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path


def test_delta_cli_writes_a_pack_naming_its_base_with_a_verification(world, capsys):
    assay = _assay(world["root"] / "TINY_assay.csv.gz", testing.TINY_CALIBRATION[0])
    out = world["root"] / "d16"
    assert main(["delta", "--base", str(world["fp32"]), "--finetuned", str(world["ft"]), "--ratio", "16",
                 "--out", str(out), "--assay", str(assay), "--sequences", "2", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| logits SQNR vs full fine-tune (dB) |" in printed and "TINY_assay Spearman" in printed
    m = json.loads((out / "manifest.json").read_text())
    d = m["delta"]
    assert d["base"]["manifest_sha256"] == manifest_sha256(world["fp32"]) and d["base"]["name"] == "tiny_esm2_seed0"
    assert d["base"]["path"] == "../packs/fp32"
    assert d["method"] == "deltadq" and d["ratio"] == 16
    assert set(m["files"]) == {"delta.npz"} and m["onnx"]["model"] == "model.onnx"
    assert all(CODED.match(n) for n in d["matrices"]) and len(d["matrices"]) == 2 * 6 + 1
    assert "embed_tokens.weight" in d["dense"] and "layers.0.fc1.bias" in d["dense"]
    v = d["verification"]
    assert v["logits_sqnr_db"] > v["base_logits_sqnr_db"]
    assert set(v["assay"]) >= {"base", "finetune", "base+delta"} and v["assay"]["name"] == "TINY_assay"
    assert d["bytes"]["codes"] * 8 <= 16 * d["params"]["coded"] / 16  # the codec's budget, every byte counted
    assert load_pack(out).is_delta


@pytest.mark.parametrize("method,ratio", [("magnitude", 16), ("bitdelta", 12), ("lowrank", 4)])  # uniform4: g=64 > the tiny width
def test_baseline_methods_write_packs_the_app_reads(world, method, ratio):
    from app.core.runtime import Esm2Runtime

    out = world["root"] / f"d_{method}"
    assert main(["delta", "--base", str(world["fp32"]), "--finetuned", str(world["ft"]), "--ratio", str(ratio),
                 "--method", method, "--out", str(out), "--sequences", "1", "--threads", "1"]) == 0
    pack = load_pack(out)
    codecs = {e["codec"] for e in pack.manifest["delta"]["matrices"].values()}
    assert codecs == {{"magnitude": "magnitude", "bitdelta": "bitdelta", "lowrank": "lowrank",
                       "uniform4": "uniform"}[method]}
    logits = Esm2Runtime(pack, threads=1).run(np.array([[0, 5, 6, 2]]))["logits"]
    assert np.isfinite(logits).all()


def test_quantized_base_needs_its_float_model(world, capsys):
    out = world["root"] / "d_int8"
    assert main(["delta", "--base", str(world["int8"]), "--finetuned", str(world["ft"]), "--out", str(out)]) == 2
    assert "pass --base-model" in capsys.readouterr().err
    assert not out.exists()
    assert main(["delta", "--base", str(world["int8"]), "--finetuned", str(world["ft"]), "--out", str(out),
                 "--base-model", str(world["base"]), "--sequences", "1", "--threads", "1"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["scheme"] == "dynamic-int8" and m["delta"]["base"]["scheme"] == "dynamic-int8"


def test_a_ratio_the_codec_cannot_reach_is_an_input_error(world, capsys):
    out = world["root"] / "d_too_small"
    assert main(["delta", "--base", str(world["fp32"]), "--finetuned", str(world["ft"]), "--ratio", "32",
                 "--method", "bitdelta", "--out", str(out)]) == 2
    assert "reaches only" in capsys.readouterr().err and not out.exists()


def test_only_changed_parameters_are_stored(world):
    from exporter.delta_pack import base_weights, graph_initializers
    from packbuild.esm2_graph import build_esm2
    from exporter.loaders import load

    base, _ = base_weights(world["fp32"])
    ft = dict(graph_initializers(build_esm2(load(str(world["ft"])).weights, contacts=False)))
    ft["layers.1.fc2.bias"] = base["layers.1.fc2.bias"].copy()
    deltas = compute_deltas(base, ft)
    assert "layers.1.fc2.bias" not in deltas.dense and deltas.unchanged >= 1
    assert set(deltas.coded) == {n for n in base if CODED.match(n)}


def test_spec_sizes_count_every_byte(world):
    from exporter.loaders import load

    spec = build_spec(world["fp32"], load(str(world["ft"])), "deltadq", 32)
    assert 8 * sum(a.nbytes for k, a in spec.arrays.items() if not k.startswith("dense.")) == spec.code_bits
    assert spec.code_bits <= 16 * spec.coded_params / 32


def test_calibrated_deltadq_fits_the_base_linear_inputs(world):
    from exporter.delta_calib import base_float_model, linear_inputs

    names = ["layers.0.fc1.weight_t", "layers.1.fc2.weight_t", "lm_head.dense.weight_t"]
    x = linear_inputs(base_float_model(world["fp32"]), names, testing.TINY_CALIBRATION[:2], max_rows=16)
    assert {n: a.shape for n, a in x.items()} == {names[0]: (16, 32), names[1]: (16, 128), names[2]: (16, 32)}
    out = world["root"] / "d_calib"
    assert main(["delta", "--base", str(world["fp32"]), "--finetuned", str(world["ft"]), "--ratio", "16",
                 "--out", str(out), "--calibrate", "3", "--sequences", "1", "--threads", "1"]) == 0
    d = json.loads((out / "manifest.json").read_text())["delta"]
    assert d["calibration"]["n_sequences"] == 3 and d["bytes"]["codes"] * 8 <= d["params"]["coded"]
