"""Quantize the folding parts: ESM-2 stem with quant's schemes; trunk and structure with PTQ4Protein's placement.

    lm         quant scheme as for ESM-2 (Linear inputs + LayerNorm inputs); hand-written graph,
               DESIGN.md Linears, found by quant.sites as is
    trunk      normalize_linears, then the quant scheme on Linear and LayerNorm inputs and, with
    structure  "softmax" in the placement (the default for ESMFold), a fake-quant on every Softmax
               input (PTQ4Protein quantizes the inputs of Linear, LayerNorm and Softmax): int8
               symmetric for int8, static PWLQ for pwlq8, calibrated on the graph whose Linears
               and LayerNorms are already quantized (quant's second stage)
    heads      float: tiny, and pLDDT / pTM are read straight off its outputs

Forms: a Linear input runs as integer MatMuls (uniform QDQ, or for pwlq8 the exact split where
quant's error model says PWLQ pays, else uniform); a LayerNorm or Softmax input has no integer
consumer, so only the faithful fake-quant form applies (a simulation that costs time).
dynamic-int8 quantizes the Linears of lm, trunk and structure at run time, nothing else.
Then each uniform int8 Linear's bias Add is folded into onnxruntime's MatMulIntegerToFloat
(linear_bias.py; main graphs only).
The structure part's shared-weight blocks are an ONNX Loop: its body is quantized as a model of its
own, then the main graph (structure_quant.py).
With a chunk size, the trunk's triangle-attention cores are placeholder nodes here (chunking.py):
their Softmax is not in the main graph, so it is neither calibrated nor quantized; the models
returned are expanded into standard ONNX Loops.
"""
from __future__ import annotations

import logging
from collections import Counter

import onnx

from packbuild.quantize import quantize
from ..scheme_options import without
from .calibration import FoldCalibration
from .chunking import expand_chunked_attention
from .linear_bias import fuse_linear_bias
from .normalize import normalize_linears
from .structure_loop import loop_node
from .structure_quant import quantize_structure

log = logging.getLogger(__name__)
QUANTIZED_PARTS = ("lm", "trunk", "structure")
TRACED_PARTS = ("trunk", "structure")


def part_config(config, part: str):
    """The config one part gets: Softmax inputs are quantized on trunk and structure only (the
    ESM-2 stem keeps PTQ4Protein's Linear and LayerNorm inputs, as ESM-2 packs do)."""
    return config if part in TRACED_PARTS else without(config, "softmax")


def quantize_part(model: onnx.ModelProto, part: str, config, calibration: FoldCalibration | None
                  ) -> tuple[onnx.ModelProto, dict]:
    """One part under `config` (quant.quantize on the part's recorded feeds); heads stay float."""
    if config.name == "fp32" or part not in QUANTIZED_PARTS:
        return model, {"scheme": "fp32", "sites": [], "counts": {}}
    normalized = {}
    calibrator = calibration.part(part) if calibration is not None and config.needs_calibration else None
    if loop_node(model) is not None:
        out, report, normalized = quantize_structure(model, part_config(config, part), calibrator)
    else:
        if part in TRACED_PARTS:
            model, normalized = normalize_linears(model)
        out, report = quantize(model, part_config(config, part), calibrator)
    out, fused = fuse_linear_bias(out)
    counts = Counter(f"{s['kind']}/{s['method']}/{s['form']}" for s in report["sites"])
    report = {**report, "counts": dict(counts), "normalized": normalized, "bias_fused_linears": fused}
    log.info("%s %s: %s, %d bias Adds fused", part, config.name, dict(counts), fused)
    return out, report


def quantize_parts(float_models: dict[str, onnx.ModelProto], config, calibration: FoldCalibration | None
                   ) -> tuple[dict[str, onnx.ModelProto], dict]:
    """{file: model} for all four parts and {part: report} (reports without per-site detail for the manifest)."""
    from .parts import PARTS

    models, reports = {}, {}
    for part, spec in PARTS.items():
        model, rep = quantize_part(float_models[spec.file], part, config, calibration)
        models[spec.file], reports[part] = expand_chunked_attention(model), rep
    return models, reports
