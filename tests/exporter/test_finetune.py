"""exporter.finetune / homologs / finetune_eval: tiny random ESM-2, synthetic assay and homologs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from exporter.finetune import main as finetune_main
from exporter.finetune import split_by_position
from exporter.finetune_eval import main as eval_main
from exporter.finetune_eval import supervised_spearman
from exporter.loaders import load
from exporter.proteingym import read_assay
from exporter.testing import TINY_CALIBRATION, tiny_torch_model

AA = "ACDEFGHIKLMNPQRSTVWY"
WT = TINY_CALIBRATION[6][:40]


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory):
    model, _ = tiny_torch_model(seed=0, std=0.1)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    cfg = {"encoder_layers": 2, "encoder_embed_dim": 32, "encoder_attention_heads": 4, "token_dropout": True}
    torch.save({"cfg": {"model": cfg}, "model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def tiny_assay(tmp_path_factory):
    """Every position gets 3 substitutions plus a few doubles; score = hydrophobicity change."""
    rng = np.random.default_rng(0)
    rows = []
    for i, w in enumerate(WT):
        for a in rng.choice([a for a in AA if a != w], 3, replace=False):
            rows.append((f"{w}{i + 1}{a}", WT[:i] + a + WT[i + 1:], float("AILMFVW".count(a)) - i / 40))
    for i, j in ((0, 1), (5, 30), (10, 11)):
        s = list(WT)
        s[i], s[j] = "A" if WT[i] != "A" else "G", "A" if WT[j] != "A" else "G"
        rows.append((f"{WT[i]}{i + 1}{s[i]}:{WT[j]}{j + 1}{s[j]}", "".join(s), 0.5))
    path = tmp_path_factory.mktemp("assay") / "TINY_TEST_2026.csv"
    path.write_text("mutant,mutated_sequence,DMS_score\n" + "".join(f"{m},{s},{y}\n" for m, s, y in rows))
    return path


def test_position_split_is_disjoint_and_seeded(tiny_assay):
    assay = read_assay(tiny_assay)
    split = split_by_position(assay, test_fraction=0.25, seed=3)
    assert not set(split.train_positions) & set(split.test_positions)
    assert len(split.test_positions) == 10 and len(split.train_positions) == 30
    seen = {int(s[1:-1]) for i in split.train_indices for s in assay.mutants[i].split(":")}
    held = {int(s[1:-1]) for i in split.test_indices for s in assay.mutants[i].split(":")}
    assert seen <= set(split.train_positions) and held <= set(split.test_positions)
    assert len(split.train_indices) + len(split.test_indices) + split.n_dropped == len(assay.mutants)
    assert split == split_by_position(assay, test_fraction=0.25, seed=3)


def test_evo_run_writes_a_loadable_checkpoint_and_log(tiny_pt, tiny_assay, tmp_path):
    rng = np.random.default_rng(1)
    homologs = ["".join(a if rng.random() > 0.3 else rng.choice(list(AA)) for a in WT) for _ in range(12)]
    fasta = tmp_path / "homologs.fasta"
    fasta.write_text("".join(f">h{i}\n{s}\n" for i, s in enumerate(homologs)))
    out = tmp_path / "evo.pt"
    assert finetune_main(["evo", "--init", str(tiny_pt), "--data", str(fasta), "--assay", str(tiny_assay),
                          "--out", str(out), "--max-steps", "6", "--batch-size", "4", "--val-batches", "1",
                          "--lr", "1e-3", "--warmup", "2"]) == 0
    log = json.loads(out.with_suffix(".json").read_text())
    assert [h["step"] for h in log["history"]][-1] == 6
    assert all(np.isfinite(h["val_ppl"]) and "wt_marginal_spearman" in h for h in log["history"])
    assert log["summary"]["n_train"] + log["summary"]["n_val"] == 12
    loaded = load(str(out))
    assert loaded.weights.config.embed_dim == 32
    raw = torch.load(out, weights_only=False)
    assert raw["provenance"]["finetune"]["mode"] == "evo" and raw["provenance"]["init"] == "tiny.pt"


def test_supervised_run_records_split_head_and_test_spearman(tiny_pt, tiny_assay, tmp_path, capsys):
    out = tmp_path / "sup.pt"
    assert finetune_main(["supervised", "--init", str(tiny_pt), "--assay", str(tiny_assay), "--out", str(out),
                          "--max-steps", "5", "--batch-size", "8", "--warmup", "2"]) == 0
    raw = torch.load(out, weights_only=False)
    split = raw["split"]
    assert not set(split["train_positions"]) & set(split["test_positions"])
    assert raw["regression_head"]["embed_dim"] == 32 and np.isfinite(raw["test_spearman"])
    assert load(str(out)).weights.config.num_layers == 2   # still an ESM-2 to the exporter
    again = supervised_spearman(str(out), read_assay(tiny_assay))
    assert again["test_spearman"] == pytest.approx(raw["test_spearman"], abs=1e-3)
    log = json.loads(out.with_suffix(".json").read_text())
    assert log["summary"]["n_test"] == len(split["test_indices"]) and log["history"][-1]["step"] == 5
    capsys.readouterr()
    assert eval_main(["--model", str(tiny_pt), "--assay", str(tiny_assay), "--test-split", str(out)]) == 0
    base = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert base["n_variants"] == len(split["test_indices"]) and np.isfinite(base["spearman"])


def test_phmmer_finds_homologs_and_excludes_the_wild_type(tmp_path):
    from exporter.homologs import SearchConfig, find_homologs

    rng = np.random.default_rng(0)
    wt = "".join(TINY_CALIBRATION[6:8])  # 155 residues

    def mutate(rate):
        return "".join(rng.choice(list(AA)) if rng.random() < rate else a for a in wt)

    db = [("self", wt), ("self_point", wt[:50] + "W" + wt[51:])]
    db += [(f"hom{i}", mutate(0.35)) for i in range(4)]
    db += [(f"rand{i}", "".join(rng.choice(list(AA), 150))) for i in range(30)]
    db_path = tmp_path / "db.fasta"
    db_path.write_text("".join(f">{n}\n{s}\n" for n, s in db))
    out = tmp_path / "homologs.fasta"
    record = find_homologs(wt, db_path, out, SearchConfig(max_evalue=1e-5))
    names = [line[1:].split()[0] for line in out.read_text().splitlines() if line.startswith(">")]
    assert sorted(names) == [f"hom{i}" for i in range(4)]
    assert record["n_excluded_wild_type"] == 2
    assert find_homologs(wt, db_path, out, SearchConfig(max_evalue=1e-5))["cache_key"] == record["cache_key"]
