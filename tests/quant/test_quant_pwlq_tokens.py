"""pwlq8's tokens form: the per-token uint8 grid with float outlier channels
(quant/token_grid.py, quant/rewrite/pwlq_tokens.py), as numpy math, as an ONNX rewrite in
onnxruntime and the ONNX reference evaluator, and end to end on the 2-layer test transformer."""
import numpy as np
import pytest
from onnx import helper

from quant import apply_scheme, make_config
from quant.rewrite import TokenGridTarget, quantize_linears_static, token_grid_linears
from quant.sites import linear_sites
from quant.token_grid import channel_scales, token_fake_quant, token_scales, token_zero_point, widest_channels
from quant.uniform import qparams_affine, sqnr_db
from quant_graphs import dequantized_weight, optimized_op_types, run_ort, run_reference, wide_linear_case
from test_quant_pwlq_channels import _score, outlier  # noqa: F401  (the module fixture)


@pytest.fixture(scope="module")
def case():
    return wide_linear_case(seed=11)



def _targets(model, channels, z):
    return [TokenGridTarget(s, tuple(channels), z) for s in linear_sites(model)]


def test_each_row_gets_its_own_grid_and_zero_stays_exact():
    x = np.array([[0.0, 1.0, -0.5, 2.0], [0.0, 100.0, -3.0, 0.01], [0.0, 0.0, 0.0, 0.0]], np.float32)
    s = token_scales(x, 32)
    np.testing.assert_allclose(s[:, 0], [max(2.0 / 223, 0.5 / 32), max(100.0 / 223, 3.0 / 32), 1e-12], rtol=1e-6)
    xq = token_fake_quant(x, 32)
    assert (xq[:, 0] == 0).all() and (xq[2] == 0).all()
    assert np.abs(xq - x).max(axis=1)[0] <= s[0, 0] / 2 + 1e-7  # row 0 is not coarsened by row 1
    assert np.abs(xq[0] - x[0]).max() < 0.01
    # the float channels pass through and leave the other channels' grid
    xf = token_fake_quant(x, 32, (1,))
    np.testing.assert_array_equal(xf[:, 1], x[:, 1])
    assert np.abs(xf[1] - x[1]).max() < 3.0 / 32


def test_zero_point_and_float_channels_come_from_the_calibrated_range():
    assert token_zero_point(-0.17, 12.0) == 32        # GELU-like: one-sided
    assert token_zero_point(-5.0, 6.0) == 128         # two-sided
    assert token_zero_point(-1.0, 0.0) == 128
    with pytest.raises(ValueError, match="not finite"):
        token_zero_point(float("nan"), 1.0)
    assert widest_channels(np.array([0.5, 9.0, 1.0, 3.0, 0.2]), 0.4) == (1, 3)
    assert widest_channels(np.array([0.5, 9.0]), 0.0) == ()
    with pytest.raises(ValueError, match="fraction"):
        widest_channels(np.ones(4), 1.0)


@pytest.mark.parametrize("channels,z", [((), 128), ((), 32), ((2, 7, 13), 32), ((0, 15), 128)])
def test_rewrite_equals_the_numpy_grid(case, channels, z):
    model, x, h, w, b, _ = case
    q = token_grid_linears(model, _targets(model, channels, z))
    expected = token_fake_quant(h, z, channels) @ dequantized_weight(w) + b
    for runner in (run_reference, run_ort):
        for y in runner(q, {"x": x}):
            np.testing.assert_allclose(y, expected, rtol=1e-4, atol=2e-4)


def test_scaled_outliers_equal_the_grid_of_the_scaled_input(case):
    """token_outliers "scaled": x_c / m_c on the grid, weight row c times m_c, one MatMul."""
    model, x, h, w, b, _ = case
    m = np.ones(16)
    m[[2, 7]] = [4.0, 8.0]
    q = token_grid_linears(model, [TokenGridTarget(s, (), 32, tuple(m)) for s in linear_sites(model)])
    expected = token_fake_quant(h / m.astype(np.float32), 32) @ dequantized_weight(w * m[:, None].astype(np.float32)) + b
    for runner in (run_reference, run_ort):
        for y in runner(q, {"x": x}):
            np.testing.assert_allclose(y, expected, rtol=1e-4, atol=2e-4)
    ops = optimized_op_types(q)
    assert "Gather" not in ops and "MatMul" not in ops and ops.count("MatMulIntegerToFloat") == 2
    assert channel_scales(np.array([1.0, 3.0, 0.5, 9.0]), (3,)) == (1.0, 1.0, 1.0, 4.0)  # 9 / 3 -> 4
    with pytest.raises(ValueError, match="channel_scale"):
        token_grid_linears(model, [TokenGridTarget(s, (1,), 32, tuple(m)) for s in linear_sites(model)])


def test_ort_runs_one_integer_matmul_per_linear_and_shares_the_grid(case):
    model, *_ = case
    ops = optimized_op_types(token_grid_linears(model, _targets(model, (2, 3), 32)))
    assert ops.count("MatMulIntegerToFloat") + ops.count("QLinearMatMul") == 2
    assert ops.count("ReduceMax") == 1 and ops.count("Gather") == 1  # one grid for both consumers
    assert ops.count("MatMul") == 1  # the thin float MatMul (both Linears share W here: ORT merges them)
    assert ops.count("Sum") == 2 and "Add" not in ops  # one Sum joins both parts and the bias


def test_session_creation_stays_linear_in_the_number_of_linears():
    """A chain of Linears rewritten to the tokens form loads in about twice the time for twice the
    Linears (a Shape-driven Gemm form once made it ~5x)."""
    import time

    import onnxruntime as ort

    from quant_graphs import f32, make_model

    def chain(n: int):
        rng = np.random.default_rng(0)
        nodes, inits, x = [], {}, "x"
        for i in range(n):
            inits[f"W{i}"] = rng.standard_normal((16, 16)).astype(np.float32)
            inits[f"b{i}"] = np.zeros(16, np.float32)
            nodes += [helper.make_node("Relu", [x], [f"r{i}"], name=f"relu{i}"),
                      helper.make_node("MatMul", [f"r{i}", f"W{i}"], [f"m{i}"], name=f"mm{i}"),
                      helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"], name=f"add{i}")]
            x = f"y{i}"
        model = make_model(nodes, [f32("x", ["B", "L", 16])], [f32(x, ["B", "L", 16])], inits)
        return token_grid_linears(model, _targets(model, (1, 2), 128))

    def load_s(model) -> float:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        data = model.SerializeToString()
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            best = min(best, time.perf_counter() - t0)
        return best

    small, large = load_s(chain(60)), load_s(chain(240))
    assert large < 8.0 * small + 0.5, (small, large)  # 4x the Linears: linear is ~4x, the Gemm form was ~20x


def test_rewrite_rejects_bad_targets(case):
    model, *_ = case
    with pytest.raises(ValueError, match="zero point"):
        token_grid_linears(model, _targets(model, (), 0))
    with pytest.raises(ValueError, match="distinct indices"):
        token_grid_linears(model, _targets(model, (3, 16), 128))


@pytest.mark.parametrize("outliers", ["scaled", "float"])
def test_tokens_form_runs_like_int8_and_tracks_the_exact_split(outlier, outliers):  # noqa: F811
    model, stats, test = outlier
    cfg = make_config("pwlq8", split="always", linear_form="tokens", token_outliers=outliers)
    q, report = apply_scheme(model, cfg, stats)
    lin = [s for s in report["sites"] if s["kind"] == "linear"]
    assert {s["form"] for s in lin} == {"tokens"}
    key = "scaled_channels" if outliers == "scaled" else "float_channels"
    assert all(s[key] == round(0.02 * s["channels"]) for s in lin)
    assert {s["zero_point"] for s in lin if s["tensor"].endswith(".act")} == {32}  # ReLU outputs: one-sided
    assert {s["zero_point"] for s in lin if s["tensor"].endswith("norm.out")} == {128}
    ops = optimized_op_types(q)
    assert ops.count("MatMulIntegerToFloat") == 12  # one integer MatMul per Linear, as int8
    assert ("Gather" in ops) == (outliers == "float")  # the scaled form has no float part at all
    exact, _ = apply_scheme(model, make_config("pwlq8", split="always"), stats)
    db, db_exact = _score(model, q, test), _score(model, exact, test)
    assert db > db_exact - 1.0, (db, db_exact)


def test_outlier_channels_and_wide_tokens_beat_a_per_tensor_grid(case):
    """Two wide channels and a few wide tokens: per-tensor int8 spends its grid on them, the
    tokens form keeps the channels in float and gives each token its own scale."""
    model, _, _, w, b, _ = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 20, 16)).astype(np.float32)
    x[..., [3, 9]] *= 30.0
    x[:, ::5] *= 6.0
    h = np.maximum(x, 0) - np.float32(0.25)
    ref = run_ort(model, {"x": x})
    tokens = token_grid_linears(model, _targets(model, (3, 9), token_zero_point(-0.25, 1.0)))
    plain = quantize_linears_static(model, linear_sites(model), {"h": qparams_affine(float(h.min()), float(h.max()),
                                                                                    "uint8")})
    db_tokens = sqnr_db(ref[0], run_ort(tokens, {"x": x})[0])
    db_plain = sqnr_db(ref[0], run_ort(plain, {"x": x})[0])
    assert db_tokens > db_plain + 6.0, (db_tokens, db_plain)  # measured 47.6 vs 38.2 dB


def test_split_linears_limits_which_linears_are_split(outlier):  # noqa: F811
    model, stats, _ = outlier
    _, report = apply_scheme(model, make_config("pwlq8", split="always", split_linears=r"fc2"), stats)
    forms = {s["weight"]: s["form"] for s in report["sites"] if s["kind"] == "linear"}
    assert {f for w, f in forms.items() if "fc2" in w} == {"split"}
    assert {f for w, f in forms.items() if "fc2" not in w} == {"qdq"}
    with pytest.raises(ValueError, match="split_linears"):
        make_config("pwlq8", split_linears="(")
    with pytest.raises(ValueError, match="token_float_channels"):
        make_config("pwlq8", token_float_channels=1.0)


def test_grid_sqnr_tracks_the_row_range():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    x[::8] *= 50.0  # a few wide tokens
    per_tensor_scale = np.abs(x).max() / 127
    per_tensor = np.clip(np.round(x / per_tensor_scale), -127, 127) * per_tensor_scale
    assert sqnr_db(x, token_fake_quant(x, 128)) > sqnr_db(x, per_tensor) + 6.0
