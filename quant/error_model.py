"""Gaussian expected-error model of uniform and PWLQ quantizers: breakpoint solve, closed form, split policy.

Everything is in units of the tensor's std: the input is X ~ N(0, 1), the quantizer's bound is
m = M / std, the breakpoint p = bp / std. A b-bit symmetric grid of half-range a has step
a / (2^(b-1) - 1) and rounding noise step^2 / 12 (uniform-noise model, as in Fang et al. 2020,
"Post-training piecewise linear quantization"). The input is N(0, 1) clipped (truncated) at m:
M is the observed bound, so no mass lies beyond it and there is no clipping-error term
(it would not depend on p anyway).
"""
from __future__ import annotations

import math

import numpy as np

GRID_MODELS = ("overlap", "disjoint")
BREAKPOINT_METHODS = ("numerical", "closed_form")
# Fang et al. 2020 / PTQ4Protein fit of the disjoint-model optimum for a Gaussian.
_CF_COEF, _CF_INTERCEPT = 0.86143114, 0.607901097496529
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _p_abs_below(p: float) -> float:
    """P(|X| < p) for X ~ N(0, 1)."""
    return math.erf(p / math.sqrt(2.0))


def _qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def uniform_expected_error(m: float, bits: int = 8) -> float:
    """Expected squared error of a symmetric b-bit grid over [-m, m]: P(|X|<=m) (m/qmax)^2/12 (truncated at m)."""
    return _p_abs_below(m) * (m / _qmax(bits)) ** 2 / 12.0


def pwlq_expected_error(p: float, m: float, bits: int = 8, model: str = "overlap") -> float:
    """Expected squared error of the two-grid quantizer with breakpoint p (units of std).

    overlap  (PTQ4Protein "pwlq-3", what quant/pwlq.py implements): middle grid b bits over
             [-p, p], tail grid b bits over [-m, m]:
             E = P(|X|<p) (p/q)^2/12 + P(p<=|X|<=m) (m/q)^2/12,    q = 2^(b-1) - 1
    disjoint (Fang et al. option 2): tails [p, m] on (b-1)-bit unsigned grids:
             E = P(|X|<p) (p/q)^2/12 + P(p<=|X|<=m) ((m-p)/q)^2/12
    """
    if model not in GRID_MODELS:
        raise ValueError(f"grid model {model!r} not in {GRID_MODELS}")
    q = _qmax(bits)
    f_p, f_m = _p_abs_below(p), _p_abs_below(m)
    tail_half = m if model == "overlap" else (m - p)
    return (f_p * (p / q) ** 2 + (f_m - f_p) * (tail_half / q) ** 2) / 12.0


def _golden_min(f, lo: float, hi: float, tol: float) -> float:
    """Golden-section search for the minimum of a unimodal f on [lo, hi]."""
    a, b = lo, hi
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    return 0.5 * (a + b)


def solve_breakpoint(m: float, bits: int = 8, model: str = "overlap", tol: float = 1e-7) -> float:
    """Numerical optimum p* = argmin_p pwlq_expected_error(p, m) on (0, m): 64-point grid, then
    golden-section refinement inside the bracketing cell. Units of std."""
    _check_m(m)
    grid = np.linspace(0.0, m, 65)[1:]
    errs = [pwlq_expected_error(float(p), m, bits, model) for p in grid]
    i = int(np.argmin(errs))
    lo = float(grid[i - 1]) if i > 0 else 0.0
    hi = float(grid[min(i + 1, grid.size - 1)])
    return _golden_min(lambda p: pwlq_expected_error(p, m, bits, model), lo, hi, tol)


def closed_form_breakpoint(m: float) -> float:
    """p ~ ln(0.8614 m + 0.6079) (units of std), clamped to (0, m]; fit of the disjoint model's
    Gaussian optimum (Fang et al. 2020), as used by PTQ4Protein. Meant for m >= ~2."""
    _check_m(m)
    return float(min(m, max(math.log(_CF_COEF * m + _CF_INTERCEPT), 1e-3 * m)))


def breakpoint_std_units(m: float, method: str = "numerical", bits: int = 8,
                         model: str = "overlap") -> float:
    """Breakpoint / std for bound m = M/std. Default: the numerical solve of the overlap model
    (the quantizer we apply); method="closed_form" gives ln(0.8614 m + 0.6079)."""
    if method == "numerical":
        return solve_breakpoint(m, bits, model)
    if method == "closed_form":
        return closed_form_breakpoint(m)
    raise ValueError(f"breakpoint method {method!r} not in {BREAKPOINT_METHODS}")


def split_gain_db(m: float, bits: int = 8, method: str = "numerical") -> float:
    """10 log10(E_uniform / E_pwlq) at the chosen breakpoint: what PWLQ buys on a Gaussian."""
    p = breakpoint_std_units(m, method, bits)
    return 10.0 * math.log10(uniform_expected_error(m, bits) / pwlq_expected_error(p, m, bits))


def uniform_sqnr_db(m: float, bits: int = 8) -> float:
    """Model SQNR of the uniform grid for a unit-variance Gaussian: -10 log10 E_uniform."""
    return -10.0 * math.log10(uniform_expected_error(m, bits))


def prefer_split(m: float, bits: int = 8, min_gain_db: float = 10.0,
                 max_uniform_sqnr_db: float = 40.0, method: str = "numerical") -> bool:
    """The split policy "auto": use PWLQ (exact split) for a Linear input iff

        split_gain_db(m) >= min_gain_db     (uniform's expected error >= 10x PWLQ's by default)
        and uniform_sqnr_db(m) < max_uniform_sqnr_db   (uniform is not already good enough).

    The split runs two integer matmuls (about half the speed of one, see the ORT CPU guide), so
    it must buy a large factor. With the defaults at 8 bits this selects m >~ 8.
    """
    _check_m(m)
    return (split_gain_db(m, bits, method) >= min_gain_db
            and uniform_sqnr_db(m, bits) < max_uniform_sqnr_db)


def _check_m(m: float) -> None:
    if not (math.isfinite(m) and m > 0.0):
        raise ValueError(f"normalised bound m={m} must be finite and > 0")
