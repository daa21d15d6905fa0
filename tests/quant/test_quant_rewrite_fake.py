"""Uniform fake-quant and PWLQ fake-quant rewrites vs numpy, onnx.reference and onnxruntime.

    x --Mul(1)--> t --[Q/DQ or PWLQ chain]--> t' --LayerNormalization (or Identity)--> y
                  t ----------------------------------------------Add(1)----------> z (untouched)

PWLQ chain: t --Abs--> --Less(bp)--> mask ; t --Q/DQ(bp/127)--> mid ; t --Q/DQ(M/127)--> tail ;
            Where(mask, mid, tail).  Dynamic: bp and M computed from t in the graph.
"""
import numpy as np
import pytest

from quant.errors import GraphRewriteError
from quant.pwlq import dynamic_breakpoint, pwlq_dynamic_fake_quant, pwlq_fake_quant
from quant.rewrite import (DynamicPwlqTarget, FakeQuantTarget, PwlqTarget, insert_fake_quant,
                           insert_pwlq_dynamic, insert_pwlq_fake_quant)
from quant.uniform import fake_quant, qparams_affine, qparams_symmetric
from quant_graphs import identity_model, run_ort, run_reference


def _layer_norm(x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)


def _x(seed=0, shape=(2, 6, 16)):
    return np.random.default_rng(seed).standard_t(3, shape).astype(np.float32)


def _check_three_ways(model, x, y_expected, atol=0.0):
    for runner in (run_reference, run_ort):
        y, z = runner(model, {"x": x})
        np.testing.assert_allclose(y, y_expected, rtol=0, atol=atol)
        np.testing.assert_array_equal(z, x + np.float32(1))  # other consumer keeps float t


@pytest.mark.parametrize("qp", [qparams_symmetric(np.float32(2.0), "int8"),
                                qparams_affine(-1.5, 3.0, "uint8")], ids=["int8-sym", "uint8-affine"])
def test_uniform_fake_quant(qp):
    x = _x()
    model = insert_fake_quant(identity_model(16, "Identity"), [FakeQuantTarget("t", qp, ("ln",))])
    _check_three_ways(model, x, fake_quant(x, qp.scale, qp.zero_point, qp.dtype))


def test_uniform_fake_quant_before_layernorm():
    x = _x(1)
    qp = qparams_symmetric(np.float32(np.abs(x).max()), "int8")
    model = insert_fake_quant(identity_model(16), [FakeQuantTarget("t", qp, ("ln",))])
    _check_three_ways(model, x, _layer_norm(fake_quant(x, qp.scale, 0, "int8")), atol=1e-5)


def test_pwlq_static_fake_quant_exact():
    x = _x(2)
    bp, bound = 1.1, float(np.abs(x).max()) * 0.8  # clipping bound below max: saturation path too
    model = insert_pwlq_fake_quant(identity_model(16, "Identity"), [PwlqTarget("t", bp, bound, ("ln",))])
    _check_three_ways(model, x, pwlq_fake_quant(x, bp, bound))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 2 and {"Abs", "Less", "Where"} <= set(ops)


def test_pwlq_static_before_layernorm():
    x = _x(3)
    bp, bound = 0.9, float(np.abs(x).max())
    model = insert_pwlq_fake_quant(identity_model(16), [PwlqTarget("t", bp, bound, ("ln",))])
    _check_three_ways(model, x, _layer_norm(pwlq_fake_quant(x, bp, bound)), atol=1e-5)


def test_pwlq_dynamic_fake_quant():
    model = insert_pwlq_dynamic(identity_model(16, "Identity"), [DynamicPwlqTarget("t", ("ln",))])
    for seed in range(3):
        x = _x(10 + seed, (2, 32, 16))
        expected = pwlq_dynamic_fake_quant(x)
        bp, _ = dynamic_breakpoint(x)
        for runner in (run_reference, run_ort):
            y, _ = runner(model, {"x": x})
            # float32 reductions/Log in another order or libm move bp (hence the mid scale) by
            # ~1 ulp: values agree to float32 precision; elements sitting on bp may switch grid.
            near = np.abs(np.abs(x) - bp) < 1e-5 * bp
            np.testing.assert_allclose(y[~near], expected[~near], rtol=1e-6, atol=0)
            assert np.abs(y - expected).max() <= np.abs(x).max() / 127
    y, _ = run_ort(model, {"x": np.zeros((1, 2, 16), np.float32)})
    assert (y == 0).all()


def test_bad_targets_are_named():
    model = identity_model(16, "Identity")
    with pytest.raises(GraphRewriteError, match="nope"):
        insert_fake_quant(model, [FakeQuantTarget("t", qparams_symmetric(1.0), ("nope",))])
    with pytest.raises(GraphRewriteError, match="'t'|t:"):
        insert_pwlq_fake_quant(model, [PwlqTarget("t", 3.0, 1.0)])
