"""The hand-written ESM-2 ONNX graph equals fair-esm's forward pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from packbuild.esm2_graph import build_esm2
from packbuild.metrics import sqnr_db
from exporter.verify import session

SEQS = [("a", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDN"), ("b", "MKTAYXAKBZQUO")]


def batch(alphabet, seqs=SEQS):
    return alphabet.get_batch_converter()(seqs)[2]


@pytest.fixture(scope="module")
def tiny_torch():
    from exporter.testing import tiny_torch_model
    return tiny_torch_model(seed=0)


@pytest.fixture(scope="module")
def contact_session(tiny):
    return session(build_esm2(tiny.weights, contacts=True))


@pytest.mark.parametrize("length", [5, 47, 300])
def test_logits_and_embeddings_match_fair_esm_at_several_lengths(tiny_torch, contact_session, length):
    model, alphabet = tiny_torch
    rng = np.random.default_rng(length)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length))
    tokens = batch(alphabet, [("x", seq)])
    with torch.no_grad():
        ref = model(tokens, repr_layers=[2], return_contacts=True)
    logits, emb, contacts = contact_session.run(None, {"tokens": tokens.numpy()})
    assert logits.shape == (1, length + 2, 33)
    assert sqnr_db(ref["logits"].numpy(), logits) > 100
    assert sqnr_db(ref["representations"][2].numpy(), emb) > 100
    assert contacts.shape == (1, length, length)
    np.testing.assert_allclose(contacts, ref["contacts"].numpy(), atol=1e-5)


def test_padded_batch_with_mask_tokens_matches_fair_esm(tiny_torch, contact_session):
    """Padding (attention bias, zeroed embeddings) and token dropout (<mask> rescaling) both match."""
    model, alphabet = tiny_torch
    tokens = batch(alphabet)
    tokens[0, 4] = tokens[0, 9] = alphabet.mask_idx
    with torch.no_grad():
        ref = model(tokens, repr_layers=[2])
    logits, emb, _ = contact_session.run(None, {"tokens": tokens.numpy()})
    short = len(SEQS[1][1]) + 2
    np.testing.assert_allclose(logits[:, :short], ref["logits"].numpy()[:, :short], atol=1e-4)
    np.testing.assert_allclose(logits[0], ref["logits"].numpy()[0], atol=1e-4)
    # a masked copy differs from the unmasked one: token dropout is really applied
    plain = contact_session.run(["logits"], {"tokens": batch(alphabet).numpy()})[0]
    assert np.abs(plain[0, 4] - logits[0, 4]).max() > 1e-3


def test_onnx_reference_evaluator_agrees_with_onnxruntime(tiny, contact_session, tiny_torch):
    tokens = batch(tiny_torch[1])[:1].numpy()
    model = build_esm2(tiny.weights, contacts=True)
    ref = ReferenceEvaluator(model).run(None, {"tokens": tokens})
    out = contact_session.run(None, {"tokens": tokens})
    for r, o in zip(ref, out):
        np.testing.assert_allclose(r, o, atol=1e-4)


def test_linears_are_plain_matmuls_with_named_initializers(tiny):
    """The quantization rewrites find every Linear as MatMul(x, W initializer): 6 per layer + 2 in the head."""
    model = build_esm2(tiny.weights)
    inits = {t.name for t in model.graph.initializer}
    linear = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    assert len(linear) == 6 * 2 + 2
    assert {"layers.0.fc1/MatMul", "layers.1.self_attn.out_proj/MatMul", "lm_head.decoder/MatMul"} <= {
        n.name for n in linear}
    assert sum(n.op_type == "LayerNormalization" for n in model.graph.node) == 2 * 2 + 2
