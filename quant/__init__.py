"""EdgeFold post-training quantization: observers, quantizers (uniform, PWLQ, ternary), ONNX
rewrites, and the scheme registry behind one entry point, `quantize`."""
from .api import StatsCache, apply_scheme, calibration_sites, quantize
from .configs import DynamicInt8Config, Fp32Config, Int8Config, Pwlq8Config, TernaryConfig
from .observers import ObserverConfig, TensorStats
from .registry import REGISTRY, UnknownSchemeError, make_config, scheme, scheme_names
from .ternary import TernaryWeights
from .weights import PerChannelInt8

__all__ = [
    "quantize", "apply_scheme", "calibration_sites", "StatsCache",
    "make_config", "scheme", "scheme_names", "REGISTRY", "UnknownSchemeError",
    "Fp32Config", "Int8Config", "Pwlq8Config", "DynamicInt8Config", "TernaryConfig",
    "PerChannelInt8", "TernaryWeights", "ObserverConfig", "TensorStats",
]
