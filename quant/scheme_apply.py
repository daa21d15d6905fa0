"""apply_scheme's implementation: turn a SchemeConfig + TensorStats into rewrites and a report."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from onnx import ModelProto

from .error_model import prefer_split, split_gain_db
from .errors import GraphRewriteError
from .observers import TensorStats
from .pwlq import pwlq_params
from .rewrite import (DynamicPwlqTarget, FakeQuantTarget, PwlqSplitTarget, PwlqTarget,
                      insert_fake_quant, insert_pwlq_dynamic, insert_pwlq_fake_quant,
                      quantize_linears_dynamic, quantize_linears_static, split_pwlq_linears)
from .scheme_config import SchemeConfig
from .sites import LinearSite, layernorm_sites, linear_sites, softmax_sites
from .uniform import QParams, qparams_affine, qparams_symmetric

SOFTMAX_QPARAMS = QParams(np.float32(1.0 / 255.0), np.uint8(0), "uint8")  # probabilities in [0, 1]


def _stats(stats: dict[str, TensorStats], tensor: str) -> TensorStats:
    if tensor not in stats:
        raise GraphRewriteError(tensor, "no calibration stats (see calibration_sites)")
    return stats[tensor]


def _uniform_qparams(s: TensorStats, dtype: str) -> QParams:
    """uint8: affine over the clipped range; int8: symmetric over [-clip, clip]."""
    return qparams_affine(*s.clipped_range(), "uint8") if dtype == "uint8" else qparams_symmetric(s.clip, "int8")


def _qp_report(p: QParams) -> dict:
    return {"dtype": p.dtype, "scale": float(p.scale), "zero_point": int(p.zero_point)}


def _stats_report(s: TensorStats) -> dict:
    return {"clip": s.clip, "absmax": s.absmax, "std": s.std, "m": s.m_clip}


def _layernorm(model: ModelProto, cfg: SchemeConfig, stats, report: list) -> ModelProto:
    sites = layernorm_sites(model)
    if cfg.name == "pwlq8" and cfg.bp_mode == "dynamic":
        report += [{"kind": "layernorm", "node": s.node, "tensor": s.activation, "method": "pwlq",
                    "form": "fake_quant", "bp": "dynamic"} for s in sites]
        return insert_pwlq_dynamic(model, [DynamicPwlqTarget(s.activation, (s.node,)) for s in sites])
    if cfg.name == "pwlq8":
        targets = []
        for s in sites:
            st = _stats(stats, s.activation)
            p = pwlq_params(st, cfg.bits, cfg.breakpoint)
            targets.append(PwlqTarget(s.activation, p.bp, p.bound, (s.node,)))
            report.append({"kind": "layernorm", "node": s.node, "tensor": s.activation, "method": "pwlq",
                           "form": "fake_quant", "bp": p.bp, "bound": p.bound,
                           "breakpoint_method": p.method, **_stats_report(st)})
        return insert_pwlq_fake_quant(model, targets)
    targets = []
    for s in sites:
        st = _stats(stats, s.activation)
        p = _uniform_qparams(st, cfg.layernorm_dtype)
        targets.append(FakeQuantTarget(s.activation, p, (s.node,)))
        report.append({"kind": "layernorm", "node": s.node, "tensor": s.activation, "method": "uniform",
                       "form": "fake_quant", **_qp_report(p), **_stats_report(st)})
    return insert_fake_quant(model, targets)


def _wants_split(cfg: SchemeConfig, st: TensorStats) -> bool:
    if cfg.name != "pwlq8" or cfg.split == "never":
        return False
    return cfg.split == "always" or prefer_split(st.m_clip, cfg.bits, cfg.auto_min_gain_db,
                                                 cfg.auto_max_uniform_sqnr_db, cfg.breakpoint)


def _linear(model: ModelProto, cfg: SchemeConfig, stats, report: list) -> ModelProto:
    by_tensor: dict[str, list[LinearSite]] = defaultdict(list)
    for s in linear_sites(model):
        by_tensor[s.activation].append(s)
    uniform_sites, qps, split_targets = [], {}, []
    for tensor, sites in by_tensor.items():
        st = _stats(stats, tensor)
        gain = split_gain_db(st.m_clip, cfg.bits, cfg.breakpoint) if cfg.name == "pwlq8" else None
        base = {"kind": "linear", "tensor": tensor, **_stats_report(st)}
        if gain is not None:
            base["gain_db"] = gain
        if _wants_split(cfg, st):
            p = pwlq_params(st, cfg.bits, cfg.breakpoint)
            split_targets += [PwlqSplitTarget(s, p.bp, p.bound) for s in sites]
            report += [{**base, "node": s.node, "weight": s.weight, "method": "pwlq", "form": "split",
                        "bp": p.bp, "bound": p.bound, "breakpoint_method": p.method} for s in sites]
        else:
            qps[tensor] = _uniform_qparams(st, cfg.linear_dtype)
            uniform_sites += sites
            report += [{**base, "node": s.node, "weight": s.weight, "method": "uniform", "form": "qdq",
                        **_qp_report(qps[tensor])} for s in sites]
    if uniform_sites:
        model = quantize_linears_static(model, uniform_sites, qps, cfg.weight_bits)
    if split_targets:
        model = split_pwlq_linears(model, split_targets, cfg.weight_bits)
    return model


def apply_scheme_impl(model: ModelProto, cfg: SchemeConfig, stats: dict[str, TensorStats]
                      ) -> tuple[ModelProto, dict]:
    out = ModelProto()
    out.CopyFrom(model)
    sites: list[dict] = []
    weights = sorted({s.weight for s in linear_sites(model)}) if "linear" in cfg.placement else []
    if cfg.name == "dynamic-int8":
        lin = linear_sites(out)
        out = quantize_linears_dynamic(out, lin, cfg.weight_bits)
        sites += [{"kind": "linear", "node": s.node, "tensor": s.activation, "weight": s.weight,
                   "method": "dynamic", "form": "dynamic", "dtype": "uint8"} for s in lin]
    elif cfg.name in ("int8", "pwlq8"):
        if "layernorm" in cfg.placement:
            out = _layernorm(out, cfg, stats, sites)
        if "softmax" in cfg.placement:
            sm = softmax_sites(out)
            out = insert_fake_quant(out, [FakeQuantTarget(s.output, SOFTMAX_QPARAMS) for s in sm])
            sites += [{"kind": "softmax", "node": s.node, "tensor": s.output, "method": "uniform",
                       "form": "fake_quant", **_qp_report(SOFTMAX_QPARAMS)} for s in sm]
        if "linear" in cfg.placement:
            out = _linear(out, cfg, stats, sites)
    counts: dict[str, int] = defaultdict(int)
    for s in sites:
        counts[f"{s['kind']}/{s['method']}/{s['form']}"] += 1
    report = {"scheme": cfg.name, "config": cfg.to_dict(), "sites": sites,
              "weights": [{"name": w, "dtype": "int8", "symmetric": True, "axis": 1,
                           "bits": cfg.weight_bits} for w in weights],
              "counts": dict(counts)}
    return out, report
