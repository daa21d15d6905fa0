"""Dynamic int8 rewrite vs numpy, onnx.reference and onnxruntime.

    h --DynamicQuantizeLinear--> (h_q u8, s, z) --MatMulInteger(W_q int8, z, 0)--> int32
      --Cast--> float --Mul(s * s_w)--> (replaces MatMul output) --Add(b)--> y
"""
import numpy as np

from quant.rewrite import quantize_linears_dynamic
from quant.rewrite.dynamic_int8 import dynamic_int8_reference
from quant.sites import linear_sites
from quant.uniform import sqnr_db
from quant_graphs import linear_model, optimized_op_types, run_ort, run_reference


def test_dynamic_int8_matches_numpy_reference_and_ort():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    model = linear_model(w, b, n_consumers=2)
    q = quantize_linears_dynamic(model, linear_sites(model))
    x = (3 * rng.standard_normal((3, 5, 32))).astype(np.float32)
    h = np.maximum(x, 0) - np.float32(0.25)
    expected = dynamic_int8_reference(h, w) + b
    for y in run_reference(q, {"x": x}):
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    for y in run_ort(q, {"x": x}):
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    assert sqnr_db(run_ort(model, {"x": x})[0], run_ort(q, {"x": x})[0]) > 35.0
    assert [n.op_type for n in q.graph.node].count("DynamicQuantizeLinear") == 1  # shared


def test_ort_fuses_dynamic_chain():
    rng = np.random.default_rng(2)
    model = linear_model(rng.standard_normal((8, 4)), rng.standard_normal(4))
    ops = optimized_op_types(quantize_linears_dynamic(model, linear_sites(model)))
    assert "DynamicQuantizeMatMul" in ops or "MatMulIntegerToFloat" in ops
    assert "MatMulInteger" not in ops and "MatMul" not in ops
