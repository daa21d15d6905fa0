"""Static schemes (int8, pwlq8, ternary with calibrated activations): calibrated grids at Linear,
LayerNorm and Softmax inputs; integer MatMuls for Linears (uniform QDQ or the PWLQ split)."""
from __future__ import annotations

import re
from collections import defaultdict

from onnx import ModelProto

from ..error_model import prefer_split, split_gain_db
from ..pwlq import pwlq_params
from ..rewrite import (DynamicPwlqTarget, FakeQuantTarget, PwlqSplitTarget, PwlqTarget, channel_split_linears,
                       insert_fake_quant, insert_pwlq_dynamic, insert_pwlq_fake_quant, quantize_linears_static,
                       smooth_linears, split_pwlq_linears, token_grid_linears)
from ..rewrite._graph import GraphEdit
from ..sites import LinearSite, NodeInputSite, layernorm_sites, softmax_sites
from . import Handler, Stage
from ..configs import Pwlq8Config
from .attention import ATTENTION
from .channels import channel_targets, scaled_stats, smoothing_scales, token_targets
from .common import qp_report, selected_linears, stats_of, stats_report, uniform_qparams


def _is_pwlq(cfg) -> bool:
    return isinstance(cfg, Pwlq8Config)


def _dynamic_bp(cfg) -> bool:
    return _is_pwlq(cfg) and cfg.bp_mode == "dynamic"


def main_sites(model: ModelProto, cfg) -> list[str]:
    names: list[str] = []
    if "linear" in cfg.placement:
        names += [s.activation for s in selected_linears(model, cfg)]
    if "layernorm" in cfg.placement and not _dynamic_bp(cfg):
        names += [s.activation for s in layernorm_sites(model)]
    return list(dict.fromkeys(names))


def _fake_quant_inputs(model: ModelProto, cfg, stats, report: list, sites: list[NodeInputSite], kind: str,
                       dtype: str, full_report: bool) -> ModelProto:
    """PWLQ (pwlq8) or uniform fake-quant of each site's input, with calibrated ranges."""
    if _is_pwlq(cfg):
        targets = []
        for s in sites:
            st = stats_of(stats, s.activation)
            p = pwlq_params(st, cfg.bits, cfg.breakpoint)
            targets.append(PwlqTarget(s.activation, p.bp, p.bound, (s.node,)))
            extra = {"breakpoint_method": p.method, **stats_report(st)} if full_report else {}
            report.append({"kind": kind, "node": s.node, "tensor": s.activation, "method": "pwlq",
                           "form": "fake_quant", "bp": p.bp, "bound": p.bound, **extra})
        return insert_pwlq_fake_quant(model, targets)
    targets = []
    for s in sites:
        st = stats_of(stats, s.activation)
        p = uniform_qparams(st, dtype)
        targets.append(FakeQuantTarget(s.activation, p, (s.node,)))
        extra = stats_report(st) if full_report else {}
        report.append({"kind": kind, "node": s.node, "tensor": s.activation, "method": "uniform",
                       "form": "fake_quant", **qp_report(p), **extra})
    return insert_fake_quant(model, targets)


def _layernorm(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    sites = layernorm_sites(model)
    if _dynamic_bp(cfg):
        report += [{"kind": "layernorm", "node": s.node, "tensor": s.activation, "method": "pwlq",
                    "form": "fake_quant", "bp": "dynamic"} for s in sites]
        return insert_pwlq_dynamic(model, [DynamicPwlqTarget(s.activation, (s.node,)) for s in sites])
    return _fake_quant_inputs(model, cfg, stats, report, sites, "layernorm", cfg.layernorm_dtype, True)


def _wants_split(cfg, st) -> bool:
    if not _is_pwlq(cfg) or cfg.split == "never":
        return False
    return cfg.split == "always" or prefer_split(st.m_clip, cfg.bits, cfg.auto_min_gain_db,
                                                 cfg.auto_max_uniform_sqnr_db, cfg.breakpoint)


def _split_allowed(cfg: Pwlq8Config, site: LinearSite) -> bool:
    """pwlq8's split_linears (only asked once _wants_split said yes, so cfg is a Pwlq8Config):
    "" allows every Linear, else only weights the expression matches."""
    return not cfg.split_linears or re.search(cfg.split_linears, site.weight) is not None


def _smooth(model: ModelProto, cfg, stats) -> tuple[ModelProto, dict, dict[str, float]]:
    """pwlq8 with smooth_alpha > 0: migrate per-channel range into the weights first; the stats
    of each smoothed tensor are derived from its input's per-channel stats."""
    sites = selected_linears(model, cfg)
    by_tensor: dict[str, list[LinearSite]] = defaultdict(list)
    for s in sites:
        by_tensor[s.activation].append(s)
    edit = GraphEdit(model)  # read-only here: the weight arrays
    scales = {t: smoothing_scales(stats_of(stats, t), [edit.initializer(s.weight) for s in ss], cfg.smooth_alpha)
              for t, ss in by_tensor.items() if stats_of(stats, t).channel_absmax is not None}
    model, renamed = smooth_linears(model, [s for s in sites if s.activation in scales], scales)
    derived = dict(stats)
    derived.update({new: scaled_stats(stats[old], scales[old], new) for old, new in renamed.items()})
    return model, derived, {new: old for old, new in renamed.items()}


def _linear(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    origin: dict[str, str] = {}
    if getattr(cfg, "smooth_alpha", 0.0) > 0.0:
        model, stats, origin = _smooth(model, cfg, stats)
    by_tensor: dict[str, list[LinearSite]] = defaultdict(list)
    for s in selected_linears(model, cfg):
        by_tensor[s.activation].append(s)
    uniform_sites, qps, split_targets, channel_split, token_split = [], {}, [], [], []
    dtype = getattr(cfg, "linear_dtype", "uint8")
    bits = getattr(cfg, "bits", 8)
    for tensor, sites in by_tensor.items():
        st = stats_of(stats, tensor)
        base = {"kind": "linear", "tensor": origin.get(tensor, tensor), **stats_report(st)}
        if tensor in origin:
            base["smooth_alpha"] = cfg.smooth_alpha
        if _is_pwlq(cfg):
            base["gain_db"] = split_gain_db(st.m_clip, bits, cfg.breakpoint)
        split = [s for s in sites if _split_allowed(cfg, s)] if _wants_split(cfg, st) else []
        rest = [s for s in sites if s not in split]
        if split and cfg.linear_form == "channels" and st.channel_absmax is not None:
            targets, info = channel_targets(split, st, cfg)
            channel_split += targets
            report += [{**base, "node": s.node, "weight": s.weight, "method": "pwlq", "form": "channel_split",
                        **info} for s in split]
        elif split and cfg.linear_form == "tokens":
            targets, info = token_targets(split, st, cfg)
            token_split += targets
            report += [{**base, "node": s.node, "weight": s.weight, "method": "pwlq", "form": "tokens",
                        **info} for s in split]
        elif split:
            p = pwlq_params(st, bits, cfg.breakpoint)
            split_targets += [PwlqSplitTarget(s, p.bp, p.bound) for s in split]
            report += [{**base, "node": s.node, "weight": s.weight, "method": "pwlq", "form": "split",
                        "bp": p.bp, "bound": p.bound, "breakpoint_method": p.method} for s in split]
        if rest:
            qps[tensor] = uniform_qparams(st, dtype)
            uniform_sites += rest
            report += [{**base, "node": s.node, "weight": s.weight, "method": "uniform", "form": "qdq",
                        **qp_report(qps[tensor])} for s in rest]
    if uniform_sites:
        model = quantize_linears_static(model, uniform_sites, qps, cfg.weights)
    if split_targets:
        model = split_pwlq_linears(model, split_targets, cfg.weights)
    if channel_split:
        model = channel_split_linears(model, channel_split, cfg.weights)
    if token_split:
        model = token_grid_linears(model, token_split, cfg.weights)
    return model


def main_apply(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    if "layernorm" in cfg.placement:
        model = _layernorm(model, cfg, stats, report)
    if "linear" in cfg.placement:
        model = _linear(model, cfg, stats, report)
    return model


def softmax_input_sites(model: ModelProto, cfg) -> list[str]:
    return [s.activation for s in softmax_sites(model)] if "softmax" in cfg.placement else []


def softmax_input_apply(model: ModelProto, cfg, stats, report: list) -> ModelProto:
    if "softmax" not in cfg.placement:
        return model
    return _fake_quant_inputs(model, cfg, stats, report, softmax_sites(model), "softmax_input",
                              cfg.softmax_dtype, False)


# The attention stage (Int8Config.attention) comes last: Q, K and V calibrated on the quantized graph.
STATIC = Handler((Stage(main_sites, main_apply), Stage(softmax_input_sites, softmax_input_apply), ATTENTION))
