"""Fixtures for exporter tests: tiny random models (fair-esm and HuggingFace), no downloads."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny():
    from exporter.testing import tiny_loaded_model
    return tiny_loaded_model(seed=0)


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory):
    from transformers import EsmConfig, EsmForMaskedLM

    torch.manual_seed(0)
    cfg = EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, position_embedding_type="rotary", token_dropout=True,
                    mask_token_id=32, pad_token_id=1, max_position_embeddings=1026, emb_layer_norm_before=False)
    model = EsmForMaskedLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    path = tmp_path_factory.mktemp("hf_esm")
    model.save_pretrained(path)
    return path
