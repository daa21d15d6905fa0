"""The static schemes' attention stage (Int8Config.attention): integer Q.K^T ("int8-scores"), and
P.V too ("int8").

It runs after the Linear/LayerNorm and Softmax-input stages, so the ranges of Q, K and V are
calibrated on the graph those stages produced (what the integer MatMuls will really be fed).
Q gets a uint8 affine grid (onnxruntime's U8S8 path: A unsigned, B signed), K and V int8
symmetric grids, the Softmax output the fixed uint8 grid of [0, 1].
"""
from __future__ import annotations

from onnx import ModelProto

from ..errors import GraphRewriteError
from ..rewrite import AttentionInt8Target, quantize_attention
from ..rewrite.attention_int8 import PROBS_QPARAMS
from ..sites import attention_sites
from . import Stage
from .common import qp_report, stats_of, stats_report, uniform_qparams


def _enabled(cfg) -> bool:
    return getattr(cfg, "attention", "float") != "float"


def _context(cfg) -> bool:
    return cfg.attention == "int8"


def attention_input_sites(model: ModelProto, cfg) -> list[str]:
    """Q, K (and V) of every attention block (the Softmax output needs no calibration)."""
    if not _enabled(cfg):
        return []
    roles = ("q", "k", "v") if _context(cfg) else ("q", "k")
    return [getattr(s, r) for s in attention_sites(model) for r in roles]


def attention_apply(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    if not _enabled(cfg):
        return model
    sites = attention_sites(model)
    if not sites:
        raise GraphRewriteError(model.graph.name or "model",
                                f"attention={cfg.attention!r} but the graph has no MatMul-Softmax-MatMul "
                                "attention (fused attention graphs cannot take it)")
    targets = []
    for s in sites:
        inputs = [("q", s.scores, s.q, "uint8"), ("k", s.scores, s.k, "int8")]
        inputs += [("v", s.context, s.v, "int8")] if _context(cfg) else []
        qp = {role: uniform_qparams(stats_of(stats, tensor), dtype) for role, _, tensor, dtype in inputs}
        targets.append(AttentionInt8Target(s, qp["q"], qp["k"], qp.get("v")))
        for role, node, tensor, _ in inputs:
            report.append({"kind": "attention", "node": node, "tensor": tensor, "role": role,
                           "method": "uniform", "form": "integer_matmul", **qp_report(qp[role]),
                           **stats_report(stats_of(stats, tensor))})
        if _context(cfg):
            report.append({"kind": "attention", "node": s.context, "tensor": s.probs, "role": "probs",
                           "method": "uniform", "form": "integer_matmul", **qp_report(PROBS_QPARAMS)})
    return quantize_attention(model, targets)


ATTENTION = Stage(attention_input_sites, attention_apply)
