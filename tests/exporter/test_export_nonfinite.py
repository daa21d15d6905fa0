"""An export stops with a message naming the problem when a checkpoint weight is NaN or infinite:
calibration statistics (int8/pwlq8) and verification outputs (every scheme) must be finite."""
from __future__ import annotations

import math

import pytest
import torch

from test_cli import SEQS, run, write_fasta


def poisoned_checkpoint(tmp_path, value: float):
    from exporter.testing import tiny_torch_model

    model, _ = tiny_torch_model(seed=0)
    state = model.state_dict()
    key = next(k for k in state if k.endswith("fc1.weight"))
    state[key][3, 5] = value
    cfg = {"encoder_layers": 2, "encoder_embed_dim": 32, "encoder_attention_heads": 4, "token_dropout": True}
    path = tmp_path / "poisoned.pt"
    torch.save({"cfg": {"model": cfg}, "model": state}, path)
    return path


@pytest.mark.parametrize("scheme,value", [("fp32", math.nan), ("int8", math.inf), ("pwlq8", math.nan)])
def test_non_finite_weights_stop_the_export_with_a_message(tmp_path, scheme, value):
    fasta = write_fasta(tmp_path / "seqs.fasta", SEQS)
    res = run(poisoned_checkpoint(tmp_path, value), "--schemes", scheme, "--out", tmp_path / "packs",
              "--calibration", fasta, "--verify", fasta)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "non-finite" in res.stderr
    if scheme == "fp32":  # no calibration: the verification outputs catch it
        assert "held-out sequence 0" in res.stderr
    else:  # calibration names the first tensor that went non-finite
        assert "calibration sample 0" in res.stderr and "tensor '" in res.stderr
    assert not (tmp_path / "packs" / scheme / "manifest.json").exists()
