"""Model-level bit allocation for DeltaDQ: one total budget, per-matrix ratios chosen by a Lagrangian.

The paper states one compression ratio for the whole model. Coding every matrix at that ratio is
the simple reading (encode_delta per matrix); here matrices whose deltas matter more get more bits:
each matrix is coded once at every ratio of a ladder, then for a multiplier lam every matrix takes
the rung minimising  err_abs^2 + lam * bits, and lam is bisected to the smallest total size that
fits  16 * sum(params) / ratio.  err_abs is ||D - D^||_F, or ||X D^T - X D^^T||_F on calib inputs,
so the pooled error the benches report is what is minimised. Ladder codes can be reused across ratios.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .delta import DeltaCode, code_bits, decode_delta, encode_delta
from .delta_errors import DeltaBudgetError, DeltaInputError, check_ratio

LADDER = tuple(float(2 ** (i / 2)) for i in range(6, 19))   # 8, 11.3, 16, ..., 512 (sqrt 2 steps)
LADDER_BITS = (1, 2)          # the reduced grid of the ladder: b = 1 wins every per-matrix search we ran,
LADDER_GROUPS = (64, None)    # and g = 64 or g = in (None) covers the group sizes it picked


@dataclass(frozen=True, eq=False)
class Rung:
    """One matrix coded at one ladder ratio: its size, absolute squared error and the code."""

    bits: int
    sq_error: float
    code: DeltaCode


def ladder(delta: np.ndarray, ratios=LADDER, calib_inputs: np.ndarray | None = None,
           bits=LADDER_BITS, group_sizes=LADDER_GROUPS) -> list[Rung]:
    """The codes of one matrix at each ladder ratio (those that fit), cheapest last.

    bits / group_sizes: the encode_delta search grid per rung (None in group_sizes = in_features;
    a size that does not divide in_features is skipped; pass None for the full default grids).
    """
    rungs = []
    y = None if calib_inputs is None else calib_inputs @ delta.T
    groups = None if group_sizes is None else tuple(
        sorted({delta.shape[1] if g is None else g for g in group_sizes if g is None or delta.shape[1] % g == 0}))
    for r in ratios:
        try:
            code = encode_delta(delta, r, bits=bits, group_size=groups, calib_inputs=calib_inputs)
        except DeltaBudgetError:
            continue
        d_hat = decode_delta(code)
        err = delta - d_hat if y is None else y - calib_inputs @ d_hat.T
        rungs.append(Rung(code_bits(code), float(np.sum(err.astype(np.float64) ** 2)), code))
    return rungs


def _pick(ladders: dict[str, list[Rung]], lam: float) -> dict[str, Rung]:
    return {n: min(rs, key=lambda r: r.sq_error + lam * r.bits) for n, rs in ladders.items()}


def allocate(ladders: dict[str, list[Rung]], params: dict[str, int], ratio: float) -> dict[str, DeltaCode]:
    """Per-matrix codes from the ladders with total bits <= 16 * sum(params) / ratio, least total error."""
    r = check_ratio(ratio)
    missing = [n for n in params if not ladders.get(n)]
    if missing:
        raise DeltaInputError("ladders", missing[:3], "no rung for these matrices")
    budget = 16.0 * sum(params.values()) / r
    cheapest = sum(min(x.bits for x in rs) for rs in ladders.values())
    if cheapest > budget:
        raise DeltaBudgetError("ratio", ratio, f"even the cheapest rungs need {cheapest} bits > {budget:.0f}")
    def total(lam: float) -> int:
        return sum(x.bits for x in _pick(ladders, lam).values())

    if total(0.0) <= budget:
        return {n: x.code for n, x in _pick(ladders, 0.0).items()}
    lo, hi = -60.0, 20.0                        # log10(lam); total(10^hi) = cheapest <= budget
    for _ in range(80):                          # smallest lam (most bits) that still fits
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if total(10.0**mid) <= budget else (mid, hi)
    return {n: x.code for n, x in _fill(ladders, _pick(ladders, 10.0**hi), budget).items()}


def _fill(ladders: dict[str, list[Rung]], picked: dict[str, Rung], budget: float) -> dict[str, Rung]:
    """Greedy upgrades (most error removed per extra bit) into the budget the Lagrangian hull leaves."""
    picked = dict(picked)
    while True:
        left = budget - sum(x.bits for x in picked.values())
        best, best_gain = None, 0.0
        for n, rs in ladders.items():
            cur = picked[n]
            for x in rs:
                extra = x.bits - cur.bits
                if 0 < extra <= left and (cur.sq_error - x.sq_error) / extra > best_gain:
                    best, best_gain = (n, x), (cur.sq_error - x.sq_error) / extra
        if best is None:
            return picked
        picked[best[0]] = best[1]
