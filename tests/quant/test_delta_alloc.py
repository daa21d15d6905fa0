"""Model-level DeltaDQ allocation (quant/delta_alloc.py): fits the total budget, beats one ratio for all."""
import numpy as np
import pytest

from quant.delta import code_bits, decode_delta, encode_delta
from quant.delta_alloc import allocate, ladder
from quant.delta_errors import DeltaBudgetError, DeltaInputError

LADDER = (8, 16, 32, 64, 128, 256)


@pytest.fixture(scope="module")
def deltas():
    rng = np.random.default_rng(0)
    return {f"layers.{i}.fc1.weight": (s * 1e-3 * rng.normal(size=(32, 128))).astype(np.float32)
            for i, s in enumerate((0.25, 1.0, 4.0))}


@pytest.fixture(scope="module")
def ladders(deltas):
    return {n: ladder(d, LADDER) for n, d in deltas.items()}


def pooled(deltas, codes):
    num = sum(float(np.sum((d - decode_delta(codes[n])) ** 2)) for n, d in deltas.items())
    return (num / sum(float(np.sum(d * d)) for d in deltas.values())) ** 0.5


@pytest.mark.parametrize("ratio", [16, 64])
def test_allocation_fits_and_beats_a_single_ratio(deltas, ladders, ratio):
    params = {n: d.size for n, d in deltas.items()}
    codes = allocate(ladders, params, ratio)
    assert 16 * sum(params.values()) / sum(code_bits(c) for c in codes.values()) >= ratio
    single = {n: encode_delta(d, ratio) for n, d in deltas.items()}
    assert pooled(deltas, codes) < pooled(deltas, single)
    assert code_bits(codes["layers.2.fc1.weight"]) > code_bits(codes["layers.0.fc1.weight"])  # bigger delta, more bits


def test_allocation_errors_name_the_input(deltas, ladders):
    params = {n: d.size for n, d in deltas.items()}
    with pytest.raises(DeltaBudgetError, match="ratio=100000"):
        allocate(ladders, params, 100000)
    with pytest.raises(DeltaInputError, match="ladders="):
        allocate({}, params, 16)
