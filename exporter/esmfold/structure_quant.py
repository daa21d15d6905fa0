"""Quantize a Loop-form structure part (structure_loop.py): the Loop body first, then the main graph.

quant rewrites one graph and does not look inside a Loop, so the body is quantized as a model of
its own, on the carried state of every block iteration of every recorded structure feed, and put
back; the main graph (trunk2sm projections, LayerNorms, linear_in, angle ResNet) is then
quantized on the structure feeds with the quantized body already in place (as quant's later
stages calibrate on a partly quantized graph).
"""
from __future__ import annotations

import onnx

from packbuild.quantize import quantize
from .normalize import normalize_linears
from .structure_loop import block_feeds, body_model, with_body

BLOCK = "structure_block"


def _merged(body: dict, main: dict) -> dict:
    """One report for the part: the body's sites and weights, then the main graph's."""
    return {**main, "sites": body["sites"] + main["sites"], "weights": body.get("weights", []) + main.get("weights", [])}


def quantize_structure(model: onnx.ModelProto, config, calibrator) -> tuple[onnx.ModelProto, dict, dict]:
    """(quantized model, quant report, normalize_linears counts of body + main) for `config`;
    `calibrator` the structure part's PartCalibrator (None: no calibration needed)."""
    body, body_norm = normalize_linears(body_model(model))
    block_cal = None
    if calibrator is not None:
        block_cal = calibrator.derive(BLOCK, lambda: block_feeds(model, list(calibrator.feeds()), calibrator.runner))
    qbody, body_report = quantize(body, config, block_cal)
    main, main_norm = normalize_linears(with_body(model, qbody))
    qmain, main_report = quantize(main, config, calibrator)
    counts = {k: body_norm[k] + main_norm[k] for k in body_norm}
    return qmain, _merged(body_report, main_report), counts
