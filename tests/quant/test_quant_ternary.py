"""Ternary codec (2Bits of Protein / BitNet b1.58): absmean ternarization, exact 2-bit packing,
and the ternary scheme's graph on the small transformer."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.side_codecs import CodecError, decode_ternary2
from quant import TernaryWeights, make_config, quantize
from quant.ternary import absmean_scale, pack_2bit, ternarize, unpack_2bit
from quant.uniform import sqnr_db
from quant_graphs import optimized_op_types, run_ort, transformer_model


def test_absmean_ternarization_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 48)).astype(np.float32)
    q, gamma = ternarize(w)
    assert gamma.shape == () and np.isclose(gamma, np.abs(w).mean(), rtol=1e-6)
    expected = np.clip(np.rint(w / (np.abs(w).mean() + 1e-5)), -1, 1)
    np.testing.assert_array_equal(q, expected.astype(np.int8))
    assert set(np.unique(q)) == {-1, 0, 1} and q.dtype == np.int8
    # Gaussian weights: |w| < gamma/2 is ~ 31% zeros
    assert 0.2 < float((q == 0).mean()) < 0.45


def test_per_channel_scale_is_per_output_column():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((32, 8)).astype(np.float32) * np.arange(1, 9, dtype=np.float32)
    q, gamma = ternarize(w, "channel")
    np.testing.assert_allclose(gamma, np.abs(w).mean(axis=0), rtol=1e-6)
    # channel scales follow the column scales: reconstruction is better than one scale per matrix
    per_tensor = ternarize(w)[0] * ternarize(w)[1]
    assert sqnr_db(w, q * gamma) > sqnr_db(w, per_tensor)
    assert absmean_scale(np.zeros((3, 2), np.float32)).item() == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1]), min_size=0, max_size=97))
def test_pack_unpack_round_trip_is_exact(values):
    q = np.array(values, dtype=np.int8)
    packed = pack_2bit(q)
    assert packed.dtype == np.uint8 and packed.size == (q.size + 3) // 4
    np.testing.assert_array_equal(unpack_2bit(packed, q.shape), q)
    if q.size:  # the app's decoder (numpy only, app/core/side_codecs.py) reads the same bytes
        np.testing.assert_array_equal(decode_ternary2("w", packed, q.shape), q)


def test_packing_layout_is_little_end_first():
    assert pack_2bit(np.array([1, -1, 0, 1], np.int8)).tolist() == [0b01_00_10_01]
    assert pack_2bit(np.array([-1], np.int8)).tolist() == [0b10]


def test_codec_errors_name_the_input():
    with pytest.raises(ValueError, match="value 2 is not ternary"):
        pack_2bit(np.array([0, 2], np.int8))
    with pytest.raises(ValueError, match="cannot hold shape"):
        unpack_2bit(np.zeros(3, np.uint8), (4, 4))
    with pytest.raises(ValueError, match="invalid code 3"):
        unpack_2bit(np.array([0b11], np.uint8), (1,))
    with pytest.raises(CodecError, match="array 'w'.*code 3"):
        decode_ternary2("w", np.array([0b1100], np.uint8), (2,))
    with pytest.raises(ValueError, match="granularity"):
        TernaryWeights("row")
    with pytest.raises(ValueError, match="must be 2-D"):
        ternarize(np.zeros(4, np.float32))


def test_ternary_scheme_runs_as_integer_matmuls_with_ternary_values():
    rng = np.random.default_rng(0)
    model = transformer_model(rng)
    feed = {"x": rng.standard_normal((2, 24, 32)).astype(np.float32)}
    q, report = quantize(model, make_config("ternary"))  # the test graph names its Linears as ESM-2 does
    assert report["counts"] == {"linear/dynamic/dynamic": 12}
    assert report["weights"][0]["codec"] == "ternary" and len(report["weights"]) == 12
    from onnx import numpy_helper

    ints = [numpy_helper.to_array(t) for t in q.graph.initializer if t.name.endswith("_quantized")]
    assert len(ints) == 12 and all(set(np.unique(a)) <= {-1, 0, 1} for a in ints)
    ops = optimized_op_types(q)  # ORT fuses the chains into integer kernels
    assert sum(ops.count(k) for k in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger")) == 12, ops
    db = sqnr_db(run_ort(model, feed)[0], run_ort(q, feed)[0])
    assert 0.0 < db < 30.0, db  # ternary is coarse: far from exact, yet correlated with fp32
    # `linears` selects which Linears: here only the feed-forward ones
    _, ffn = quantize(model, make_config("ternary", linears=r"^layers\.\d+\.fc[12]\."))
    assert ffn["counts"] == {"linear/dynamic/dynamic": 4}
