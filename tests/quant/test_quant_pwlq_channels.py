"""pwlq8's channel-split form and per-channel SmoothQuant end to end on the 2-layer test
transformer (quant_graphs.transformer_model), plus the per-channel statistics they read."""
import numpy as np
import pytest

from quant import apply_scheme, calibration_sites, make_config
from quant.calibrate import calibrate
from quant.handlers.channels import scaled_stats, tail_channels
from quant.observers import ObserverConfig, observe
from quant.rewrite import smooth_linears
from quant.sites import linear_sites
from quant.uniform import sqnr_db
from quant_graphs import optimized_op_types, ort_runner, run_ort, transformer_model
from test_quant_schemes import _feeds


@pytest.fixture(scope="module")
def outlier():
    """Residual stream with two systematic outlier channels (x20 scale, +20 offset)."""
    rng = np.random.default_rng(0)
    model = transformer_model(rng)
    cal, test = _feeds(rng, 8, 20.0), _feeds(rng, 4, 20.0)
    cfg = make_config("pwlq8", split="always")
    stats = calibrate(model, calibration_sites(model, cfg), cal, ort_runner, cfg.observer)
    return model, stats, test


def _score(model, q, test):
    ref = np.concatenate([run_ort(model, f)[0] for f in test])
    return sqnr_db(ref, np.concatenate([run_ort(q, f)[0] for f in test]))


def test_channel_stats_are_per_last_axis_channel():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(3)]
    st = observe("x", xs, ObserverConfig("minmax"))
    flat = np.concatenate([x.reshape(-1, 4) for x in xs])
    np.testing.assert_allclose(st.channel_min, flat.min(0))
    np.testing.assert_allclose(st.channel_max, flat.max(0))
    np.testing.assert_allclose(st.channel_mean, flat.mean(0), rtol=1e-6)
    np.testing.assert_allclose(st.channel_meansq, (flat.astype(np.float64) ** 2).mean(0), rtol=1e-6)
    np.testing.assert_allclose(st.channel_absmax, np.abs(flat).max(0))
    # x / s: the derived stats equal those observed on the scaled samples
    s = np.array([0.5, 2.0, 4.0, 1.0], np.float32)
    direct = observe("xs", [x / s for x in xs], ObserverConfig("minmax"))
    derived = scaled_stats(st, s, "xs")
    for key in ("min", "max", "absmax", "mean", "std", "clip"):
        assert getattr(derived, key) == pytest.approx(getattr(direct, key), rel=1e-5, abs=1e-7), key


def test_tail_channels_pass_the_breakpoint_up_to_the_cap():
    absmax = np.array([0.5, 3.0, 0.9, 7.0, 1.0, 2.0])
    assert tail_channels(absmax, 1.0, 1.0).tolist() == [1, 3, 4, 5]
    assert tail_channels(absmax, 1.0, 0.34).tolist() == [1, 3]  # the two widest
    assert tail_channels(absmax, 10.0, 1.0).tolist() == []


def test_channel_split_puts_the_outlier_channels_in_the_tail(outlier):
    model, stats, test = outlier
    exact, _ = apply_scheme(model, make_config("pwlq8", split="always"), stats)
    q, report = apply_scheme(model, make_config("pwlq8", split="always", linear_form="channels"), stats)
    lin = [s for s in report["sites"] if s["kind"] == "linear"]
    assert {s["form"] for s in lin} == {"channel_split"}
    assert all(s["tail_channels"] <= 0.05 * s["channels"] + 1e-9 for s in lin)
    first = next(s for s in lin if s["tensor"] == "layers.0.self_attn_layer_norm.out")
    assert first["tail_channels"] >= 1
    ops = optimized_op_types(q)
    assert ops.count("MatMulIntegerToFloat") == 12  # one integer MatMul per Linear (the exact form: 24)
    assert optimized_op_types(exact).count("MatMulIntegerToFloat") == 24
    db, db_exact = _score(model, q, test), _score(model, exact, test)
    assert db > db_exact - 3.0, (db, db_exact)


def test_float_tail_is_at_least_as_close_as_the_int8_tail(outlier):
    model, stats, test = outlier
    dbs = {}
    for tail in ("int8", "float"):
        q, _ = apply_scheme(model, make_config("pwlq8", split="always", linear_form="channels", tail=tail,
                                               max_tail_channels=1.0), stats)
        dbs[tail] = _score(model, q, test)
    assert dbs["float"] >= dbs["int8"] - 0.05, dbs


def test_smoothing_is_exact_in_float_and_reported(outlier):
    model, stats, test = outlier
    sites = linear_sites(model)
    rng = np.random.default_rng(2)
    widths = {s.activation: next(int(t.dims[0]) for t in model.graph.initializer if t.name == s.weight) for s in sites}
    scales = {a: rng.uniform(0.2, 5.0, w).astype(np.float32) for a, w in widths.items()}
    smoothed, renamed = smooth_linears(model, sites, scales)
    assert set(renamed) == set(widths)
    for f in test[:2]:
        np.testing.assert_allclose(run_ort(smoothed, f)[0], run_ort(model, f)[0], rtol=1e-4, atol=1e-4)
    q, report = apply_scheme(model, make_config("pwlq8", split="never", smooth_alpha=0.5), stats)
    lin = [s for s in report["sites"] if s["kind"] == "linear"]
    assert all(s["smooth_alpha"] == 0.5 for s in lin) and _score(model, q, test) > 20.0


@pytest.mark.parametrize("kwargs,match", [({"linear_form": "thin"}, "linear_form"), ({"tail": "fp16"}, "tail"),
                                          ({"max_tail_channels": 1.5}, "max_tail_channels"),
                                          ({"smooth_alpha": 1.0}, "smooth_alpha")])
def test_channel_options_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_config("pwlq8", **kwargs)
