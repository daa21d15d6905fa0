"""Uniform quantization: r = s * (q - z), table-driven."""
import numpy as np
import pytest

from quant.uniform import (compute_scale_zero_point, dequantize, fake_quant, qrange, quantize,
                           quantize_weight_per_channel, sqnr_db)

# (rmin, rmax, dtype, symmetric) -> (scale, zero_point)
SCALE_TABLE = [
    ((-1.0, 1.0, "int8", True), (1.0 / 127, 0)),
    ((-2.0, 0.5, "int8", True), (2.0 / 127, 0)),
    ((-2.0, 0.5, "uint8", True), (2.0 / 127, 128)),
    ((0.0, 2.55, "uint8", False), (0.01, 0)),
    ((-1.0, 1.55, "uint8", False), (0.01, 100)),
    ((-2.55, 0.0, "uint8", False), (0.01, 255)),
    ((-1.28, 1.27, "int8", False), (0.01, 0)),
    ((0.5, 2.55, "uint8", False), (0.01, 0)),      # widened to contain 0
    ((-3.0, -1.0, "int8", True), (3.0 / 127, 0)),  # widened to contain 0
    ((0.0, 0.0, "uint8", False), (1.0, 0)),        # degenerate
    ((0.0, 0.0, "uint8", True), (1.0, 128)),
    ((0.0, 0.0, "int8", True), (1.0, 0)),
]


@pytest.mark.parametrize("args,expected", SCALE_TABLE)
def test_compute_scale_zero_point_table(args, expected):
    s, z = compute_scale_zero_point(*args)
    assert s.dtype == np.float32 and z.dtype == (np.int8 if args[2] == "int8" else np.uint8)
    assert float(s) == pytest.approx(expected[0], rel=1e-6)
    assert int(z) == expected[1]


@pytest.mark.parametrize("dtype,symmetric", [("int8", True), ("uint8", True), ("uint8", False), ("int8", False)])
@pytest.mark.parametrize("rmin,rmax", [(-1.0, 3.0), (-5.0, 0.2), (0.0, 1.0), (-0.7, 0.7)])
def test_grid_properties(dtype, symmetric, rmin, rmax):
    s, z = compute_scale_zero_point(rmin, rmax, dtype, symmetric)
    # zero is exact, the range ends are representable, in-range error <= s/2
    assert fake_quant(np.zeros(3, np.float32), s, z, dtype)[0] == 0.0
    x = np.linspace(rmin, rmax, 1001, dtype=np.float32)
    err = np.abs(fake_quant(x, s, z, dtype) - x)
    assert err.max() <= float(s) / 2 * (1 + 1e-5)
    lo, hi = qrange(dtype)
    ends = dequantize(np.array([lo, hi], dtype=np.int8 if dtype == "int8" else np.uint8), s, z)
    half = float(s) / 2 * (1 + 1e-5)  # affine grids are nudged by < s/2 so that 0 is exact
    assert ends[0] <= min(rmin, 0.0) + half and ends[1] >= max(rmax, 0.0) - half


@pytest.mark.parametrize("x,expected_q", [
    ([0.5, 1.5, 2.5, -0.5, -1.5], [0, 2, 2, 0, -2]),       # round half to even, like ONNX
    ([1000.0, -1000.0], [127, -128]),                      # saturation to the dtype range
])
def test_quantize_rounding_and_saturation(x, expected_q):
    q = quantize(np.array(x, np.float32), 1.0, 0, "int8")
    assert q.tolist() == expected_q


@pytest.mark.parametrize("bits,expected", [(8, (-128, 127)), (6, (-32, 31)), (4, (-8, 7))])
def test_qrange_bits(bits, expected):
    assert qrange("int8", bits) == expected
    assert qrange("uint8", bits) == (0, 2**bits - 1)
    assert qrange("int8", bits, narrow=True) == (expected[0] + 1, expected[1])


def test_per_channel_matches_per_tensor_loop():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 5)).astype(np.float32) * np.array([0.1, 1, 10, 3, 0.01], np.float32)
    q, p = quantize_weight_per_channel(w, axis=1)
    assert q.dtype == np.int8 and p.scale.shape == (5,) and (p.zero_point == 0).all()
    for c in range(5):
        qc = quantize(w[:, c], p.scale[c], 0, "int8")
        np.testing.assert_array_equal(q[:, c], qc)
        assert np.abs(q[:, c]).max() == 127     # each channel uses its full grid
    wq = dequantize(q, p.scale, p.zero_point, axis=1)
    assert np.all(np.abs(wq - w) <= p.scale / 2 * (1 + 1e-5))
    assert sqnr_db(w, wq) > 40.0


def test_affine_uint8_beats_symmetric_on_one_sided_data():
    x = np.random.default_rng(1).uniform(0.0, 4.0, 10000).astype(np.float32)
    s_a, z_a = compute_scale_zero_point(0.0, 4.0, "uint8", False)
    s_s, z_s = compute_scale_zero_point(0.0, 4.0, "int8", True)
    assert sqnr_db(x, fake_quant(x, s_a, z_a, "uint8")) > sqnr_db(x, fake_quant(x, s_s, z_s, "int8")) + 5.0


def test_invalid_dtype_and_bits():
    with pytest.raises(ValueError, match="int16"):
        compute_scale_zero_point(-1, 1, "int16")
    with pytest.raises(ValueError, match="bits"):
        qrange("int8", 9)
