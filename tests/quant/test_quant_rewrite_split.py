"""PWLQ exact split for Linear inputs: split == PWLQ fake-quant followed by the float MatMul.

    h --Abs--> --Less(bp)--> mask ; h_mid = Where(mask, h, 0) ; h_tail = h - h_mid
    h_mid  --Q/DQ(u8, bp/127, 128)--> --MatMul(DQ(W_q))--+
    h_tail --Q/DQ(u8,  M/127, 128)--> --MatMul(DQ(W_q))--+--Add--> (MatMul output) --Add(b)--> y
"""
import numpy as np
import pytest
from onnx import numpy_helper

from quant.calibrate import with_outputs
from quant.pwlq import pwlq_fake_quant
from quant.rewrite import PwlqSplitTarget, PwlqTarget, insert_pwlq_fake_quant, split_pwlq_linears
from quant.sites import linear_sites
from quant.uniform import dequantize, quantize_weight_per_channel
from quant_graphs import optimized_op_types, run_ort, run_reference, wide_linear_case


@pytest.fixture(scope="module")
def case():
    model, x, h, w, b, bound = wide_linear_case(seed=4)
    bp = 0.7
    split = split_pwlq_linears(model, [PwlqSplitTarget(s, bp, bound) for s in linear_sites(model)])
    return model, split, x, h, w, b, bp, bound


def _dequantized_weight(w):
    w_q, p = quantize_weight_per_channel(w, axis=1)
    return dequantize(w_q, p.scale, 0, axis=1)


def test_split_equals_fake_quant_then_float_matmul(case):
    model, split, x, h, w, b, bp, bound = case
    expected = pwlq_fake_quant(h, bp, bound) @ _dequantized_weight(w) + b
    # the same fake-quant form as an ONNX graph, with the float (dequantized) weight
    fake = insert_pwlq_fake_quant(model, [PwlqTarget("h", bp, bound)])
    for init in fake.graph.initializer:
        if init.name == "W":
            init.CopyFrom(numpy_helper.from_array(_dequantized_weight(w), "W"))
    fake_out = run_ort(fake, {"x": x})
    for runner in (run_reference, run_ort):
        for y, y_fake in zip(runner(split, {"x": x}), fake_out):
            np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(y, y_fake, rtol=1e-5, atol=1e-4)


def test_split_parts_are_exact_pieces(case):
    _, split, x, h, *_ , bp, bound = case
    names = ["h_split_mid", "h_split_tail"]
    mid, tail = run_reference(with_outputs(split, names), {"x": x}, names)
    np.testing.assert_array_equal(mid + tail, h)
    assert ((mid == 0) | (np.abs(h) < bp)).all() and ((tail == 0) | (np.abs(h) >= bp)).all()


def test_ort_fuses_split_into_integer_matmuls(case):
    ops = optimized_op_types(case[1])
    assert "MatMul" not in ops
    assert ops.count("MatMulIntegerToFloat") + ops.count("QLinearMatMul") == 4  # 2 per Linear
