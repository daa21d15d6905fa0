"""Run-time activation schemes (dynamic-int8, ternary): DynamicQuantizeLinear + MatMulInteger on the
selected Linears with the config's weight quantizer; nothing to calibrate."""
from __future__ import annotations

from onnx import ModelProto

from ..rewrite import quantize_linears_dynamic
from . import Handler, Stage
from .common import selected_linears


def _sites(model: ModelProto, cfg) -> list[str]:
    return []


def _apply(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    lin = selected_linears(model, cfg)
    report += [{"kind": "linear", "node": s.node, "tensor": s.activation, "weight": s.weight,
                "method": "dynamic", "form": "dynamic", "dtype": "uint8"} for s in lin]
    return quantize_linears_dynamic(model, lin, cfg.weights) if lin else model


DYNAMIC = Handler((Stage(_sites, _apply),))
NOTHING = Handler(())
