"""DeltaDQ codec (quant/delta.py) and its baselines: exact decode, honest size, error at equal size."""
import numpy as np
import pytest

from quant.delta import (code_bits, code_from_arrays, code_to_arrays, decode_arrays, decode_delta, encode_delta,
                         header_bits, part_widths, predicted_bits, search_group_size)
from quant.delta_baselines import array_code_bits
from quant.delta_bits import group_ranks, hash_u64, pack_bits, unpack_bits
from quant.delta_codecs import CODECS
from quant.delta_errors import DeltaBudgetError, DeltaInputError

RATIOS = (16, 32, 64, 128)


def lowrank_delta(out=64, inp=256, rank=4, noise=0.3, seed=0):
    """A fine-tune-like delta: rank-`rank` signal plus `noise` x its rms of full-rank noise, ~1e-3."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(out, rank)) @ rng.normal(size=(rank, inp)) / np.sqrt(rank)
    d = d + noise * rng.normal(size=(out, inp))
    return (1e-3 * d).astype(np.float32)


def rel(ref, approx):
    return float(np.linalg.norm(ref - approx) / np.linalg.norm(ref))


@pytest.fixture(scope="module")
def delta():
    return lowrank_delta()


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(1).normal(size=(64, 256)).astype(np.float32)


# --- bit tools: pinned so an app-side copy can be checked against them ---------------------------

def test_hash_is_pinned():
    assert [int(v) for v in hash_u64(0, 2)] == [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4]
    assert [int(v) for v in hash_u64(12345, 2)] == [0xb18b2d42d3e43ad4, 0x838018ef4cae12f0]
    assert group_ranks((2, 8), 4, 1).tolist() == [[0, 2, 3, 1, 1, 2, 0, 3], [2, 3, 0, 1, 2, 1, 3, 0]]


@pytest.mark.parametrize("width", [1, 2, 3, 4, 7, 8, 9])
def test_pack_roundtrip(width):
    v = np.random.default_rng(width).integers(0, 2**width, size=101)
    packed = pack_bits(v, width)
    assert packed.nbytes == (101 * width + 7) // 8
    assert unpack_bits(packed, width, 101).tolist() == v.tolist()


def test_group_ranks_keep_exactly_k_per_group():
    ranks = group_ranks((5, 96), 32, 3)
    kept = (ranks < 7).reshape(5, 3, 32).sum(axis=-1)
    assert (kept == 7).all()


# --- exact, deterministic decode ----------------------------------------------------------------

def test_decode_is_exact_and_deterministic(delta, tmp_path):
    a, b = encode_delta(delta, 16, seed=5), encode_delta(delta, 16, seed=5)
    arrays_a, arrays_b = code_to_arrays(a, "layers.0.fc1"), code_to_arrays(b, "layers.0.fc1")
    assert arrays_a.keys() == arrays_b.keys()
    assert all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a)
    d1 = decode_delta(a)
    np.savez(tmp_path / "d.npz", **arrays_a)
    with np.load(tmp_path / "d.npz") as f:
        d2 = decode_arrays(dict(f), "layers.0.fc1")
        d3 = decode_delta(code_from_arrays(dict(f), "layers.0.fc1"))
    assert d1.dtype == np.float32 and d1.shape == delta.shape
    assert d1.tobytes() == d2.tobytes() == d3.tobytes()


def mirror_decode(a: dict, prefix: str) -> np.ndarray:
    """The app-side decoder, written from quant/delta.py's docstring with numpy + delta_bits only."""
    meta = [int(v) for v in a[f"{prefix}.meta"]]
    rows, cols, seed, g, k, b, has_rel, m = meta[:8]
    mask = group_ranks((rows, cols), g, seed) < k
    n = rows * (cols // g) * k
    q = np.zeros(n, dtype=np.int64)
    for i, w in enumerate(meta[8:8 + m]):
        q = (q << w) | unpack_bits(a[f"{prefix}.part{i}"], w, n)
    u = q.astype(np.float32) - np.float32((2**b - 1) / 2)
    s = a[f"{prefix}.scale"].astype(np.float32) * (a[f"{prefix}.rel"].astype(np.float32) if has_rel else 1)
    out = np.zeros((rows, cols), dtype=np.float32)
    out[mask] = (u.reshape(rows, -1) * s[:, None]).ravel()
    return out


@pytest.mark.parametrize("bits, row_scales", [(1, False), (3, True), (8, True)])
def test_docstring_decoder_matches_bit_for_bit(delta, bits, row_scales):
    code = encode_delta(delta, 32 / bits, bits=bits, row_scales=row_scales, seed=77)    # keep ~ 1/2
    arrays = code_to_arrays(code, "m")
    assert mirror_decode(arrays, "m").tobytes() == decode_delta(code).tobytes()


def test_survivors_are_the_seeded_mask(delta):
    code = encode_delta(delta, 32, bits=2, group_size=16, seed=9)
    nonzero = decode_delta(code) != 0
    assert np.array_equal(nonzero, group_ranks(delta.shape, 16, 9) < code.keep)  # mid-rise: no survivor is 0
    assert code.part_widths == part_widths(2) == (1, 1)


def test_dropping_the_low_part_is_coarser_but_close(delta):
    code = encode_delta(delta, 8, bits=8, group_size=32, row_scales=True)
    full, hi = rel(delta, decode_delta(code)), rel(delta, decode_delta(code, parts=1))
    assert code.part_widths == (4, 4)
    assert full < hi < full + 0.1


def test_least_squares_scale_recovers_the_dare_rescale():
    """Balanced (coherent) intermediate results: fitting x @ delta gives the DARE 1/p rescale."""
    rng = np.random.default_rng(2)
    d = (1e-3 * (1 + 0.1 * rng.normal(size=(8, 256)))).astype(np.float32)
    x = np.abs(rng.normal(size=(32, 256))).astype(np.float32) + 1
    ratio = 16 * d.size / predicted_bits(d.shape, 16, 8, 1, False)   # exactly k = 8 of g = 16 fits
    plain = encode_delta(d, ratio, bits=1, group_size=16, row_scales=False)
    fitted = encode_delta(d, ratio, bits=1, group_size=16, row_scales=False, calib_inputs=x)
    assert plain.keep == fitted.keep == 8
    assert float(fitted.scale[0] / plain.scale[0]) == pytest.approx(16 / 8, rel=0.02)


# --- size accounting ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(64, 256), (40, 320)])
@pytest.mark.parametrize("ratio", RATIOS)
def test_claimed_ratio_is_achieved_and_bits_are_the_bytes(shape, ratio):
    d = lowrank_delta(*shape)
    code = encode_delta(d, ratio)
    arrays = code_to_arrays(code, "w")
    assert code_bits(code) == 8 * sum(a.nbytes for a in arrays.values())
    assert code_bits(code) == predicted_bits(d.shape, code.group_size, code.keep, code.bits, code.rel is not None)
    assert 8 * arrays["w.meta"].nbytes == header_bits(len(code.part_widths))  # the only non-payload array
    assert 16 * d.size / code_bits(code) >= ratio


@pytest.mark.parametrize("name", ["magnitude_int8", "lowrank_fp16"])
@pytest.mark.parametrize("ratio", RATIOS)
def test_baselines_reach_the_ratio(delta, name, ratio):
    codec = CODECS[name]
    if name == "lowrank_fp16" and ratio >= 64:   # rank 1 of (64, 256) in fp16 needs 5120 + 192 bits
        with pytest.raises(DeltaBudgetError, match="not even rank 1"):
            codec.encode(delta, ratio)
        return
    code = codec.encode(delta, ratio)
    assert codec.bits(code) == array_code_bits(code)
    assert 16 * delta.size / codec.bits(code) >= ratio


def test_fixed_size_baselines():
    d = lowrank_delta()
    bd = CODECS["bitdelta"]
    code = bd.encode(d, 16)
    assert 15.8 < 16 * d.size / bd.bits(code) < 16                        # 1 bit + scale + header
    assert np.array_equal(np.sign(bd.decode(code)), np.where(d >= 0, 1, -1))
    with pytest.raises(DeltaBudgetError, match="bitdelta reaches only"):
        bd.encode(d, 32)
    u4 = CODECS["uniform4_g64"]
    code = u4.encode(d, 3.5)
    assert rel(d, u4.decode(code)) < 0.15


# --- error at equal size ------------------------------------------------------------------------

def test_error_vs_baselines_at_equal_size(delta, calib):
    """Measured table (printed with -s): error of x @ delta on white inputs (codes fitted without
    inputs, i.e. on the isotropic proxy). Asserted: DeltaDQ improves as the ratio drops, and beats
    magnitude pruning + int8 up to 64x on this low-rank-ish delta."""
    y = calib @ delta.T
    table = {}
    for name in ("deltadq", "magnitude_int8", "lowrank_fp16"):
        codec = CODECS[name]
        for ratio in RATIOS:
            if name == "lowrank_fp16" and ratio >= 64:
                continue
            d_hat = codec.decode(codec.encode(delta, ratio, calib_inputs=calib))
            table[name, ratio] = rel(y, calib @ d_hat.T)
    for (name, ratio), err in sorted(table.items()):
        print(f"{name:>15} {ratio:>4}x  rel err x@delta {err:.3f}")
    dq = [table["deltadq", r] for r in RATIOS]
    assert dq == sorted(dq) and dq[0] < dq[-1] < 1.0
    assert all(table["deltadq", r] < table["magnitude_int8", r] for r in RATIOS[:3])


def test_search_group_size(delta, calib):
    found = search_group_size(delta, (16, 64, 256), 32, calib_inputs=calib)
    assert found.objective == "outputs" and set(found.errors) == {16, 64, 256}
    assert found.errors[found.best] == min(found.errors.values())
    assert search_group_size(delta, (16, 64), 32).objective == "frobenius"


# --- errors name the offending input ------------------------------------------------------------

@pytest.mark.parametrize("ratio", [0.5, 1, float("nan"), "x"])
def test_bad_ratio(delta, ratio):
    with pytest.raises(DeltaInputError, match="ratio="):
        encode_delta(delta, ratio)


def test_bad_inputs_are_named(delta):
    with pytest.raises(DeltaInputError, match=r"calib_inputs=.*\(3, 100\).*256"):
        encode_delta(delta, 16, calib_inputs=np.zeros((3, 100), np.float32))
    with pytest.raises(DeltaInputError, match=r"delta=.*\(256,\)"):
        encode_delta(np.zeros(256, np.float32), 16)
    with pytest.raises(DeltaInputError, match="delta=.*non-finite"):
        encode_delta(np.full((4, 8), np.nan, np.float32), 16)
    with pytest.raises(DeltaInputError, match="group_size=48"):
        encode_delta(delta, 16, group_size=48)
    with pytest.raises(DeltaInputError, match="bits=0"):
        encode_delta(delta, 16, bits=0)
    with pytest.raises(DeltaBudgetError, match="ratio=100000"):
        encode_delta(delta, 100000)
