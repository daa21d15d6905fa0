"""Weight quantizers: how a scheme turns a Linear's float (in, out) weight into int8 values + QParams.

A weight quantizer is a field of every scheme config (quant.configs), so a new weight format is
a new quantizer, not a new rewrite: the ONNX rewrites (quant.rewrite) call `quantize(w)` and
store the int8 values with a DequantizeLinear (or MatMulInteger scale) reading `QParams`.

    PerChannelInt8   symmetric int8, one absmax scale per output channel (axis 1): the default
    TernaryWeights   BitNet b1.58 absmean ternary {-1, 0, 1} (quant.ternary), per matrix or channel
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from .uniform import QParams, quantize_weight_per_channel


class WeightQuantizer(Protocol):
    """(in, out) float32 weight -> (int8 values of the same shape, QParams with axis None or 1)."""

    codec: ClassVar[str]

    def quantize(self, w: np.ndarray) -> tuple[np.ndarray, QParams]: ...

    def describe(self) -> dict: ...


def check_weight(w: np.ndarray, who: str) -> np.ndarray:
    """The weight as float32 (in, out); ValueError naming `who` for another rank or non-finite values."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"{who}: weight must be 2-D (in, out), got shape {list(w.shape)}")
    if not np.isfinite(w).all():
        raise ValueError(f"{who}: weight has NaN or infinite values")
    return w


@dataclass(frozen=True)
class PerChannelInt8:
    """Symmetric int8 per output channel: s[o] = max_i |W[i, o]| / 127 (ONNX DequantizeLinear axis=1)."""

    codec: ClassVar[str] = "int8"
    bits: int = 8

    def __post_init__(self) -> None:
        if self.bits != 8:
            raise ValueError(f"PerChannelInt8: bits={self.bits}; the ONNX rewrites emit 8-bit weights only")

    def quantize(self, w: np.ndarray) -> tuple[np.ndarray, QParams]:
        return quantize_weight_per_channel(check_weight(w, "PerChannelInt8"), axis=1, bits=self.bits)

    def describe(self) -> dict:
        return {"codec": self.codec, "dtype": "int8", "symmetric": True, "axis": 1, "bits": self.bits}
