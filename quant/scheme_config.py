"""SchemeConfig: what a quantization scheme quantizes and how, frozen and validated."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .error_model import BREAKPOINT_METHODS
from .observers import ObserverConfig

SCHEME_NAMES = ("fp32", "int8", "pwlq8", "dynamic-int8")
PLACEMENTS = ("linear", "layernorm", "softmax")
SPLIT_POLICIES = ("never", "auto", "always")
BP_MODES = ("static", "dynamic")


@dataclass(frozen=True)
class SchemeConfig:
    """What a scheme quantizes and how (validated in __post_init__).

    name          "fp32" (nothing), "int8" (uniform), "pwlq8" (PTQ4Protein PWLQ), "dynamic-int8".
    bits          activation/weight bit width; the ONNX rewrites emit 8-bit grids only.
    placement     where activations are quantized: "linear" (MatMul inputs with a weight
                  initializer), "layernorm" (LayerNormalization inputs), "softmax" (outputs,
                  uint8 with the fixed range [0, 1]).
    observer      how calibration ranges are clipped (quant.observers.ObserverConfig).
    linear_dtype  Linear input grid: "uint8" affine (ORT's fast U8S8 path) or "int8" symmetric.
    layernorm_dtype  grid of the uniform LayerNorm-input fake-quant (int8 symmetric by default).
    breakpoint    PWLQ breakpoint: "numerical" (default) or "closed_form".
    bp_mode       PWLQ on LayerNorm inputs: "static" (from calibration) or "dynamic" (run time).
    split         PWLQ on Linear inputs: "never" (uniform), "auto" (error_model.prefer_split),
                  "always" (exact split form).
    auto_min_gain_db, auto_max_uniform_sqnr_db   the "auto" thresholds (see prefer_split).
    weight_bits   int8 symmetric per-output-channel weights.
    """

    name: str
    bits: int = 8
    placement: tuple[str, ...] = ("linear", "layernorm")
    observer: ObserverConfig = field(default_factory=ObserverConfig)
    linear_dtype: str = "uint8"
    layernorm_dtype: str = "int8"
    breakpoint: str = "numerical"
    bp_mode: str = "static"
    split: str = "never"
    auto_min_gain_db: float = 10.0
    auto_max_uniform_sqnr_db: float = 40.0
    weight_bits: int = 8

    def __post_init__(self) -> None:
        _check(self.name in SCHEME_NAMES, f"scheme name {self.name!r} not in {SCHEME_NAMES}")
        _check(self.bits == 8 and self.weight_bits == 8, "only 8-bit ONNX graphs are supported")
        _check(isinstance(self.placement, tuple) and set(self.placement) <= set(PLACEMENTS),
               f"placement {self.placement!r} must be a tuple of {PLACEMENTS}")
        _check(len(set(self.placement)) == len(self.placement), "placement has duplicates")
        _check(self.linear_dtype in ("uint8", "int8"), f"linear_dtype {self.linear_dtype!r}")
        _check(self.layernorm_dtype in ("uint8", "int8"), f"layernorm_dtype {self.layernorm_dtype!r}")
        _check(self.breakpoint in BREAKPOINT_METHODS, f"breakpoint {self.breakpoint!r} not in {BREAKPOINT_METHODS}")
        _check(self.bp_mode in BP_MODES, f"bp_mode {self.bp_mode!r} not in {BP_MODES}")
        _check(self.split in SPLIT_POLICIES, f"split {self.split!r} not in {SPLIT_POLICIES}")
        _check(self.split == "never" or self.name == "pwlq8", "split applies to pwlq8 only")
        _check(self.name != "dynamic-int8" or self.placement == ("linear",),
               "dynamic-int8 quantizes Linears only: placement must be ('linear',)")
        _check(self.name != "fp32" or self.placement == (), "fp32 has an empty placement")
        _check(self.name == "fp32" or self.placement != (), f"{self.name} needs a placement")
        _check(self.auto_min_gain_db > 0.0, "auto_min_gain_db must be > 0")

    def to_dict(self) -> dict:
        """JSON-ready form for the pack manifest."""
        d = asdict(self)
        d["placement"] = list(self.placement)
        return d


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"SchemeConfig: {message}")
