"""ternary (2Bits of Protein): the dynamic handler's run-time uint8 activations, or the static
handler's calibrated ones (`TernaryConfig.activations`), over ternary int8 weights."""
from __future__ import annotations

from onnx import ModelProto

from . import Handler, Stage
from .dynamic import DYNAMIC
from .static import main_apply, main_sites


def _sites(model: ModelProto, cfg) -> list[str]:
    return main_sites(model, cfg) if cfg.activations == "static" else []


def _apply(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    if cfg.activations == "static":
        return main_apply(model, cfg, stats, report)
    return DYNAMIC.stages[0].apply(model, cfg, stats, report)


TERNARY = Handler((Stage(_sites, _apply),))
