"""Scheme configs: one frozen type per quantization scheme, validated, with what it needs as properties.

Every config has `name` (its registry key), `placement` (where activations are quantized),
`weights` (its weight quantizer, quant.weights), `observer` (how calibration ranges are
clipped), and the properties `needs_calibration` and `placements` (what `placement` may hold).
quant.registry maps each name to its config type and handler; `to_dict()` is what pack
manifests record.

Placements: "linear" (MatMul inputs with a 2-D float weight initializer), "layernorm"
(LayerNormalization inputs), "softmax" (Softmax inputs, PTQ4Protein's third site; no integer
consumer, so a fake-quant).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from .error_model import BREAKPOINT_METHODS
from .observers import ObserverConfig
from .ternary import TernaryWeights
from .weights import PerChannelInt8

ALL_PLACEMENTS = ("linear", "layernorm", "softmax")
SPLIT_POLICIES = ("never", "auto", "always")
LINEAR_FORMS = ("channels", "exact", "tokens")
TAIL_KINDS = ("int8", "float")
TOKEN_OUTLIER_FORMS = ("scaled", "float")  # Pwlq8Config.token_outliers
BP_MODES = ("static", "dynamic")
ACT_DTYPES = ("uint8", "int8")
ATTENTION_FORMS = ("float", "int8", "int8-scores")  # Int8Config.attention
# Defaults calibrate with plain min/max: on the small test transformer (1.5k values per sample)
# the PTQ4Protein top-10 median clips at ~the 99.7th percentile and costs ~7 dB of output SQNR;
# on real ESM tensors (~1e5 values per sample) it clips far less. Choose per model with
# observer=ObserverConfig("ptq4protein", top_k=100, top_n=10) and measure.
MINMAX = ObserverConfig("minmax")
# The encoder Linears of an ESM-2 graph (DESIGN.md section 1 names them): q/k/v/out projections,
# fc1, fc2 of every layer; not the LM head, the contact head or embeddings.
ESM2_ENCODER_LINEARS = r"^layers\.\d+\.(self_attn\.(q|k|v|out)_proj|fc1|fc2)\.weight_t$"
# ESM-2 packs (exporter and packbuild alike, through esm2_defaults): calibrated schemes quantize
# Linear inputs only (measured on the real 8M: more accurate than PTQ4Protein's Linear + LayerNorm
# placement and no slower), and pwlq8 runs its Linears in the tokens form, whose widest channels
# scaled into range measured 39.2 dB logits SQNR on the real 8M (exact split 40.5, int8 33.2) at
# 1.02-1.13x int8's time at 650M shapes instead of ~1.9x (bench.speed_pwlq_accuracy, bench.speed).
# The library's own default form stays "exact", the paper's, and ESMFold keeps it.
ESM2_PLACEMENT = ("linear",)
ESM2_LINEAR_FORM = "tokens"


def esm2_defaults(config_type: type) -> dict:
    """The overrides an ESM-2 pack applies to `config_type`'s defaults: ESM2_PLACEMENT where the
    scheme lets one choose the placement, ESM2_LINEAR_FORM where it has a Linear form."""
    out: dict = {}
    if "layernorm" in config_type.placements:  # a fixed placement (dynamic, ternary) stays
        out["placement"] = ESM2_PLACEMENT
    if "linear_form" in {f.name for f in fields(config_type)}:
        out["linear_form"] = ESM2_LINEAR_FORM
    return out


def _check(ok: bool, cls: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{cls}: {message}")


def _check_regex(pattern: str, cls: str, key: str) -> None:
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{cls}: {key} {pattern!r} is not a regular expression ({e})") from None


@dataclass(frozen=True)
class _Config:
    name: ClassVar[str]
    placements: ClassVar[tuple[str, ...]] = ()
    calibrated: ClassVar[bool] = False

    def _validate(self) -> None:
        cls = type(self).__name__
        placement = getattr(self, "placement", ())
        _check(isinstance(placement, tuple) and set(placement) <= set(self.placements), cls,
               f"placement {placement!r} must be a tuple of {self.placements}")
        _check(len(set(placement)) == len(placement), cls, f"placement {placement!r} has duplicates")
        _check(bool(placement) or not self.placements, cls, f"{self.name} needs a placement from {self.placements}")

    def __post_init__(self) -> None:
        self._validate()

    @property
    def needs_calibration(self) -> bool:
        """Whether apply needs TensorStats from calibration runs (quant.quantize runs them)."""
        return self.calibrated

    def to_dict(self) -> dict:
        """JSON-ready form for the pack manifest: the fields plus `name`, `weights` described."""
        d = {"name": self.name, **asdict(self)}
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        if hasattr(self, "weights"):
            d["weights"] = self.weights.describe()
        return d


@dataclass(frozen=True)
class Fp32Config(_Config):
    """Nothing quantized: the float graph as exported."""

    name: ClassVar[str] = "fp32"


@dataclass(frozen=True)
class Int8Config(_Config):
    """Static uniform 8-bit: calibrated activation grids at `placement`, int8 weights.

    linear_dtype     Linear input grid: "uint8" affine (ORT's fast U8S8 path) or "int8" symmetric.
    layernorm_dtype  LayerNorm-input fake-quant grid (int8 symmetric by default).
    softmax_dtype    Softmax-input fake-quant grid (int8 symmetric over the calibrated clip).
    attention        "float" (default): the attention MatMuls Q.K^T and P.V stay float; "int8": both
                     run as integer MatMuls (rewrite/attention_int8.py): Q on a calibrated uint8 grid,
                     K and V on calibrated int8 grids (per tensor, calibrated on the graph after the
                     Linear rewrite), the Softmax output P on uint8 with scale 1/255; Softmax stays float.
                     "int8-scores": Q.K^T only (P.V float). Measured in bench/results/attention_int8.md.
    """

    name: ClassVar[str] = "int8"
    placements: ClassVar[tuple[str, ...]] = ALL_PLACEMENTS
    calibrated: ClassVar[bool] = True
    placement: tuple[str, ...] = ("linear", "layernorm")
    observer: ObserverConfig = MINMAX
    weights: PerChannelInt8 = field(default_factory=PerChannelInt8)
    linear_dtype: str = "uint8"
    layernorm_dtype: str = "int8"
    softmax_dtype: str = "int8"
    bits: int = 8
    attention: str = "float"

    def _validate(self) -> None:
        super()._validate()
        cls = type(self).__name__
        _check(self.bits == 8, cls, f"bits={self.bits}: the ONNX rewrites emit 8-bit activation grids only")
        for key in ("linear_dtype", "layernorm_dtype", "softmax_dtype"):
            _check(getattr(self, key) in ACT_DTYPES, cls, f"{key} {getattr(self, key)!r} not in {ACT_DTYPES}")
        _check(self.attention in ATTENTION_FORMS, cls, f"attention {self.attention!r} not in {ATTENTION_FORMS}")


@dataclass(frozen=True)
class Pwlq8Config(Int8Config):
    """PTQ4Protein piecewise-linear 8-bit: PWLQ on LayerNorm (and Softmax) inputs, Linear inputs
    uniform or split into a middle and a tail grid.

    breakpoint   "numerical" (default) or "closed_form" (quant.error_model).
    bp_mode      LayerNorm inputs: "static" (from calibration) or "dynamic" (computed at run time).
    split        Linear inputs: "never" (uniform), "auto" (error_model.prefer_split), "always".
    auto_min_gain_db, auto_max_uniform_sqnr_db   the "auto" thresholds (see prefer_split).
    linear_form  how a split Linear runs: "exact" (default; PTQ4Protein's two-grid split over every
                 channel: two full int8 MatMuls, ~2x the int8 time) or "channels"
                 (rewrite/pwlq_channels.py: one int8 MatMul plus a thin MatMul over the input channels
                 whose calibrated range passes the breakpoint, at most max_tail_channels of them).
                 On the real ESM-2 8M the tail events of attention-output and GELU tensors spread
                 over most channels, so "channels" lands near int8's accuracy (DESIGN.md section 6).
                 "tokens" (rewrite/pwlq_tokens.py, quant/token_grid.py): one int8 MatMul on a
                 per-token grid (each row its own scale; a static zero point), the
                 `token_float_channels` widest input channels handled apart (`token_outliers`).
    tail         channels form: the tail channels' out-of-range values on the symmetric tail grid
                 [-M, M] ("int8") or kept in float ("float").
    max_tail_channels  channels form: at most this fraction of a tensor's input channels goes to the
                 tail (the widest ones); the main grid then widens to cover the rest.
    smooth_alpha per-channel SmoothQuant on Linear inputs before either form: x / s into
                 diag(s) W with s_c = absmax_c^alpha / max|W_c|^(1-alpha); 0 turns it off.
    token_float_channels  tokens form: the fraction of a tensor's input channels (widest by calibrated
                 absmax) handled apart from the grid.
    token_outliers  tokens form: those channels are "scaled" into the others' range (default: x_c / m_c
                 with m_c a power of two, weight row c times m_c; one int8 MatMul and nothing else)
                 or run in "float" (a thin float MatMul beside it: more accurate, ~1.25x int8's time).
    split_linears  a regular expression over Linear weight names: only matching Linears may be split
                 (the rest get the uniform grid); "" lets the split policy pick among all of them.
    """

    name: ClassVar[str] = "pwlq8"
    breakpoint: str = "numerical"
    bp_mode: str = "static"
    split: str = "auto"
    auto_min_gain_db: float = 10.0
    auto_max_uniform_sqnr_db: float = 40.0
    linear_form: str = "exact"
    tail: str = "int8"
    max_tail_channels: float = 0.05
    smooth_alpha: float = 0.0
    token_float_channels: float = 0.02
    token_outliers: str = "scaled"
    split_linears: str = ""

    def _validate(self) -> None:
        super()._validate()
        cls = type(self).__name__
        _check_regex(self.split_linears, cls, "split_linears")
        _check(self.breakpoint in BREAKPOINT_METHODS, cls, f"breakpoint {self.breakpoint!r} not in {BREAKPOINT_METHODS}")
        _check(self.bp_mode in BP_MODES, cls, f"bp_mode {self.bp_mode!r} not in {BP_MODES}")
        _check(self.split in SPLIT_POLICIES, cls, f"split {self.split!r} not in {SPLIT_POLICIES}")
        _check(self.auto_min_gain_db > 0.0, cls, "auto_min_gain_db must be > 0")
        _check(self.linear_form in LINEAR_FORMS, cls, f"linear_form {self.linear_form!r} not in {LINEAR_FORMS}")
        _check(self.tail in TAIL_KINDS, cls, f"tail {self.tail!r} not in {TAIL_KINDS}")
        _check(0.0 <= self.max_tail_channels <= 1.0, cls,
               f"max_tail_channels {self.max_tail_channels} not in [0, 1]")
        _check(0.0 <= self.smooth_alpha < 1.0, cls, f"smooth_alpha {self.smooth_alpha} not in [0, 1)")
        _check(self.token_outliers in TOKEN_OUTLIER_FORMS, cls,
               f"token_outliers {self.token_outliers!r} not in {TOKEN_OUTLIER_FORMS}")
        _check(0.0 <= self.token_float_channels < 1.0, cls,
               f"token_float_channels {self.token_float_channels} not in [0, 1)")


@dataclass(frozen=True)
class DynamicInt8Config(_Config):
    """int8 weights, Linear inputs quantized to uint8 at run time (DynamicQuantizeLinear): no calibration."""

    name: ClassVar[str] = "dynamic-int8"
    placements: ClassVar[tuple[str, ...]] = ("linear",)
    placement: tuple[str, ...] = ("linear",)
    weights: PerChannelInt8 = field(default_factory=PerChannelInt8)


@dataclass(frozen=True)
class TernaryConfig(_Config):
    """2Bits of Protein (BitNet b1.58): absmean ternary weights in the Linears whose weight name
    matches `linears` (default: ESM-2's encoder Linears), run as int8 {-1, 0, 1}.

    activations  "dynamic": uint8 per tensor at run time (DynamicQuantizeMatMul, no calibration);
                 "static": calibrated uint8 grids (needs calibration).
    """

    name: ClassVar[str] = "ternary"
    placements: ClassVar[tuple[str, ...]] = ("linear",)
    placement: tuple[str, ...] = ("linear",)
    weights: TernaryWeights = field(default_factory=TernaryWeights)
    activations: str = "dynamic"
    linears: str = ESM2_ENCODER_LINEARS
    observer: ObserverConfig = MINMAX

    def _validate(self) -> None:
        super()._validate()
        _check(self.activations in ("dynamic", "static"), "TernaryConfig",
               f"activations {self.activations!r} not in ('dynamic', 'static')")
        _check_regex(self.linears, "TernaryConfig", "linears")

    @property
    def needs_calibration(self) -> bool:
        return self.activations == "static"
