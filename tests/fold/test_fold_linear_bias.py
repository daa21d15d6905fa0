"""fuse_linear_bias: a quantized Linear's bias Add folded into MatMulIntegerToFloat, same outputs."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from exporter.esmfold.linear_bias import fuse_linear_bias


def _qdq_linears(shared_output: bool) -> onnx.ModelProto:
    """x -> Q -> two Linears (DQ-DQ-MatMul-Add), int8 per-column weights; the second MatMul's output
    also feeds a Relu when `shared_output` (then it must stay unfused)."""
    rng = np.random.default_rng(0)
    k, n = 8, 6
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))

    init("s_x", np.float32(0.05)), init("z_x", np.uint8(128))
    nodes.append(helper.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["x_q"]))
    outputs = []
    for i in range(2):
        init(f"w{i}", rng.integers(-127, 128, (k, n)).astype(np.int8))
        init(f"s_w{i}", rng.uniform(0.01, 0.02, n).astype(np.float32))
        init(f"z_w{i}", np.zeros(n, np.int8))
        init(f"b{i}", rng.standard_normal(n).astype(np.float32))
        nodes += [helper.make_node("DequantizeLinear", ["x_q", "s_x", "z_x"], [f"x_dq{i}"]),
                  helper.make_node("DequantizeLinear", [f"w{i}", f"s_w{i}", f"z_w{i}"], [f"w_dq{i}"], axis=1),
                  helper.make_node("MatMul", [f"x_dq{i}", f"w_dq{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"b{i}", f"mm{i}"] if i == 0 else [f"mm{i}", f"b{i}"], [f"y{i}"])]
        outputs.append(f"y{i}")
    if shared_output:
        nodes.append(helper.make_node("Relu", ["mm1"], ["r"]))
        outputs.append("r")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [3, n]) for o in outputs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_bias_adds_are_folded_and_outputs_unchanged() -> None:
    model = _qdq_linears(shared_output=False)
    fused, count = fuse_linear_bias(model)
    assert count == 2
    ops = [n.op_type for n in fused.graph.node]
    assert ops.count("MatMulIntegerToFloat") == 2 and "MatMul" not in ops and "Add" not in ops
    assert ops.count("DequantizeLinear") == 0 and ops.count("QuantizeLinear") == 1
    onnx.checker.check_model(fused)
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    for a, b in zip(_run(model, x), _run(fused, x)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    assert len(model.graph.node) == 9  # the input model is not modified


def test_a_matmul_read_elsewhere_stays_unfused() -> None:
    model = _qdq_linears(shared_output=True)
    fused, count = fuse_linear_bias(model)
    assert count == 1
    assert [n.op_type for n in fused.graph.node].count("MatMul") == 1
    x = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    for a, b in zip(_run(model, x), _run(fused, x)):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


def test_a_float_model_is_returned_as_is() -> None:
    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    b = numpy_helper.from_array(np.ones(2, np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert fuse_linear_bias(model) == (model, 0)
