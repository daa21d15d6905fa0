"""Piecewise linear quantization (PTQ4Protein "pwlq-3"): two overlapping symmetric b-bit grids.

The middle grid covers [-bp, bp], the tail grid [-M, M] (M = calibrated bound); both are
symmetric with zero point 0 and step half_range / (2^(b-1) - 1):

    Q(x) = fq(x; bp / qmax)   if |x| < bp
           fq(x; M / qmax)    otherwise

The breakpoint comes from the Gaussian error model (quant/error_model.py) with m = M / std:
static (m, std from calibration) or dynamic (m = max|x| / std(x) of the tensor at run time).
Deviation from the released code: its grids use scale 2M / (2^b - 1) and clamp to
[-2^(b-1), 2^(b-1) - 1]; we use the narrow symmetric grid (scale M / 127 at 8 bits) that
ONNX QuantizeLinear with zero point 0 expresses exactly, so +M and -M are both on the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .error_model import breakpoint_std_units, closed_form_breakpoint
from .observers import TensorStats
from .uniform import fake_quant

TINY_SCALE = 1e-30  # floor on in-graph dynamic scales so an all-zero tensor stays finite


@dataclass(frozen=True)
class PwlqParams:
    """Static PWLQ parameters of one tensor (real units)."""

    bp: float        # breakpoint
    bound: float     # M, half-range of the tail grid
    bits: int = 8
    m: float = float("nan")          # M / std used for the breakpoint
    method: str = "numerical"

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def scale_mid(self) -> float:
        return self.bp / self.qmax

    @property
    def scale_tail(self) -> float:
        return self.bound / self.qmax


def pwlq_params(stats: TensorStats, bits: int = 8, method: str = "numerical") -> PwlqParams:
    """Static parameters: M = stats.clip, m = M / std, bp = std * p*(m) (method: numerical|closed_form)."""
    m = stats.m_clip
    bp = breakpoint_std_units(m, method, bits) * stats.std
    return PwlqParams(float(np.float32(bp)), float(np.float32(stats.clip)), bits, m, method)


def pwlq_fake_quant(x: np.ndarray, bp: float, bound: float, bits: int = 8,
                    min_scale: float = 0.0) -> np.ndarray:
    """Q(x) above in float32: middle grid where |x| < bp, tail grid elsewhere.
    Scales are half_range / qmax, floored at min_scale (the dynamic graph uses TINY_SCALE)."""
    x = np.asarray(x, dtype=np.float32)
    qmax = np.float32(2 ** (bits - 1) - 1)
    s_mid = np.maximum(np.float32(bp) / qmax, np.float32(min_scale))
    s_tail = np.maximum(np.float32(bound) / qmax, np.float32(min_scale))
    mid = fake_quant(x, s_mid, 0, "int8", None, bits)
    tail = fake_quant(x, s_tail, 0, "int8", None, bits)
    return np.where(np.abs(x) < np.float32(bp), mid, tail)


def dynamic_breakpoint(x: np.ndarray) -> tuple[np.float32, np.float32]:
    """(bp, M) from the tensor itself, as the dynamic ONNX graph computes them in float32:
    M = max|x|, std = sqrt(mean((x - mean)^2)) (population), m = M / std,
    bp = std * clamp(ln(0.8614 m + 0.6079), 1e-3 m, m)."""
    x = np.asarray(x, dtype=np.float32)
    absmax = np.abs(x).max()
    d = x - x.mean(dtype=np.float32)
    std = np.maximum(np.sqrt(np.mean(d * d, dtype=np.float32)), np.float32(TINY_SCALE))
    m = float(absmax / std)
    p = closed_form_breakpoint(m) if m > 0 else 0.0
    return np.float32(p) * std, absmax


def pwlq_dynamic_fake_quant(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """The paper's dynamic PWLQ: breakpoint and tail bound from the tensor at run time."""
    bp, bound = dynamic_breakpoint(x)
    return pwlq_fake_quant(x, float(bp), float(bound), bits, TINY_SCALE)
