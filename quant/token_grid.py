"""The per-token 8-bit grid of pwlq8's "tokens" Linear form, as numpy (the reference the ONNX
rewrite quant/rewrite/pwlq_tokens.py is tested against) and its calibrated choices.

Every row r of x (one token's input to a Linear) gets its own scale on a uint8 grid whose zero
point z is fixed per tensor, so that 0 is exact and onnxruntime's integer MatMul takes one
scalar zero point:

    s_r = max(max(x_r, 0) / (255 - z), max(-x_r, 0) / z)       (no element of the row clips)
    q   = clip(round(x / s_r) + z, 0, 255),   x_hat = s_r * (q - z)

A few input channels (the widest by calibrated absmax) would set every row's scale, so they are
handled apart: scaled into the others' range by powers of two folded into the weight rows
(`channel_scales`, the default), or left out of the grid and added back by a thin float MatMul
(`token_fake_quant`'s `float_channels`). On the real ESM-2 8M the wide values of a Linear input
sit in a few channels at LayerNorm outputs and are spread over tokens and channels at attention and
GELU outputs; a per-token scale follows the second, the outlier handling the first
(bench.speed_pwlq_accuracy measures the form end to end).
"""
from __future__ import annotations

import numpy as np

TWO_SIDED_ZERO_POINT = 128   # symmetric grid: LayerNorm and attention outputs
ONE_SIDED_ZERO_POINT = 32    # mostly non-negative tensors (GELU outputs, min ~ -0.17)
ONE_SIDED_RATIO = 0.25       # one-sided when min >= -ONE_SIDED_RATIO * max
MIN_SCALE = 1e-12            # an all-zero row: any scale keeps it zero


def token_zero_point(lo: float, hi: float) -> int:
    """The grid's zero point for a tensor whose calibrated range (over its integer channels) is
    [lo, hi]: 32 when the negative side is small (lo >= -0.25 hi: GELU outputs keep 32 levels
    below zero for their small negative values), else 128 (symmetric)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"calibrated range [{lo}, {hi}] is not finite")
    return ONE_SIDED_ZERO_POINT if hi > 0 and lo >= -ONE_SIDED_RATIO * hi else TWO_SIDED_ZERO_POINT


def widest_channels(absmax: np.ndarray, fraction: float) -> tuple[int, ...]:
    """Indices (ascending) of the round(fraction * C) channels with the largest calibrated absmax."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"float channel fraction {fraction} not in [0, 1)")
    absmax = np.asarray(absmax, dtype=np.float64)
    k = int(round(fraction * absmax.size))
    top = np.argsort(-absmax, kind="stable")[:k]
    return tuple(int(c) for c in np.sort(top))


def channel_scales(absmax: np.ndarray, channels: tuple[int, ...]) -> tuple[float, ...]:
    """m_c = the power of two that brings channel c of `channels` within the largest calibrated
    absmax of the other channels (1 elsewhere): the "scaled" outlier form's factors."""
    absmax = np.asarray(absmax, dtype=np.float64)
    m = np.ones(absmax.size)
    rest = np.setdiff1d(np.arange(absmax.size), channels)
    if rest.size and channels:
        ref = max(float(absmax[rest].max()), 1e-30)
        idx = list(channels)
        m[idx] = np.exp2(np.ceil(np.log2(np.maximum(absmax[idx] / ref, 1.0))))
    return tuple(float(v) for v in m)


def token_scales(x: np.ndarray, zero_point: int) -> np.ndarray:
    """s_r above for every row of x (last axis reduced, kept as size 1), float32."""
    if not 0 < zero_point < 255:
        raise ValueError(f"zero point {zero_point} not in (0, 255)")
    x = np.asarray(x, dtype=np.float32)
    pos = np.maximum(x.max(axis=-1, keepdims=True), 0.0) * np.float32(1.0 / (255 - zero_point))
    neg = np.maximum(-x.min(axis=-1, keepdims=True), 0.0) * np.float32(1.0 / zero_point)
    return np.maximum(np.maximum(pos, neg), np.float32(MIN_SCALE)).astype(np.float32)


def token_fake_quant(x: np.ndarray, zero_point: int, float_channels: tuple[int, ...] = ()) -> np.ndarray:
    """x_hat: every channel but `float_channels` on its row's grid, those channels unchanged."""
    x = np.asarray(x, dtype=np.float32)
    keep = np.ones(x.shape[-1], dtype=np.float32)
    keep[list(float_channels)] = 0.0
    xm = x * keep
    s = token_scales(xm, zero_point)
    q = np.clip(np.round(xm / s) + zero_point, 0, 255)
    out = ((q - zero_point) * s).astype(np.float32)
    out[..., list(float_channels)] = x[..., list(float_channels)]
    return out
