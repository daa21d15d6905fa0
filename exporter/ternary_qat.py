"""Ternary (BitNet b1.58) quantization-aware training of ESM-2's encoder Linears ("2Bits of Protein").

Turnbull, Baioumy & Deane 2024 ternarize every encoder Linear (q, k, v, out projections, fc1,
fc2) and leave the embeddings, LM head and contact head in float. BitNet b1.58 (Ma et al. 2024,
eqs. 1-3):

    gamma = mean |W|                       (per matrix, or per output row with per_channel)
    W~    = RoundClip(W / (gamma + eps), -1, 1),  dequantized weight W~ * gamma
    s     = (2^(b-1) - 1) / max(|x|, eps)  per token row,  x_q = clip(round(x s), -2^(b-1), 2^(b-1) - 1) / s

Training keeps latent float weights and uses the quantized ones in forward, with the
straight-through estimator `w + (q(w) - w).detach()` (and the same for activations). A
`TernaryLinear` subclasses `nn.Linear` and keeps its `weight`/`bias` parameters, so a QAT
model's state dict has exactly the key names of a plain ESM-2: its checkpoint is an ordinary
ESM-2 checkpoint of latent float weights, ternarized again at export.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

EPS = 1e-5
ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
FFN_LINEARS = ("fc1", "fc2")


@dataclass(frozen=True)
class TernaryConfig:
    """per_channel: one gamma per output row instead of per matrix. act_bits: absmax per-token
    activation bits (BitNet b1.58 uses 8); None leaves the Linear inputs in float."""
    per_channel: bool = False
    act_bits: int | None = 8
    eps: float = EPS

    def __post_init__(self):
        if self.act_bits is not None and not 2 <= self.act_bits <= 16:
            raise ValueError(f"act_bits must be None or in 2..16, got {self.act_bits}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")


def ternary_weight(w: torch.Tensor, per_channel: bool = False,
                   eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(W~ int8 in {-1, 0, 1}, gamma) with W ~= W~ * gamma; gamma is a scalar, or (out, 1) per channel."""
    a = w.abs()
    gamma = a.mean(dim=1, keepdim=True) if per_channel else a.mean()
    q = torch.clamp(torch.round(w / (gamma + eps)), -1, 1)
    return q.to(torch.int8), gamma


def dequantized_ternary(w: torch.Tensor, per_channel: bool = False, eps: float = EPS) -> torch.Tensor:
    """W~ * gamma in w's dtype (differentiable in gamma only; use `ste` for training)."""
    a = w.abs()
    gamma = a.mean(dim=1, keepdim=True) if per_channel else a.mean()
    return torch.clamp(torch.round(w / (gamma + eps)), -1, 1) * gamma


def quantize_activations(x: torch.Tensor, bits: int = 8, eps: float = EPS) -> torch.Tensor:
    """Absmax fake quantization per token (last axis): (..., D) -> (..., D) on a 2^bits grid."""
    qmax = 2 ** (bits - 1) - 1
    s = qmax / x.abs().amax(dim=-1, keepdim=True).clamp(min=eps)
    return torch.clamp(torch.round(x * s), -qmax - 1, qmax) / s


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: forward value q, gradient of the identity to x."""
    return x + (q - x).detach()


class TernaryLinear(nn.Linear):
    """nn.Linear whose forward uses the ternary weight and (optionally) int8 per-token inputs."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 config: TernaryConfig = TernaryConfig(), **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.config = config

    @classmethod
    def from_linear(cls, linear: nn.Linear, config: TernaryConfig) -> "TernaryLinear":
        """Wrap `linear`'s own Parameters (no copy: optimizers and state-dict keys stay valid)."""
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                  config=config, device="meta")
        new.weight = linear.weight
        new.bias = linear.bias
        return new

    def quantized_weight(self) -> torch.Tensor:
        c = self.config
        return ste(self.weight, dequantized_ternary(self.weight, c.per_channel, c.eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        c = self.config
        if c.act_bits is not None:
            x = ste(x, quantize_activations(x, c.act_bits, c.eps))
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.config}"


def encoder_linear_names(model) -> list[str]:
    """State-dict prefixes of the six ternarized Linears of every layer of a fair-esm ESM2."""
    names = []
    for i in range(len(model.layers)):
        names += [f"layers.{i}.self_attn.{p}" for p in ATTENTION_PROJECTIONS]
        names += [f"layers.{i}.{p}" for p in FFN_LINEARS]
    return names


def ternarize_encoder(model, per_channel: bool = False, act_bits: int | None = 8) -> list[str]:
    """Swap, in place, q/k/v/out_proj, fc1 and fc2 of every layer for TernaryLinear; return their names.

    fair-esm's MultiheadAttention takes a fused F.multi_head_attention_forward path (which reads
    the proj weights directly, bypassing the modules' forward) when rotary embeddings are off;
    ESM2 uses rotary embeddings, but `enable_torch_version = False` closes that path for good.
    """
    config = TernaryConfig(per_channel=per_channel, act_bits=act_bits)
    for layer in model.layers:
        attn = layer.self_attn
        attn.enable_torch_version = False
        for p in ATTENTION_PROJECTIONS:
            setattr(attn, p, TernaryLinear.from_linear(getattr(attn, p), config))
        for p in FFN_LINEARS:
            setattr(layer, p, TernaryLinear.from_linear(getattr(layer, p), config))
    names = encoder_linear_names(model)
    log.info("ternarized %d encoder Linears (%s)", len(names), config)
    return names
