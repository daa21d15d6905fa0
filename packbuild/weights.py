"""Canonical ESM-2 weights: numpy arrays under fair-esm state-dict names, from any supported source."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from app.core.alphabet import ESM2_SPECIAL, ESM2_TOKENS

ALPHABET_TOKENS = ESM2_TOKENS  # the ESM-2 alphabet (app.core.alphabet, one copy for app and exporter)
SPECIAL = dict(ESM2_SPECIAL)  # {"cls_idx": 0, "padding_idx": 1, "eos_idx": 2, "unk_idx": 3, "mask_idx": 32}


class CheckpointError(ValueError):
    """A checkpoint that cannot become an ESM-2 masked LM; the message names the file and the gap."""


@dataclass(frozen=True)
class Esm2Config:
    num_layers: int
    embed_dim: int
    attention_heads: int
    vocab_size: int = 33
    token_dropout: bool = True
    max_tokens: int = 1024  # BOS + 1022 residues + EOS, as ESM-2 was trained
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.embed_dim % self.attention_heads:
            raise CheckpointError(f"embed_dim {self.embed_dim} is not divisible by "
                                  f"attention_heads {self.attention_heads}")
        if self.vocab_size != len(ALPHABET_TOKENS):
            raise CheckpointError(f"vocab_size {self.vocab_size}: only the 33-token ESM alphabet is supported")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.attention_heads


@dataclass
class Esm2Weights:
    """Config plus float32 arrays keyed by fair-esm names (see docs/DESIGN.md section 2)."""
    name: str
    config: Esm2Config
    arrays: dict[str, np.ndarray]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.arrays[key]
        except KeyError:
            raise CheckpointError(f"{self.source or self.name}: missing weight {key!r}") from None

    @property
    def has_contact_head(self) -> bool:
        return "contact_head.regression.weight" in self.arrays

    def parameter_count(self) -> int:
        return int(sum(a.size for k, a in self.arrays.items() if k != "lm_head.weight"))

    def check_complete(self) -> None:
        missing = [k for k in required_keys(self.config) if k not in self.arrays]
        if missing:
            head = [k for k in missing if k.startswith("lm_head")]
            if head and len(head) == len(missing):
                raise CheckpointError(
                    f"{self.source or self.name}: no masked-LM head ({', '.join(head)}). This looks like a "
                    "classification or encoder-only checkpoint; variant scoring needs EsmForMaskedLM weights.")
            raise CheckpointError(f"{self.source or self.name}: missing weights {missing[:6]}"
                                  f"{' ...' if len(missing) > 6 else ''}")


def required_keys(cfg: Esm2Config) -> list[str]:
    keys = ["embed_tokens.weight", "emb_layer_norm_after.weight", "emb_layer_norm_after.bias",
            "lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight",
            "lm_head.layer_norm.bias", "lm_head.weight", "lm_head.bias"]
    for i in range(cfg.num_layers):
        for mod in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                    "self_attn_layer_norm", "fc1", "fc2", "final_layer_norm"):
            keys += [f"layers.{i}.{mod}.weight", f"layers.{i}.{mod}.bias"]
    return keys


_HF_RULES = [
    (r"^esm\.embeddings\.word_embeddings\.", "embed_tokens."),
    (r"^esm\.encoder\.emb_layer_norm_after\.", "emb_layer_norm_after."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\1.self_attn.q_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\1.self_attn.k_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\1.self_attn.v_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.self_attn.out_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.LayerNorm\.", r"layers.\1.self_attn_layer_norm."),
    (r"^esm\.encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.fc1."),
    (r"^esm\.encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.fc2."),
    (r"^esm\.encoder\.layer\.(\d+)\.LayerNorm\.", r"layers.\1.final_layer_norm."),
    (r"^esm\.contact_head\.regression\.", "contact_head.regression."),
    (r"^lm_head\.decoder\.weight$", "lm_head.weight"),
    (r"^lm_head\.", "lm_head."),
]


def hf_to_fair_esm_names(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map HuggingFace `EsmForMaskedLM` keys to fair-esm names (gamma/beta -> weight/bias)."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key.endswith("inv_freq") or key.endswith("position_ids"):
            continue
        for pattern, repl in _HF_RULES:
            if re.search(pattern, key):
                new = re.sub(pattern, repl, key)
                new = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", new))
                out[new] = np.asarray(value, dtype=np.float32)
                break
    if "lm_head.weight" not in out and "embed_tokens.weight" in out and "lm_head.dense.weight" in out:
        out["lm_head.weight"] = out["embed_tokens.weight"]  # tied decoder
    return out


def from_state_dict(name: str, config: Esm2Config, state: dict, source: str = "") -> Esm2Weights:
    """Weights from a fair-esm-named state dict of torch tensors or arrays (prefixes stripped)."""
    arrays = {}
    for key, value in state.items():
        key = re.sub(r"^(encoder\.sentence_encoder\.|encoder\.)", "", key)
        if key.endswith("inv_freq"):
            continue
        arr = value.detach().cpu().float().numpy() if hasattr(value, "detach") else np.asarray(value)
        arrays[key] = np.ascontiguousarray(arr, dtype=np.float32)
    weights = Esm2Weights(name=name, config=config, arrays=arrays, source=source)
    weights.check_complete()
    return weights
