"""Registry of delta codecs with one interface: encode(delta, ratio, calib_inputs) -> code, decode, bits.

A codec that cannot reach `ratio` (within RATIO_SLACK: BitDelta is 1 bit + one scale, i.e. 15.99x
"16x") raises DeltaBudgetError; benches print n/a for it.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .delta import code_bits, decode_delta, encode_delta
from .delta_baselines import (array_code_bits, decode_array_code, encode_bitdelta, encode_lowrank,
                              encode_magnitude, encode_uniform)
from .delta_errors import DeltaBudgetError, check_ratio

RATIO_SLACK = 0.99  # a fixed-size baseline counts as reaching `ratio` at >= 0.99 * ratio


class Codec(NamedTuple):
    encode: Callable[..., object]          # (delta, ratio, calib_inputs=None) -> code
    decode: Callable[[object], np.ndarray]
    bits: Callable[[object], int]


def _fixed(make: Callable[[np.ndarray], object]) -> Callable[..., object]:
    """A fixed-size encoder, checked against the requested ratio."""
    def encode(delta: np.ndarray, ratio: float, calib_inputs: np.ndarray | None = None) -> object:
        r = check_ratio(ratio)
        code = make(delta)
        reached = 16.0 * np.asarray(delta).size / array_code_bits(code)
        if reached < RATIO_SLACK * r:
            raise DeltaBudgetError("ratio", ratio, f"{code.method} reaches only {reached:.2f}x")
        return code
    return encode


CODECS: dict[str, Codec] = {
    "deltadq": Codec(lambda d, r, calib_inputs=None: encode_delta(d, r, calib_inputs=calib_inputs),
                     decode_delta, code_bits),
    "magnitude_int8": Codec(lambda d, r, calib_inputs=None: encode_magnitude(d, r, 8),
                            decode_array_code, array_code_bits),
    "bitdelta": Codec(_fixed(encode_bitdelta), decode_array_code, array_code_bits),
    "uniform4_g64": Codec(_fixed(lambda d: encode_uniform(d, 4, 64)), decode_array_code, array_code_bits),
    "lowrank_fp16": Codec(lambda d, r, calib_inputs=None: encode_lowrank(d, r), decode_array_code,
                          array_code_bits),
}
