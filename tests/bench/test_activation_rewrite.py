"""The activation study's b-bit LayerNorm-input fake-quant equals quant's numpy quantizers and, at 8 bits,
quant's own ONNX rewrites.

    x --[fake-quant chain]--> LayerNormalization(scale=1, bias=0) --> y
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.activation_rewrite import LnTarget, fake_quant_layernorm_inputs

D = 16


def ln_model() -> onnx.ModelProto:
    g = helper.make_graph(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], "ln", epsilon=1e-5)], "ln",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, D])],
        [numpy_helper.from_array(np.ones(D, np.float32), "g"), numpy_helper.from_array(np.zeros(D, np.float32), "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def layer_norm(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, D)).astype(np.float32)
    x[::7, 3] *= 25.0  # heavy tails, as before ESM-2's LayerNorms
    return x


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_uniform_matches_quant_numpy(x, bits):
    from quant.uniform import fake_quant

    bound = float(np.abs(x).max()) * 0.5  # half the range: values beyond must saturate at +-qmax
    qmax = 2 ** (bits - 1) - 1
    got = run(fake_quant_layernorm_inputs(ln_model(), [LnTarget("ln", "x", bound, bound)], "uniform", bits), x)
    ref = layer_norm(fake_quant(np.clip(x, -bound, bound), np.float32(bound) / np.float32(qmax), 0, "int8", None, bits))
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert np.abs(got - layer_norm(x)).max() > 1e-3  # the quantization is really there


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_pwlq_matches_quant_numpy(x, bits):
    from quant.pwlq import pwlq_fake_quant

    bound, bp = float(np.abs(x).max()), 1.5
    got = run(fake_quant_layernorm_inputs(ln_model(), [LnTarget("ln", "x", bound, bp)], "pwlq", bits), x)
    np.testing.assert_allclose(got, layer_norm(pwlq_fake_quant(x, bp, bound, bits)), atol=2e-5)


def test_8bit_equals_quant_onnx_rewrites(x):
    from quant.rewrite import FakeQuantTarget, PwlqTarget, insert_fake_quant, insert_pwlq_fake_quant
    from quant.uniform import qparams_symmetric

    bound, bp = float(np.abs(x).max()), 1.5  # whole range: no saturation, where the two must agree
    ours = fake_quant_layernorm_inputs(ln_model(), [LnTarget("ln", "x", bound, bp)], "uniform", 8)
    theirs = insert_fake_quant(ln_model(), [FakeQuantTarget("x", qparams_symmetric(bound, "int8"), ("ln",))])
    np.testing.assert_allclose(run(ours, x), run(theirs, x), atol=1e-6)
    ours = fake_quant_layernorm_inputs(ln_model(), [LnTarget("ln", "x", bound, bp)], "pwlq", 8)
    theirs = insert_pwlq_fake_quant(ln_model(), [PwlqTarget("x", bp, bound, ("ln",))])
    np.testing.assert_allclose(run(ours, x), run(theirs, x), atol=1e-6)


def test_unknown_node_is_named():
    with pytest.raises(ValueError, match="nope"):
        fake_quant_layernorm_inputs(ln_model(), [LnTarget("nope", "x", 1.0, 0.5)], "uniform", 8)
