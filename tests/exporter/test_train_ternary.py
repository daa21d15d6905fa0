"""exporter.ternary_qat and `exporter.train --ternary`: the BitNet b1.58 formulas, that forward really
uses the ternary weights, the straight-through gradient, and a QAT checkpoint that loads as plain ESM-2."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from exporter.loaders import load
from exporter.ternary_qat import (TernaryLinear, dequantized_ternary, encoder_linear_names, quantize_activations,
                                  ternarize_encoder, ternary_weight)
from exporter.testing import TINY_CALIBRATION
from exporter.train import main as train_main


def tiny_esm2(seed: int = 0):
    import esm
    from esm.model.esm2 import ESM2

    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet, token_dropout=True)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.eval(), alphabet


def tokens(alphabet) -> torch.Tensor:
    conv = alphabet.get_batch_converter()
    return conv([(str(i), s[:40]) for i, s in enumerate(TINY_CALIBRATION[:3])])[2]  # (3, T)


@pytest.mark.parametrize("w, per_channel, q, gamma", [
    # gamma = mean|W| = 0.5; W / gamma = [[2, -0.4], [0, -1.6]] -> RoundClip -> [[1, 0], [0, -1]]
    ([[1.0, -0.2], [0.0, -0.8]], False, [[1, 0], [0, -1]], 0.5),
    # per row: gamma = [0.6, 0.4]; rows / gamma = [1.67, -0.33], [0, -2]
    ([[1.0, -0.2], [0.0, -0.8]], True, [[1, 0], [0, -1]], [[0.6], [0.4]]),
    ([[0.1, 0.1, 0.1, 0.9]], False, [[0, 0, 0, 1]], 0.3),  # 0.1 / 0.3 rounds to 0
])
def test_ternary_weight_is_roundclip_of_w_over_absmean(w, per_channel, q, gamma):
    values, scale = ternary_weight(torch.tensor(w), per_channel)
    assert values.dtype == torch.int8 and values.tolist() == q
    assert torch.allclose(scale, torch.tensor(gamma))
    assert torch.allclose(dequantized_ternary(torch.tensor(w), per_channel), values.float() * scale)


def test_activation_quant_is_absmax_per_token_int8():
    x = torch.randn(5, 7, 16) * torch.logspace(-3, 3, 5)[:, None, None]  # rows of very different ranges
    xq = quantize_activations(x, 8)
    s = 127 / x.abs().amax(-1, keepdim=True)
    codes = xq * s
    assert torch.allclose(codes, codes.round(), atol=1e-3) and codes.abs().max() <= 127 + 1e-3
    assert (codes.abs().amax(-1).round() == 127).all()  # each token's max maps to 127
    assert ((xq - x).abs() <= 0.5 / s + 1e-6).all()
    assert (quantize_activations(torch.zeros(2, 4)) == 0).all()  # eps guards the all-zero token


def test_ternarize_swaps_the_six_encoder_linears_and_keeps_state_dict_keys():
    model, _ = tiny_esm2()
    keys = list(model.state_dict())
    names = ternarize_encoder(model)
    assert names == encoder_linear_names(model) and len(names) == 12
    modules = dict(model.named_modules())
    assert all(isinstance(modules[n], TernaryLinear) for n in names)
    ternary = {n for n, m in modules.items() if isinstance(m, TernaryLinear)}
    assert ternary == set(names)  # not embed_tokens, lm_head.dense, contact_head.regression
    assert list(model.state_dict()) == keys


def test_forward_uses_the_ternary_weights():
    float_model, alphabet = tiny_esm2()
    toks = tokens(alphabet)
    dequant = copy.deepcopy(float_model)
    qat = copy.deepcopy(float_model)
    ternarize_encoder(qat, act_bits=None)
    with torch.no_grad():
        for name in encoder_linear_names(dequant):
            lin = dequant.get_submodule(name)
            lin.weight.copy_(dequantized_ternary(lin.weight))
        ref = dequant(toks, return_contacts=True)
        got = qat(toks, return_contacts=True)  # need_head_weights=True: the other attention path
        plain = qat(toks)["logits"]
        flt = float_model(toks)["logits"]
    assert torch.allclose(got["logits"], ref["logits"], atol=1e-5)
    assert torch.allclose(plain, ref["logits"], atol=1e-5)
    assert torch.allclose(got["contacts"], ref["contacts"], atol=1e-5)
    assert (got["logits"] - flt).abs().max() > 0.1
    # the latent float weights are untouched
    assert torch.equal(qat.layers[0].fc1.weight, float_model.layers[0].fc1.weight)


def test_activation_quant_changes_the_output_a_little():
    model, alphabet = tiny_esm2()
    toks = tokens(alphabet)
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    ternarize_encoder(a, act_bits=None)
    ternarize_encoder(b, act_bits=8)
    with torch.no_grad():
        la, lb = a(toks)["logits"], b(toks)["logits"]
    sqnr = 10 * torch.log10(la.pow(2).mean() / (la - lb).pow(2).mean())
    assert 20 < sqnr < 80  # int8 inputs: close, but not identical


def test_straight_through_gradient_is_the_dequantized_models_gradient():
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8)
    ref = torch.nn.Linear(8, 4)
    with torch.no_grad():
        ref.weight.copy_(dequantized_ternary(lin.weight, per_channel=True))
        ref.bias.copy_(lin.bias)
    qat = TernaryLinear.from_linear(lin, ternarize_config(per_channel=True))
    assert qat.weight is lin.weight
    qat(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    assert torch.allclose(lin.weight.grad, ref.weight.grad, atol=1e-6)
    assert torch.allclose(lin.bias.grad, ref.bias.grad, atol=1e-6)


def ternarize_config(**kw):
    from exporter.ternary_qat import TernaryConfig
    return TernaryConfig(act_bits=None, **kw)


def run_train(tmp_path, out, *extra):
    fasta = tmp_path / "train.fasta"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(TINY_CALIBRATION * 8)))
    train_main(["--data", str(fasta), "--out", str(out), "--layers", "2", "--embed-dim", "32", "--heads", "4",
                "--minutes", "5", "--val-sequences", "4", "--val-batches", "2", "--warmup", "3",
                "--lr", "5e-3", "--crop", "48", "--batch-size", "4", *extra])
    return json.loads(out.with_suffix(".json").read_text())


def test_ternary_training_writes_a_plain_esm2_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "ternary.pt"
    logged = run_train(tmp_path, out, "--ternary", "--ternary-per-channel", "--accumulate", "2",
                       "--max-steps", "6", "--schedule", "steps")
    assert [s["step"] for s in logged["steps"]] == list(range(1, 7))
    assert "float_val_ppl" in logged["history"][0] and logged["history"][-1]["step"] == 6
    ck = torch.load(out, map_location="cpu", weights_only=False)
    assert ck["training"]["ternary"] is True and ck["training"]["ternary_per_channel"] is True
    assert ck["provenance"]["ternary_qat"]["modules"] == 12
    plain, _ = tiny_esm2()
    assert list(ck["model"]) == list(plain.state_dict())
    assert load(str(out)).weights.config.embed_dim == 32

    with pytest.raises(ValueError, match="pass --ternary"):
        run_train(tmp_path, tmp_path / "float.pt", "--resume", str(out), "--max-steps", "1")
    with pytest.raises(ValueError, match="ternary_per_channel"):
        run_train(tmp_path, tmp_path / "r.pt", "--resume", str(out), "--ternary", "--max-steps", "1")
    again = run_train(tmp_path, tmp_path / "resumed.pt", "--resume", str(out), "--ternary",
                      "--ternary-per-channel", "--max-steps", "2")
    assert [s["step"] for s in again["steps"]] == list(range(1, 9))
    assert again["history"][-1]["step"] == 8
    # resuming reproduces the saved QAT model's step-0 perplexity (same weights, same ternarization)
    assert np.isclose(again["history"][len(logged["history"])]["val_ppl"], logged["history"][-1]["val_ppl"],
                      rtol=1e-4)
