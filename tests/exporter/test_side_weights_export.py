"""packbuild.side_weights: initializers moved to a weights.npz side file (DESIGN.md section 3)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from packbuild.side_weights import locate, npz_offsets, save_side_file, split_initializers, split_models


def matmul_model(w: np.ndarray, name: str = "W") -> onnx.ModelProto:
    """x (2, K) --MatMul(W)--> y"""
    graph = helper.make_graph([helper.make_node("MatMul", ["x", name], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, w.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, w.shape[1]])],
                              [numpy_helper.from_array(w, name)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


def test_split_leaves_a_placeholder_and_returns_the_array():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    model = matmul_model(w)
    out, arrays = split_initializers(model, ["W"])
    np.testing.assert_array_equal(arrays["W"], w)
    t = out.graph.initializer[0]
    assert (t.name, list(t.dims), t.data_type, t.raw_data) == ("W", [3, 4], TensorProto.FLOAT, b"")
    assert t.data_location == TensorProto.EXTERNAL and t.external_data[0].value == "weights.npz"
    assert model.graph.initializer[0].raw_data  # the input model is untouched


def test_split_refuses_unknown_and_unsupported_initializers():
    with pytest.raises(KeyError, match="no initializer 'V'"):
        split_initializers(matmul_model(np.ones((2, 2), np.float32)), ["V"])
    model = matmul_model(np.ones((2, 2), np.float32))
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((2, 2), np.float64), "W"))
    with pytest.raises(ValueError, match="'W' has ONNX data type 11"):
        split_initializers(model, ["W"])


def test_graphs_that_disagree_on_a_shared_weight_are_refused():
    a, b = matmul_model(np.ones((2, 2), np.float32)), matmul_model(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="'W' differs between the pack's graphs"):
        split_models({"model.onnx": a, "contacts.onnx": b}, lambda t: True)


def test_offsets_point_at_the_array_bytes(tmp_path):
    arrays = {"a.weight_t": np.random.default_rng(0).random((5, 7), dtype=np.float32),
              "b": np.arange(-4, 4, dtype=np.int8)}
    path = save_side_file(tmp_path / "weights.npz", arrays)
    data = path.read_bytes()
    for name, (offset, length) in npz_offsets(path).items():
        assert data[offset:offset + length] == arrays[name].tobytes()


def test_located_graph_runs_in_plain_onnxruntime(tmp_path):
    import onnxruntime as ort

    w = np.random.default_rng(1).random((4, 3), dtype=np.float32)
    split, arrays = split_initializers(matmul_model(w), ["W"])
    save_side_file(tmp_path / "weights.npz", arrays)
    onnx.save_model(locate(split, "weights.npz", npz_offsets(tmp_path / "weights.npz")), str(tmp_path / "m.onnx"))
    x = np.ones((2, 4), np.float32)
    y = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x @ w, rtol=1e-6)
