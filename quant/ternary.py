"""Ternary weights (2Bits of Protein = BitNet b1.58): absmean ternarization and exact 2-bit packing.

    gamma = mean |W|                    (per matrix, as the paper; or per output channel)
    W~    = RoundClip(W / (gamma + eps), -1, 1)  in {-1, 0, 1}
    W    ~= gamma * W~

The int8 values {-1, 0, 1} with scale gamma run on onnxruntime's int8 MatMul paths (there is no
ternary kernel); on disk they are packed 4 to a byte (`pack_2bit`, code 0 -> 0, 1 -> +1,
2 -> -1, 3 unused), little end first: weight k of a flat row-major array is bits 2(k%4)..2(k%4)+1
of byte k//4. app/core/side_codecs.py decodes the same layout with numpy alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .uniform import QParams
from .weights import check_weight

EPS = 1e-5
GRANULARITIES = ("tensor", "channel")
_CODE_OF = np.array([2, 0, 1], dtype=np.uint8)      # index value + 1: -1 -> 2, 0 -> 0, 1 -> 1
_VALUE_OF = np.array([0, 1, -1, 0], dtype=np.int8)  # code -> value (3 is never written)


def absmean_scale(w: np.ndarray, granularity: str = "tensor") -> np.ndarray:
    """gamma: mean |W| of the (in, out) matrix (0-d), or of each output column (shape (out,))."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"ternary granularity {granularity!r} not in {GRANULARITIES}")
    w = check_weight(w, "absmean_scale")
    axis = None if granularity == "tensor" else 0
    return np.asarray(np.abs(w).mean(axis=axis, dtype=np.float64), dtype=np.float32)


def ternarize(w: np.ndarray, granularity: str = "tensor", eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(W~ int8 in {-1, 0, 1}, gamma float32): RoundClip(W / (gamma + eps), -1, 1), round half to even."""
    w = check_weight(w, "ternarize")
    gamma = absmean_scale(w, granularity)
    q = np.clip(np.rint(w / (gamma.astype(np.float32) + np.float32(eps))), -1, 1).astype(np.int8)
    return q, gamma


def pack_2bit(q: np.ndarray) -> np.ndarray:
    """Flat uint8 array of ceil(q.size / 4) bytes holding the ternary values of q (row-major)."""
    flat = np.asarray(q).reshape(-1)
    if flat.size and (flat.min() < -1 or flat.max() > 1):
        bad = flat[(flat < -1) | (flat > 1)][0]
        raise ValueError(f"pack_2bit: value {int(bad)} is not ternary (-1, 0, 1)")
    codes = _CODE_OF[flat.astype(np.int64) + 1]
    codes = np.concatenate([codes, np.zeros((-codes.size) % 4, np.uint8)]).reshape(-1, 4)
    return (codes[:, 0] | codes[:, 1] << 2 | codes[:, 2] << 4 | codes[:, 3] << 6).astype(np.uint8)


def unpack_2bit(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of pack_2bit: int8 values of `shape`; ValueError on a wrong byte count or code 3."""
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
    n = int(np.prod(shape, dtype=np.int64))
    if packed.size != (n + 3) // 4:
        raise ValueError(f"unpack_2bit: {packed.size} bytes cannot hold shape {list(shape)} ({(n + 3) // 4} needed)")
    codes = np.stack([(packed >> s) & 3 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[:n]
    if (codes == 3).any():
        raise ValueError(f"unpack_2bit: invalid code 3 at weight {int(np.argmax(codes == 3))}")
    return _VALUE_OF[codes].reshape(shape)


@dataclass(frozen=True)
class TernaryWeights:
    """Weight quantizer: absmean ternary values as int8 and gamma as the (per-tensor or axis-1) scale."""

    codec: ClassVar[str] = "ternary"
    granularity: str = "tensor"
    eps: float = EPS

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"TernaryWeights: granularity {self.granularity!r} not in {GRANULARITIES}")

    def quantize(self, w: np.ndarray) -> tuple[np.ndarray, QParams]:
        q, gamma = ternarize(w, self.granularity, self.eps)
        axis = None if self.granularity == "tensor" else 1
        return q, QParams(gamma, np.zeros(gamma.shape, np.int8), "int8", axis)  # stored on the int8 grid

    def describe(self) -> dict:
        return {"codec": self.codec, "dtype": "int8", "values": [-1, 0, 1], "scale": "absmean",
                "granularity": self.granularity, "axis": None if self.granularity == "tensor" else 1,
                "bits": 2, "eps": self.eps}
