"""normalize_linears turns Gemm / Transpose / Identity weight patterns into MatMul(x, W_init) that quant finds.

    x --Gemm(W (out,in), b, alpha=0.5, beta=2, transB=1)--> g
    x --MatMul(Transpose(V (out,in)))-----------------------> t          y = g + t + u
    x --MatMul(Identity(U (in,out)))------------------------> u
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from exporter.esmfold.normalize import normalize_linears
from quant.sites import linear_sites


def patterns_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w, v = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    u, b = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["g"], name="gemm", alpha=0.5, beta=2.0, transB=1),
             helper.make_node("Transpose", ["V"], ["Vt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "Vt"], ["t"], name="mm_t"),
             helper.make_node("Identity", ["U"], ["U2"]),
             helper.make_node("MatMul", ["x", "U2"], ["u"], name="mm_u"),
             helper.make_node("Add", ["g", "t"], ["gt"]), helper.make_node("Add", ["gt", "u"], ["y"])]
    graph = helper.make_graph(nodes, "patterns", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 5])],
                              [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (v, "V"), (u, "U"), (b, "b"))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_patterns_become_linear_sites_with_the_same_outputs() -> None:
    model = patterns_model()
    assert len(linear_sites(model)) == 0  # none of the three is visible to quant before the pre-pass
    out, counts = normalize_linears(model)
    assert counts == {"identity": 1, "transpose": 1, "gemm": 1}
    assert len(linear_sites(out)) == 3
    assert not any(n.op_type in ("Gemm", "Transpose", "Identity") for n in out.graph.node)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    ref = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = ReferenceEvaluator(out).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    onnx.checker.check_model(out)


def test_shared_structure_module_weights_are_found_after_the_pre_pass(tiny_model) -> None:
    from exporter.esmfold.parts import export_part

    structure = export_part(tiny_model, "structure", structure_loop=False)  # the unrolled trace
    before = len(linear_sites(structure))
    out, counts = normalize_linears(structure)
    # the 2 IPA blocks share weights: block 2 reached them through Identity nodes before the pass
    assert counts["identity"] > 0
    assert len(linear_sites(out)) == before + counts["identity"]
