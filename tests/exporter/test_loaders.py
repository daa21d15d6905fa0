"""Loading ESM-2 from local fair-esm .pt files and HuggingFace directories (no downloads)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from packbuild.esm2_graph import build_esm2
from exporter.loaders import load
from packbuild.sequences import encode
from exporter.verify import session
from packbuild.weights import CheckpointError

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def test_huggingface_directory_matches_transformers(hf_dir):
    loaded = load(str(hf_dir))
    tokens = encode(SEQ)
    tokens[0, 3] = 32  # a <mask>
    ref = loaded.reference(tokens, True)
    out = session(build_esm2(loaded.weights, contacts=True)).run(None, {"tokens": tokens})
    np.testing.assert_allclose(out[0], ref["logits"], atol=1e-4)
    np.testing.assert_allclose(out[1], ref["embeddings"], atol=1e-4)
    np.testing.assert_allclose(out[2], ref["contacts"], atol=1e-5)


def test_classification_checkpoint_is_refused_with_a_clear_message(tmp_path):
    from transformers import EsmConfig, EsmForSequenceClassification

    cfg = EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                    intermediate_size=64, position_embedding_type="rotary", pad_token_id=1, num_labels=2)
    EsmForSequenceClassification(cfg).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no masked-LM head"):
        load(str(tmp_path))


def test_fair_esm_native_checkpoint_with_namespace_cfg_and_prefixes(tmp_path, tiny):
    """The layout fair-esm publishes: argparse cfg, 'encoder.sentence_encoder.' key prefixes."""
    import argparse
    from exporter.testing import tiny_torch_model

    model, _ = tiny_torch_model(seed=0)
    cfg = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4, token_dropout=True)
    state = {f"encoder.sentence_encoder.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "esm2_tiny.pt"
    torch.save({"cfg": {"model": cfg}, "model": state}, path)
    loaded = load(str(path))
    for key, value in tiny.weights.arrays.items():
        np.testing.assert_array_equal(loaded.weights.arrays[key], value)


def test_training_checkpoint_loads(tmp_path):
    from exporter.train import build_model, save_checkpoint
    import argparse

    model, _ = build_model(2, 32, 4)
    args = argparse.Namespace(layers=2, embed_dim=32, heads=4)
    save_checkpoint(tmp_path / "ck.pt", model, args, [])
    loaded = load(str(tmp_path / "ck.pt"))
    assert loaded.weights.config.embed_dim == 32
    out = session(build_esm2(loaded.weights)).run(["logits"], {"tokens": encode(SEQ)})[0]
    np.testing.assert_allclose(out, loaded.reference(encode(SEQ), False)["logits"], atol=1e-4)


@pytest.mark.parametrize("spec, message", [
    ("esm2_t6_8M_UR5", "neither an existing directory"),
    ("/nonexistent/model.pt", "neither an existing directory"),
])
def test_unknown_sources_are_named_in_the_error(spec, message):
    with pytest.raises(CheckpointError, match=message):
        load(spec)


def test_non_esm_directory_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="not 'esm'"):
        load(str(tmp_path))


def test_garbage_pt_file_is_refused(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pt"):
        load(str(bad))
