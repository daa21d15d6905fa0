"""Uniform (linear) quantization, r = s * (q - z): scales, zero points, quantize/dequantize/fake-quant."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = {"int8": np.int8, "uint8": np.uint8}


def qrange(dtype: str, bits: int = 8, narrow: bool = False) -> tuple[int, int]:
    """Integer range of a `bits`-wide grid stored in `dtype`; narrow drops -2^(b-1) for int."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} not in {tuple(DTYPES)}")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits={bits} not in [2, 8]")
    if dtype == "int8":
        half = 2 ** (bits - 1)
        return (-(half - 1) if narrow else -half), half - 1
    return 0, 2**bits - 1


@dataclass(frozen=True, eq=False)
class QParams:
    """Quantization parameters of one tensor: per-tensor (axis None, 0-d arrays) or per-channel."""

    scale: np.ndarray        # float32, () or (C,)
    zero_point: np.ndarray   # dtype, same shape as scale
    dtype: str = "int8"
    axis: int | None = None
    bits: int = 8


def compute_scale_zero_point(rmin, rmax, dtype: str = "int8", symmetric: bool = True,
                             bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Scale s and zero point z mapping the real range [rmin, rmax] onto the integer grid.

    Convention (ONNX QuantizeLinear / DequantizeLinear):  r = s * (q - z).
    - The range is first widened to contain 0 (rmin <= 0 <= rmax), so 0 is exactly representable.
    - symmetric: a = max(|rmin|, |rmax|), s = a / (2^(b-1) - 1); z = 0 for int8, 2^(b-1) for uint8
      (e.g. 128): q spans [z - 127, z + 127] for 8 bits and -a, 0, +a are all exact.
    - affine: s = (rmax - rmin) / (qmax - qmin), z = round(qmin - rmin / s) clipped to the grid.
    - degenerate range (rmin == rmax == 0): s = 1, z as above (any s works, 0 stays 0).
    rmin/rmax may be arrays (per channel); returns (float32 scale, zero point in `dtype`).
    """
    lo = np.minimum(np.asarray(rmin, dtype=np.float64), 0.0)
    hi = np.maximum(np.asarray(rmax, dtype=np.float64), 0.0)
    qmin, qmax = qrange(dtype, bits)
    if symmetric:
        amax = np.maximum(-lo, hi)
        s = np.where(amax > 0, amax / (2 ** (bits - 1) - 1), 1.0).astype(np.float32)
        z = np.full(s.shape, 0 if dtype == "int8" else 2 ** (bits - 1), dtype=np.int64)
    else:
        span = hi - lo
        s = np.where(span > 0, span / (qmax - qmin), 1.0).astype(np.float32)
        z = np.clip(np.rint(qmin - lo / s.astype(np.float64)), qmin, qmax).astype(np.int64)
    return s, z.astype(DTYPES[dtype])


def _bshape(p: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """Reshape a per-channel parameter (C,) to broadcast along `axis` of an ndim-D tensor."""
    p = np.asarray(p)
    if axis is None or p.ndim == 0:
        return p
    shape = [1] * ndim
    shape[axis] = p.size
    return p.reshape(shape)


def quantize(x: np.ndarray, scale, zero_point, dtype: str = "int8", axis: int | None = None,
             bits: int = 8) -> np.ndarray:
    """q = clip(rint(x / s) + z, qmin, qmax) in float32 with round-half-even, as QuantizeLinear.

    Saturates to the full `bits`-wide range of `dtype` (e.g. [-128, 127]), like ONNX.
    """
    x = np.asarray(x, dtype=np.float32)
    s = _bshape(np.asarray(scale, dtype=np.float32), x.ndim, axis)
    z = _bshape(np.asarray(zero_point).astype(np.int32), x.ndim, axis)
    qmin, qmax = qrange(dtype, bits)
    q = np.rint(x / s) + z  # float: clip before the integer cast so huge |x| cannot wrap
    return np.clip(q, qmin, qmax).astype(DTYPES[dtype])


def dequantize(q: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """r = s * (q - z) in float32, as DequantizeLinear."""
    q = np.asarray(q)
    s = _bshape(np.asarray(scale, dtype=np.float32), q.ndim, axis)
    z = _bshape(np.asarray(zero_point).astype(np.int32), q.ndim, axis)
    return ((q.astype(np.int32) - z).astype(np.float32) * s).astype(np.float32)


def fake_quant(x: np.ndarray, scale, zero_point, dtype: str = "int8", axis: int | None = None,
               bits: int = 8) -> np.ndarray:
    """dequantize(quantize(x)): the float value the integer grid represents."""
    return dequantize(quantize(x, scale, zero_point, dtype, axis, bits), scale, zero_point, axis)


def qparams_symmetric(absmax, dtype: str = "int8", axis: int | None = None, bits: int = 8) -> QParams:
    """Symmetric QParams for a bound |x| <= absmax (scalar or per channel)."""
    a = np.asarray(absmax, dtype=np.float64)
    s, z = compute_scale_zero_point(-a, a, dtype, True, bits)
    return QParams(s, z, dtype, axis, bits)


def qparams_affine(rmin: float, rmax: float, dtype: str = "uint8", bits: int = 8) -> QParams:
    """Affine per-tensor QParams for the range [rmin, rmax] (widened to contain 0)."""
    s, z = compute_scale_zero_point(rmin, rmax, dtype, False, bits)
    return QParams(s, z, dtype, None, bits)


def quantize_weight_per_channel(w: np.ndarray, axis: int = 1, bits: int = 8
                                ) -> tuple[np.ndarray, QParams]:
    """Symmetric int8 per-channel weight quantization; w (in, out) uses axis=1 (output channel)."""
    reduce_axes = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.abs(w).max(axis=reduce_axes)  # (C,)
    p = qparams_symmetric(absmax, "int8", axis, bits)
    return quantize(w, p.scale, p.zero_point, "int8", axis, bits), p


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio 10 log10(sum r^2 / sum (r - a)^2) in dB."""
    r = np.asarray(reference, dtype=np.float64)
    e = r - np.asarray(approx, dtype=np.float64)
    noise = float(np.sum(e * e))
    return float("inf") if noise == 0.0 else 10.0 * np.log10(float(np.sum(r * r)) / noise)
