"""exporter.train: masking rules, leakage filter, and a short run that learns and writes a loadable checkpoint."""
from __future__ import annotations

import json

import numpy as np

from exporter.loaders import load
from exporter.train import main as train_main
from exporter.train_data import MlmBatches, MlmConfig, drop_near_matches
from exporter.testing import TINY_CALIBRATION


def test_masking_touches_only_residues_and_marks_targets():
    import esm

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    batches = MlmBatches(TINY_CALIBRATION, alphabet, MlmConfig(crop=32, batch_size=64), seed=0)
    tokens, targets = batches.batch()
    special = np.isin(tokens, [alphabet.cls_idx, alphabet.eos_idx, alphabet.padding_idx])
    assert (targets[special] == -100).all()
    chosen = targets != -100
    assert 0.10 < chosen.sum() / (~special).sum() < 0.20          # ~15% of residues
    assert 0.7 < (tokens[chosen] == alphabet.mask_idx).mean() < 0.9  # ~80% of those are <mask>


def test_leakage_filter_drops_near_copies_of_wild_types():
    wt = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDN"
    near = wt[:20] + "W" + wt[21:]
    kept, dropped = drop_near_matches([("a", near), ("b", TINY_CALIBRATION[1])], {"assay": wt})
    assert dropped == 1 and [k for k, _ in kept] == ["b"]


def test_short_training_run_lowers_the_loss_and_exports(tmp_path):
    fasta = tmp_path / "train.fasta"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(TINY_CALIBRATION * 8)))
    out = tmp_path / "ck.pt"
    train_main(["--data", str(fasta), "--out", str(out), "--layers", "1", "--embed-dim", "16", "--heads", "2",
                "--max-steps", "60", "--minutes", "5", "--val-sequences", "4", "--val-batches", "2",
                "--warmup", "5", "--lr", "5e-3", "--crop", "64", "--batch-size", "8"])
    history = json.loads(out.with_suffix(".json").read_text())["history"]
    assert history[-1]["step"] == 60
    assert history[-1]["val_ppl"] < history[0]["val_ppl"]
    assert load(str(out)).weights.config.embed_dim == 16
