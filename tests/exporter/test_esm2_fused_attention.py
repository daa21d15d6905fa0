"""build_esm2(fused_attention=True): attention as onnxruntime's MultiHeadAttention gives fair-esm's
logits (rotary embedding, padding keys and token dropout included) and quantizes like the unfused graph."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from exporter.verify import session
from packbuild.esm2_graph import build_esm2
from packbuild.metrics import sqnr_db
from quant import apply_scheme, calibration_sites, make_config
from quant.calibrate import calibrate
from exporter.quantize import ort_runner
from test_esm2_graph import SEQS, batch


@pytest.fixture(scope="module")
def tiny_torch():
    from exporter.testing import tiny_torch_model
    return tiny_torch_model(seed=0)


@pytest.fixture(scope="module")
def fused(tiny):
    return build_esm2(tiny.weights, fused_attention=True)


def test_fused_graph_uses_the_contrib_op_and_no_attention_matmul(fused, tiny):
    ops = [n.op_type for n in fused.graph.node]
    assert ops.count("MultiHeadAttention") == tiny.weights.config.num_layers and "Softmax" not in ops
    assert {o.domain for o in fused.opset_import} == {"", "com.microsoft"}


@pytest.mark.parametrize("length", [5, 300])
def test_fused_logits_match_fair_esm(tiny_torch, fused, length):
    model, alphabet = tiny_torch
    rng = np.random.default_rng(length)
    tokens = batch(alphabet, [("x", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)))])
    with torch.no_grad():
        ref = model(tokens, repr_layers=[2])
    logits, emb = session(fused).run(["logits", "embeddings"], {"tokens": tokens.numpy()})
    assert sqnr_db(ref["logits"].numpy(), logits) > 100  # the rotary embedding is applied as unfused
    assert sqnr_db(ref["representations"][2].numpy(), emb) > 100


def test_fused_padded_batch_with_mask_tokens_matches_fair_esm(tiny_torch, fused):
    model, alphabet = tiny_torch
    tokens = batch(alphabet)
    tokens[0, 4] = alphabet.mask_idx
    with torch.no_grad():
        ref = model(tokens)["logits"].numpy()
    logits = session(fused).run(["logits"], {"tokens": tokens.numpy()})[0]
    short = len(SEQS[1][1]) + 2  # the short sequence's padding keys are masked out
    np.testing.assert_allclose(logits[:, :short], ref[:, :short], atol=1e-4)
    np.testing.assert_allclose(logits[0], ref[0], atol=1e-4)


def test_fused_graph_quantizes_like_the_unfused_one(tiny, fused):
    from exporter.sequences import encode
    from exporter.testing import TINY_CALIBRATION

    plain = build_esm2(tiny.weights)
    feeds = [{"tokens": encode(s)} for s in TINY_CALIBRATION[:4]]
    cfg = make_config("int8", placement=("linear",))
    outs = []
    for model in (plain, fused):
        stats = calibrate(model, calibration_sites(model, cfg), feeds, ort_runner, cfg.observer)
        q, report = apply_scheme(model, cfg, stats)
        assert set(report["counts"]) == {"linear/uniform/qdq"}
        outs.append(session(q).run(["logits"], feeds[0])[0])
    assert sqnr_db(outs[0], outs[1]) > 60  # same grids, same weights: float rounding only


def test_fused_attention_refuses_the_contact_graph(tiny):
    with pytest.raises(ValueError, match="contact head"):
        build_esm2(tiny.weights, contacts=True, fused_attention=True)
