"""Channel-split PWLQ (quant/rewrite/pwlq_channels.py): the full int8 MatMul plus a thin float
MatMul over the tail channels equals the exact split when every channel is a tail channel, plain
static int8 when none is, and the piecewise quantizer restricted to the tail channels in between."""
import numpy as np
import pytest

from quant.pwlq import pwlq_fake_quant
from quant.rewrite import (PwlqChannelTarget, PwlqSplitTarget, channel_split_linears, quantize_linears_static,
                           split_pwlq_linears)
from quant.sites import linear_sites
from quant.uniform import fake_quant, qparams_affine, qparams_symmetric
from quant_graphs import dequantized_weight, optimized_op_types, run_ort, run_reference, wide_linear_case

BP = 0.7


@pytest.fixture(scope="module")
def case():
    return wide_linear_case(seed=7)



def _targets(model, channels, main, lo, hi, tail):
    return [PwlqChannelTarget(s, main, tuple(channels), lo, hi, tail) for s in linear_sites(model)]


def test_all_channels_in_the_tail_equals_the_exact_split(case):
    model, x, h, w, b, bound = case
    exact = split_pwlq_linears(model, [PwlqSplitTarget(s, BP, bound) for s in linear_sites(model)])
    chan = channel_split_linears(model, _targets(model, range(16), qparams_symmetric(np.float32(BP), "uint8"),
                                                 -BP, BP, qparams_symmetric(np.float32(bound), "uint8")))
    expected = pwlq_fake_quant(h, BP, bound) @ dequantized_weight(w) + b
    for runner in (run_reference, run_ort):
        for y, y_exact in zip(runner(chan, {"x": x}), runner(exact, {"x": x})):
            np.testing.assert_allclose(y, y_exact, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_no_tail_channel_equals_plain_int8(case):
    model, x, h, w, b, bound = case
    p = qparams_affine(float(h.min()), float(h.max()), "uint8")
    plain = quantize_linears_static(model, linear_sites(model), {"h": p})
    chan = channel_split_linears(model, _targets(model, (), p, float(h.min()), float(h.max()), None))
    for y, y_plain in zip(run_ort(chan, {"x": x}), run_ort(plain, {"x": x})):
        np.testing.assert_array_equal(y, y_plain)
    assert optimized_op_types(chan) == optimized_op_types(plain)


@pytest.mark.parametrize("tail", ["int8", "float"])
def test_some_tail_channels_is_the_piecewise_quantizer_there(case, tail):
    model, x, h, w, b, bound = case
    channels = (1, 5, 11)
    main = qparams_affine(-0.25, BP, "uint8")
    tail_qp = qparams_symmetric(np.float32(bound), "uint8") if tail == "int8" else None
    chan = channel_split_linears(model, _targets(model, channels, main, -0.25, BP, tail_qp))
    q_main = fake_quant(h, main.scale, main.zero_point, "uint8")
    q_tail = fake_quant(h, tail_qp.scale, tail_qp.zero_point, "uint8") if tail_qp else h
    in_tail = np.zeros(16, bool)
    in_tail[list(channels)] = True
    outside = ~((h > -0.25) & (h < BP))
    assert (outside & in_tail).any() and (outside & ~in_tail).any()  # both cases occur
    hq = np.where(outside & in_tail, q_tail, q_main)
    expected = hq @ dequantized_weight(w) + b
    for y in run_ort(chan, {"x": x}):
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_ort_runs_one_integer_matmul_per_linear_plus_thin_float_ones(case):
    model, *_ , bound = case
    chan = channel_split_linears(model, _targets(model, (2, 3), qparams_affine(-0.25, BP, "uint8"), -0.25, BP,
                                                 qparams_symmetric(np.float32(bound), "uint8")))
    ops = optimized_op_types(chan)
    assert ops.count("MatMulIntegerToFloat") + ops.count("QLinearMatMul") == 2
    assert ops.count("Gather") == 1  # the tail slice is shared by the Linears reading one tensor
