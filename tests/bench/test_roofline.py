"""bench/roofline.py: the GEMM table on tiny shapes, the per-op profile of a tiny pack, the bounds' arithmetic."""
import numpy as np
import pytest

from bench import roofline, roofline_e2e, roofline_gemm as gemm
from bench.roofline_profile import CATEGORIES, OrtProfiler, parse_ort_profile

TINY = [gemm.Case("tiny", "q/k/v/out", 8, 16, 16, 1, 4), gemm.Case("tiny", "fc1", 8, 16, 64),
        gemm.Case("tiny", "fc2", 8, 64, 16), gemm.Case("tiny", "Q.K^T", 8, 4, 8, 2)]


@pytest.fixture(scope="module")
def gemm_results():
    pytest.importorskip("torch")
    return gemm.measure(TINY, threads=1, repeats=2, min_sample_s=0.001, pause_s=0.0)


def test_gemm_table_has_a_row_per_linear_and_attention_case_with_positive_numbers(gemm_results):
    rows = roofline.linear_rows(gemm_results)
    assert [(r[1], r[2], r[3]) for r in rows] == [("q/k/v/out", 8, "16 x 16"), ("fc1", 8, "16 x 64"),
                                                   ("fc2", 8, "64 x 16")]
    assert all(isinstance(v, float) and v > 0 for r in rows for v in r[4:])
    att = roofline.attention_rows(gemm_results)
    assert len(att) == 1 and att[0][:5] == ["tiny", "Q.K^T", 8, 2, "8 x 4 x 8"] and all(v > 0 for v in att[0][5:])
    assert all(len(r["seconds"][b]) == 2 for r in gemm_results for b in r["seconds"])
    text = roofline.report({"meta": _meta(), "gemm": {"int8_ops": ["QuantizeLinear", "MatMulIntegerToFloat"],
                                                      "results": gemm_results}})
    assert "| tiny | fc1 | 8 | 16 x 64 |" in text and "| tiny | Q.K^T | 8 | 2 |" in text


def test_int8_backend_is_the_fused_integer_matmul_and_computes_the_product():
    assert gemm.int8_fused_ops(1) == ["QuantizeLinear", "MatMulIntegerToFloat"]
    from app.core.session import open_session

    rng = np.random.default_rng(1)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    x = rng.standard_normal((5, 32)).astype(np.float32)
    y = open_session(gemm.int8_graph(32, 24, w, x).SerializeToString(), threads=1).run(None, {"x": x})[0]
    ref = x @ w
    assert 10 * np.log10(np.sum(ref ** 2) / np.sum((y - ref) ** 2)) > 30.0


def test_ort_profile_of_a_tiny_pack_splits_every_pass_into_categories(tmp_path, tiny_pack):
    from app.core.pack import load_pack

    pack = load_pack(tiny_pack)
    prof = OrtProfiler(pack.model_path, 1, tmp_path)
    tokens = np.array([[0, 5, 6, 7, 8, 9, 2], [0, 10, 11, 12, 2, 1, 1]], np.int64)
    prof.run(tokens, "warmup")
    prof.run(tokens, "a")
    prof.run(tokens[:1], "b")
    runs = prof.finish()
    assert [r.label for r in runs] == ["a", "b"]
    for r in runs:
        cats = r.categories()
        assert set(cats) == set(CATEGORIES)
        assert cats["Linear GEMM"] > 0 and cats["attention MatMul"] > 0 and cats["LayerNorm"] > 0
        assert r.node_s <= r.wall_s and sum(cats.values()) == pytest.approx(r.wall_s)
    assert not list(tmp_path.iterdir())  # the profile file is read and removed


def test_parse_ort_profile_assigns_kernels_to_runs_and_tells_attention_from_weights():
    def node(ts, op, shapes):
        return {"cat": "Node", "name": f"n{ts}_kernel_time", "ts": ts, "dur": 10,
                "args": {"op_name": op, "input_type_shape": [{"float": s} for s in shapes]}}
    events = [{"cat": "Session", "name": "model_run", "ts": 100, "dur": 100},
              {"cat": "Session", "name": "model_run", "ts": 300, "dur": 100},
              node(110, "MatMul", [[1, 4, 8, 2], [1, 4, 2, 8]]), node(120, "MatMul", [[1, 8, 16], [16, 32]]),
              node(310, "Softmax", [[1, 4, 8, 8]]), node(250, "Add", [[3]])]  # 250: between runs, dropped
    a, b = parse_ort_profile(events, ["x", "y"], [0.001, 0.002])
    assert a.ops == pytest.approx({"MatMul (attention)": 1e-5, "MatMul (weights)": 1e-5})
    assert b.ops == pytest.approx({"Softmax": 1e-5})
    assert a.categories()["attention MatMul"] == pytest.approx(1e-5) and a.categories()["Linear GEMM"] == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="2 model_run events for 1 runs"):
        parse_ort_profile(events, ["x"], [0.001])


def test_packing_fit_recovers_fixed_and_marginal_costs_and_bounds_the_gain():
    sizes = [1, 3, 6]
    fixed, marginal = {c: 0.0 for c in CATEGORIES}, {c: 0.001 for c in CATEGORIES}
    fixed["session overhead"], fixed["layout/other"] = 0.004, 0.002
    per = {k: {c: (fixed[c] + marginal[c] * k) / k for c in CATEGORIES} for k in sizes}
    for k in sizes:
        per[k]["total"] = sum(per[k][c] for c in CATEGORIES)
    fit = roofline_e2e.fit_fixed_marginal(per, sizes)
    assert fit["session overhead"] == pytest.approx((0.004, 0.001)) and fit["GELU"] == pytest.approx((0.0, 0.001))
    rows = roofline_e2e.packing_bounds({"sizes": sizes, "per_record_s": per, "fit": fit,
                                        "tokens_per_pass": {1: 10, 3: 30, 6: 60}})
    one = per[1]["total"]  # 9 categories x 1 ms + 6 ms fixed
    assert [r[1] for r in rows] == pytest.approx([one / per[3]["total"], one / per[6]["total"], one / 0.009])
    assert rows[-1][1] == pytest.approx(15 / 9)


def test_int8_bounds_use_the_profile_and_the_kernel_table():
    cats = {c: 0.0 for c in CATEGORIES}
    q = {**cats, "Linear GEMM": 0.2, "attention MatMul": 0.1, "softmax": 0.05, "elementwise": 0.15}
    t = {**cats, "Linear GEMM": 0.6, "attention MatMul": 0.2, "elementwise": 0.2}
    e2e = {"torch_wall_s": [1.0], "int8_wall_s": [0.5], "int8_categories_s": q, "torch_categories_s": t,
           "length": 500}
    table = [{"op": op, "m": 512, "k": k, "n": n, "per_layer": per, "seconds": {"torch fp32": [3e-3], "ort int8": [1e-3]}}
             for op, k, n, per in (("q/k/v/out", 4, 4, 4), ("fc1", 4, 16, 1), ("fc2", 16, 4, 1))]
    rows = roofline_e2e.int8_bounds(e2e, table, num_layers=2, embed_dim=4)
    assert [r[1] for r in rows] == pytest.approx([2.0, 5.0, 1 / 0.35, 1 / (0.4 + 0.2), 1 / (2 * 6e-3)])
    assert "3.00x at M = 512" in rows[3][0]


def _meta():
    return {"date": "now", "cpu": {"model": "cpu", "logical_cpus": 1, "flags": {}}, "threads": 1,
            "onnxruntime": "x", "torch": "y", "load_start": 0.0, "load_end": 0.0, "command": "c", "repeats": 2,
            "int8_repeats": 1, "pack_repeats": 1, "other_cores": {"gemm": 0.5}}
