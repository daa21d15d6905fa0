"""Quantize the folding parts: ESM-2 stem with quant's schemes; trunk and structure with PTQ4Protein's placement.

    lm         quant scheme as for ESM-2 (Linear inputs + LayerNorm inputs); hand-written graph,
               DESIGN.md Linears, found by quant.sites as is
    trunk      normalize_linears, then the quant scheme on Linear and LayerNorm inputs, plus a
    structure  fake-quant on every Softmax input (PTQ4Protein quantizes the inputs of Linear,
               LayerNorm and Softmax): int8 symmetric for int8, static PWLQ for pwlq8
    heads      float: tiny, and pLDDT / pTM are read straight off its outputs

Forms: a Linear input runs as integer MatMuls (uniform QDQ, or for pwlq8 the exact split where
quant's error model says PWLQ pays, else uniform); a LayerNorm or Softmax input has no integer
consumer, so only the faithful fake-quant form applies (a simulation that costs time).
dynamic-int8 quantizes the Linears of lm, trunk and structure at run time, nothing else.
With a chunk size, the trunk's triangle-attention cores are placeholder nodes here (chunking.py):
their Softmax is not in the main graph, so it is neither calibrated nor quantized; the models
returned are expanded into standard ONNX Loops.
"""
from __future__ import annotations

import logging
from collections import Counter

import onnx

from ..quantize import quantize
from .calibration import FoldCalibration
from .chunking import expand_chunked_attention
from .normalize import normalize_linears

log = logging.getLogger(__name__)
QUANTIZED_PARTS = ("lm", "trunk", "structure")
TRACED_PARTS = ("trunk", "structure")


def softmax_inputs(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(input tensor, node) of every Softmax node."""
    return [(n.input[0], n.name or n.output[0]) for n in model.graph.node if n.op_type == "Softmax"]


def quantize_softmax_inputs(model: onnx.ModelProto, scheme: str, calibrator, observer) -> tuple[onnx.ModelProto, list]:
    """Fake-quant each Softmax input with calibrated ranges; returns the model and report entries."""
    from quant.pwlq import pwlq_params
    from quant.rewrite import FakeQuantTarget, PwlqTarget, insert_fake_quant, insert_pwlq_fake_quant
    from quant.uniform import qparams_symmetric

    sites = softmax_inputs(model)
    if not sites:
        return model, []
    stats = calibrator.stats(model, [t for t, _ in sites], observer)
    report = []
    if scheme == "pwlq8":
        targets = []
        for tensor, node in sites:
            p = pwlq_params(stats[tensor])
            targets.append(PwlqTarget(tensor, p.bp, p.bound, (node,)))
            report.append({"kind": "softmax_input", "node": node, "tensor": tensor, "method": "pwlq",
                           "form": "fake_quant", "bp": p.bp, "bound": p.bound})
        return insert_pwlq_fake_quant(model, targets), report
    targets = []
    for tensor, node in sites:
        qp = qparams_symmetric(stats[tensor].clip, "int8")
        targets.append(FakeQuantTarget(tensor, qp, (node,)))
        report.append({"kind": "softmax_input", "node": node, "tensor": tensor, "method": "uniform",
                       "form": "fake_quant", "dtype": "int8", "scale": float(qp.scale)})
    return insert_fake_quant(model, targets), report


def softmax_placed(placement: tuple[str, ...] | None) -> bool:
    """Whether Softmax inputs get fake-quants: always under the default (PTQ4Protein) placement."""
    return placement is None or "softmax" in placement


def quantize_part(model: onnx.ModelProto, part: str, scheme: str, calibration: FoldCalibration | None,
                  observer: str | None = None, split: str | None = None,
                  placement: tuple[str, ...] | None = None) -> tuple[onnx.ModelProto, dict]:
    """One part under `scheme`; the report has quant's per-site entries plus the softmax ones.

    `placement` (e.g. ("linear",)) overrides the activation quantizers; None is PTQ4Protein's
    (Linear, LayerNorm and, on trunk and structure, Softmax inputs).
    """
    if scheme == "fp32" or part not in QUANTIZED_PARTS:
        return model, {"scheme": "fp32", "sites": [], "counts": {}}
    normalized = {}
    if part in TRACED_PARTS:
        model, normalized = normalize_linears(model)
    calibrator = calibration.part(part) if calibration is not None else None
    softmax = softmax_placed(placement)
    if placement is not None:
        placement = tuple(p for p in placement if p != "softmax")
    out, report = quantize(model, scheme, calibrator, observer, split, placement)
    if scheme in ("int8", "pwlq8") and softmax and part in TRACED_PARTS:
        from quant.observers import ObserverConfig
        from quant.schemes import SCHEMES as QUANT_SCHEMES

        obs = ObserverConfig(observer) if observer else QUANT_SCHEMES[scheme].observer
        out, extra = quantize_softmax_inputs(out, scheme, calibrator, obs)
        report["sites"] = list(report["sites"]) + extra
    counts = Counter(f"{s['kind']}/{s['method']}/{s['form']}" for s in report["sites"])
    report = {**report, "counts": dict(counts), "normalized": normalized}
    log.info("%s %s: %s", part, scheme, dict(counts))
    return out, report


def quantize_parts(float_models: dict[str, onnx.ModelProto], scheme: str, calibration: FoldCalibration | None,
                   observer: str | None = None, split: str | None = None,
                   placement: tuple[str, ...] | None = None) -> tuple[dict[str, onnx.ModelProto], dict]:
    """{file: model} for all four parts and {part: report} (reports without per-site detail for the manifest).

    `split` overrides pwlq8's Linear policy ("auto": quant's error model decides per tensor).
    """
    from .parts import PARTS

    models, reports = {}, {}
    for part, spec in PARTS.items():
        model, rep = quantize_part(float_models[spec.file], part, scheme, calibration, observer, split, placement)
        models[spec.file], reports[part] = expand_chunked_attention(model), rep
    return models, reports
