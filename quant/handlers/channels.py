"""Which input channels of a Linear get the PWLQ tail grid (the channel-split form of pwlq8), or
are handled apart from the per-token grid (the tokens form: scaled into range, or in float).

A channel is a tail channel when its calibrated range passes the PWLQ breakpoint bp: only there
does the piecewise quantizer ever use its tail grid. The main grid is affine uint8 over the
calibrated range of the other channels (all inside [-bp, bp]), which is never coarser than the
symmetric mid grid bp/127. When more than `max_tail_channels` of the channels pass bp, only the
widest ones go to the tail and the main grid widens to the largest range among the rest.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..observers import TensorStats
from ..pwlq import pwlq_params
from ..rewrite import PwlqChannelTarget, TokenGridTarget
from ..sites import LinearSite
from ..token_grid import channel_scales, token_zero_point, widest_channels
from ..uniform import qparams_affine, qparams_symmetric


def tail_channels(absmax: np.ndarray, bp: float, max_fraction: float) -> np.ndarray:
    """Indices (ascending) of the channels with absmax >= bp, at most floor(max_fraction * C) of
    them (the largest absmax first)."""
    over = np.flatnonzero(absmax >= bp)
    cap = int(np.floor(max_fraction * absmax.size))
    if over.size > cap:
        over = over[np.argsort(-absmax[over], kind="stable")[:cap]]
    return np.sort(over)


def channel_targets(sites: Sequence[LinearSite], st: TensorStats, cfg) -> tuple[list[PwlqChannelTarget], dict]:
    """Targets for every Linear reading the tensor of `st`, and the report fields they share."""
    p = pwlq_params(st, cfg.bits, cfg.breakpoint)
    absmax = st.channel_absmax
    tail = tail_channels(absmax, p.bp, cfg.max_tail_channels)
    rest = np.setdiff1d(np.arange(absmax.size), tail)
    half = max(p.bp, float(absmax[rest].max())) if rest.size else p.bp
    lo, hi = max(st.min, -half), min(st.max, half)  # the calibrated range, clipped to [-half, half]
    if not lo < hi:  # the rest is one constant value: any grid holding it
        lo, hi = min(lo, 0.0) - p.bp, max(hi, 0.0) + p.bp
    main = qparams_affine(lo, hi, "uint8")
    tail_qp = qparams_symmetric(np.float32(p.bound), "uint8") if cfg.tail == "int8" else None
    channels = tuple(int(c) for c in tail)
    targets = [PwlqChannelTarget(s, main, channels, float(np.float32(lo)), float(np.float32(hi)), tail_qp)
               for s in sites]
    info = {"bp": p.bp, "bound": p.bound, "breakpoint_method": p.method, "tail_channels": len(channels),
            "channels": int(absmax.size), "main_lo": lo, "main_hi": hi, "tail": cfg.tail,
            "main_scale": float(main.scale), "main_zero_point": int(main.zero_point)}
    return targets, info


def token_targets(sites: Sequence[LinearSite], st: TensorStats, cfg) -> tuple[list[TokenGridTarget], dict]:
    """Targets of the tokens form for every Linear reading the tensor of `st`: its widest channels
    scaled into the others' range (cfg.token_outliers "scaled") or kept in float ("float"), the
    zero point from the calibrated range of the others."""
    if st.channel_absmax is None:
        raise ValueError(f"{st.name}: the tokens form needs per-channel calibration statistics")
    channels = widest_channels(st.channel_absmax, cfg.token_float_channels)
    rest = np.setdiff1d(np.arange(len(st.channel_min)), channels)
    lo = float(np.min(np.asarray(st.channel_min)[rest])) if rest.size else st.min
    hi = float(np.max(np.asarray(st.channel_max)[rest])) if rest.size else st.max
    z = token_zero_point(lo, hi)
    if cfg.token_outliers == "scaled":
        scale = channel_scales(st.channel_absmax, channels)
        targets = [TokenGridTarget(s, (), z, scale) for s in sites]
        return targets, {"float_channels": 0, "scaled_channels": len(channels), "channels": len(st.channel_min),
                         "zero_point": z, "grid_lo": lo, "grid_hi": hi, "max_channel_scale": max(scale)}
    targets = [TokenGridTarget(s, channels, z) for s in sites]
    return targets, {"float_channels": len(channels), "channels": len(st.channel_min), "zero_point": z,
                     "grid_lo": lo, "grid_hi": hi}


def smoothing_scales(st: TensorStats, weights: Sequence[np.ndarray], alpha: float) -> np.ndarray:
    """SmoothQuant's s_c = absmax_c^alpha / max_o |W[c, o]|^(1 - alpha) over every consumer weight,
    floored so a dead channel (or weight row) keeps a finite, positive scale."""
    a = np.maximum(st.channel_absmax, 1e-6)
    w = np.maximum(np.max([np.abs(x).max(axis=1) for x in weights], axis=0), 1e-6)
    return np.maximum(a ** alpha / w ** (1.0 - alpha), 1e-6).astype(np.float32)


def scaled_stats(st: TensorStats, s: np.ndarray, name: str) -> TensorStats:
    """The statistics of x / s (s per last-axis channel) from those of x: exact per channel and for
    min/max/mean/std (equal counts per channel); the clip scales with the absmax (exact for minmax)."""
    s = np.asarray(s, dtype=np.float64)
    lo, hi = np.asarray(st.channel_min) / s, np.asarray(st.channel_max) / s
    mean_c, sq_c = np.asarray(st.channel_mean) / s, np.asarray(st.channel_meansq) / (s * s)
    mean = float(mean_c.mean())
    std = float(np.sqrt(max(sq_c.mean() - mean * mean, 0.0)))
    absmax = float(max(-lo.min(), hi.max()))
    clip = absmax if st.observer == "minmax" else st.clip * absmax / st.absmax
    return TensorStats(name, st.count, float(lo.min()), float(hi.max()), absmax, mean, std, clip, st.observer,
                       tuple(lo.tolist()), tuple(hi.tolist()), tuple(mean_c.tolist()), tuple(sq_c.tolist()))
