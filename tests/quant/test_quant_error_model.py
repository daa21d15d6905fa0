"""Gaussian error model: breakpoint numerical solve vs closed form, model vs Monte Carlo, split policy."""
import math

import numpy as np
import pytest

from quant.error_model import (closed_form_breakpoint, prefer_split, pwlq_expected_error,
                               solve_breakpoint, split_gain_db, uniform_expected_error)
from quant.pwlq import pwlq_fake_quant

M_GRID = np.linspace(3.0, 40.0, 38)


def test_solver_finds_the_minimum_of_the_model():
    for m in (3.0, 7.5, 20.0, 40.0):
        p = solve_breakpoint(m)
        dense = np.linspace(1e-3, m, 20001)
        brute = dense[np.argmin([pwlq_expected_error(q, m) for q in dense])]
        assert p == pytest.approx(brute, abs=2 * m / 20000)


def test_disjoint_model_solve_reproduces_the_published_fit():
    # ln(0.8614 m + 0.6079) is Fang et al.'s fit of the disjoint-grid optimum: tight for m <= 10
    for m in np.linspace(3.0, 10.0, 15):
        assert solve_breakpoint(m, model="disjoint") == pytest.approx(closed_form_breakpoint(m), abs=0.02)


def test_closed_form_agrees_with_numerical_solve_over_m_3_to_40():
    # For the overlapping grids we apply, the closed form lands within 0.35 std of the optimum
    # and, the error curve being flat there, costs < 8 % extra expected error.
    for m in M_GRID:
        p_num, p_cf = solve_breakpoint(m), closed_form_breakpoint(m)
        assert abs(p_num - p_cf) < 0.35
        assert pwlq_expected_error(p_cf, m) < 1.08 * pwlq_expected_error(p_num, m)


def test_closed_form_value():
    assert closed_form_breakpoint(10.0) == pytest.approx(math.log(0.86143114 * 10 + 0.607901097496529))
    assert 0 < closed_form_breakpoint(0.1) <= 0.1  # clamped into (0, m]


@pytest.mark.parametrize("m", [4.0, 12.0])
def test_model_predicts_monte_carlo_error(m):
    # truncated N(0,1) at m, 8-bit: measured MSE within 5 % of the step^2/12 model
    rng = np.random.default_rng(3)
    x = rng.standard_normal(2_000_000)
    x = x[np.abs(x) <= m].astype(np.float32)
    p = solve_breakpoint(m)
    mse = np.mean((pwlq_fake_quant(x, p, m) - x) ** 2)
    assert mse == pytest.approx(pwlq_expected_error(p, m), rel=0.05)


@pytest.mark.parametrize("m,bits,expected", [
    (4.5, 8, False),   # Gaussian-like tensor: uniform
    (8.0, 8, False),   # gain 9.9 dB < 10 dB
    (10.0, 8, True),
    (40.0, 8, True),
    (20.0, 8, True),
])
def test_prefer_split_table(m, bits, expected):
    assert prefer_split(m, bits) is expected


def test_prefer_split_thresholds():
    assert split_gain_db(20.0) == pytest.approx(
        10 * math.log10(uniform_expected_error(20.0) / pwlq_expected_error(solve_breakpoint(20.0), 20.0)))
    assert not prefer_split(20.0, min_gain_db=30.0)          # gain ~16 dB
    assert not prefer_split(20.0, max_uniform_sqnr_db=20.0)  # uniform model SQNR ~27 dB: good enough
    with pytest.raises(ValueError, match="m="):
        prefer_split(float("nan"))
