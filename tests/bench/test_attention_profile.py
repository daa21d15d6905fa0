"""bench.roofline_profile on a graph with integer attention (Int8Config.attention): the 4-D integer
MatMuls count as attention, the Linears' integer MatMuls as Linear GEMM."""
import numpy as np
import onnx
import pytest

from bench.roofline_profile import OrtProfiler


def test_integer_attention_matmuls_are_profiled_as_attention(tmp_path):
    pytest.importorskip("torch")
    from exporter.quantize import ort_runner
    from exporter.sequences import encode
    from exporter.testing import TINY_CALIBRATION, tiny_loaded_model
    from packbuild.esm2_graph import build_esm2
    from quant import make_config, quantize

    model = build_esm2(tiny_loaded_model(0).weights)
    q, _ = quantize(model, make_config("int8", placement=("linear",), attention="int8"),
                    [{"tokens": encode(s)} for s in TINY_CALIBRATION], ort_runner)
    onnx.save(q, tmp_path / "model.onnx")
    (tmp_path / "prof").mkdir()
    prof = OrtProfiler(tmp_path / "model.onnx", 1, tmp_path / "prof")
    tokens = np.array([[0, 5, 6, 7, 8, 9, 2]], np.int64)
    prof.run(tokens, "warmup")
    prof.run(tokens, "a")
    [run] = prof.finish()
    assert "MatMul (attention)" not in run.ops  # no float attention MatMul left
    assert run.ops.get("MatMulIntegerToFloat (attention)", 0.0) > 0.0  # Q.K^T, one per layer
    cats = run.categories()
    assert cats["attention MatMul"] > 0 and cats["Linear GEMM"] > 0
    assert cats["attention MatMul"] == pytest.approx(sum(s for k, s in run.ops.items() if "(attention)" in k))
