"""Quantization schemes: frozen SchemeConfig, the default SCHEMES, calibration sites and apply_scheme."""
from __future__ import annotations

from onnx import ModelProto

from .observers import ObserverConfig, TensorStats
from .scheme_apply import apply_scheme_impl
from .scheme_config import BP_MODES, PLACEMENTS, SCHEME_NAMES, SPLIT_POLICIES, SchemeConfig  # noqa: F401
from .sites import layernorm_sites, linear_sites

# Defaults calibrate with plain min/max: on the small test transformer (1.5k values per sample)
# the PTQ4Protein top-10 median clips at ~the 99.7th percentile and costs ~7 dB of output SQNR;
# on real ESM tensors (~1e5 values per sample) it clips far less. Choose per model with
# observer=ObserverConfig("ptq4protein", top_k=100, top_n=10) and measure.
_MINMAX = ObserverConfig("minmax")
SCHEMES: dict[str, SchemeConfig] = {
    "fp32": SchemeConfig("fp32", placement=()),
    "int8": SchemeConfig("int8", observer=_MINMAX),
    "pwlq8": SchemeConfig("pwlq8", observer=_MINMAX, split="auto"),
    "dynamic-int8": SchemeConfig("dynamic-int8", placement=("linear",), observer=_MINMAX),
}


def calibration_sites(model: ModelProto, config: SchemeConfig) -> list[str]:
    """Tensor names `apply_scheme` needs TensorStats for, in graph order, without duplicates."""
    names: list[str] = []
    if config.name in ("int8", "pwlq8"):
        if "linear" in config.placement:
            names += [s.activation for s in linear_sites(model)]
        if "layernorm" in config.placement and not (config.name == "pwlq8" and config.bp_mode == "dynamic"):
            names += [s.activation for s in layernorm_sites(model)]
    return list(dict.fromkeys(names))


def apply_scheme(model: ModelProto, config: SchemeConfig, stats: dict[str, TensorStats]
                 ) -> tuple[ModelProto, dict]:
    """Quantize `model` per `config` with calibration `stats`; returns (model, report).

    The report is JSON-ready: {"scheme", "config", "sites": [one dict per rewritten site:
    kind, node, tensor, method (uniform|pwlq|dynamic), form (qdq|fake_quant|split|dynamic),
    scale/zero_point or bp/bound/m/gain_db], "weights": [...], "counts": {...}}.
    """
    return apply_scheme_impl(model, config, stats)
