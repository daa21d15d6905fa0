"""bench.fold_speed end to end on the tiny preset: every stage and variant timed, scaling and memory arithmetic."""
from __future__ import annotations

import json

import pytest

from bench.fold_packs import ESMFOLD_V1, FoldBenchModel
from bench.fold_speed import TORCH, factors, main
from bench.fold_worker import STAGES

VARIANTS = (TORCH, "ort fp32", "ort int8", "ort pwlq8")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fold_speed")
    out, md = tmp / "fold.json", tmp / "fold.md"
    rc = main(["--preset", "tiny", "--lm-layers", "1", "--trunk-blocks", "2", "--lengths", "12", "--repeats", "2",
               "--warmup", "0", "--pause", "0", "--threads", "1", "--calibration", str(tmp / "none.fasta"),
               "--calibration-size", "2", "--calibration-max-residues", "24", "--work", str(tmp / "work"),
               "--json", str(out), "--md", str(md)])
    assert rc == 0
    return json.loads(out.read_text()), md.read_text()


def test_every_variant_and_stage_is_timed(result):
    data, _ = result
    assert set(data["summary"]) == set(VARIANTS)
    for v in VARIANTS:
        r = data["summary"][v]["12"]
        assert all(r["measured_s"][s] > 0 for s in STAGES), v
        assert len(data["runs"][v]["12"]["seconds"]["trunk"]) == 2  # one per repetition
        assert all(r["peak_bytes"][s] > 10 * 2**20 for s in STAGES), v  # a Python process with its runtime
        assert r["peak_reset"] is True  # /proc/self/clear_refs reset VmHWM before every stage


def test_scaling_to_full_depth(result):
    data, _ = result
    # tiny preset: "full" depth 4 LM layers and 4 trunk blocks, 4 passes (max_recycles)
    f = {"lm": 4 / 1, "trunk": 4 / 2 * 4, "structure": 4.0, "heads": 1.0}
    assert factors(FoldBenchModel("tiny", 1, 2)) == f
    for v in VARIANTS:
        r = data["summary"][v]["12"]
        for s in STAGES:
            assert r["scaled_s"][s] == pytest.approx(r["measured_s"][s] * f[s], rel=1e-12)
        assert r["total_s"] == pytest.approx(sum(r["scaled_s"].values()), rel=1e-12)
    torch_run = data["summary"][TORCH]["12"]
    speedups = {row[1]: row[2] for row in data["targets"]}
    assert set(speedups) == {"ort int8", "ort pwlq8"}
    for v, x in speedups.items():
        assert x == pytest.approx(torch_run["total_s"] / data["summary"][v]["12"]["total_s"])


def test_full_depth_memory_adds_missing_weights(result):
    data, _ = result
    r = data["summary"][TORCH]["12"]
    p = data["load"][TORCH]["params"]
    # torch: 4 bytes for each parameter of the 3 missing LM layers and 2 missing trunk blocks
    assert r["added_weight_bytes"] == pytest.approx(4 * (p["lm_layers"] * 3 + p["trunk_blocks"] / 2 * 2))
    hidden = 2 * 4 * 3 * (12 + 2) * 32  # 3 more ESM hidden states (width 32) kept twice by HF
    assert r["full_depth_peak_bytes"]["lm"] == pytest.approx(r["peak_bytes"]["lm"] + r["added_weight_bytes"] + hidden)
    assert r["full_depth_peak_bytes"]["trunk"] == pytest.approx(r["peak_bytes"]["trunk"] + r["added_weight_bytes"])
    for v in VARIANTS[1:]:
        o = data["summary"][v]["12"]
        assert o["added_weight_bytes"] > 0
        assert o["full_depth_peak_max_bytes"] == pytest.approx(o["peak_max_bytes"] + o["added_weight_bytes"])


def test_report_states_the_method_and_targets(result):
    _, md = result
    assert "LM 1 of 4 layers, trunk 2 of 4 blocks" in md and "x 4 passes" in md
    assert "4 bytes per parameter" in md and "goal >= 3" in md and "goal <= 0.35" in md


def test_esmfold_v1_widths_match_the_library_defaults():
    from transformers.models.esm.configuration_esm import EsmFoldConfig, StructureModuleConfig, TrunkConfig

    trunk, sm = TrunkConfig(), StructureModuleConfig()
    for k, v in ESMFOLD_V1["trunk"].items():
        if k != "chunk_size":  # transformers defaults to 128; fair-esm (and the ONNX trunk) to None
            assert getattr(trunk, k) == v, k
    for k, v in ESMFOLD_V1["structure"].items():
        if k != "dropout_rate":  # 0.1 in training; inference has none
            assert getattr(sm, k) == v, k
    assert EsmFoldConfig().lddt_head_hid_dim == ESMFOLD_V1["lddt_head_hid_dim"]
    cfg = FoldBenchModel("esmfold_v1", 2, 3).config()
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.esmfold_config.trunk.num_blocks) == (2, 2560, 3)
    assert cfg.esmfold_config.fp16_esm is False
