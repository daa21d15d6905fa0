"""An ESM-2 checkpoint on disk -> `Esm2Weights`, with numpy only (no torch, no safetensors package).

Reads fair-esm `.pt` files (`{"cfg": ..., "model": state_dict}`, plus `<stem>-contact-regression.pt`
beside it when present, as esm/pretrained.py loads them), HuggingFace `pytorch_model*.bin` and
`*.safetensors` files (EsmForMaskedLM names), and HuggingFace ESM folders (`config.json` + weights).
Pickles go through packbuild.torch_reader's allow-list, never a general unpickler.

The architecture comes from the weights themselves: layers from the `layers.N.` keys, width and
vocabulary from the embedding, heads from the rotary `inv_freq` buffer (head_dim / 2 entries) when
the checkpoint has one. A config (fair-esm `cfg`, HF `config.json`) is only a fallback for heads and
token dropout, and a disagreement with the weights is refused rather than trusted.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .safetensors_reader import read_safetensors
from .torch_reader import Placeholder, config_value, load_checkpoint
from .weights import CheckpointError, Esm2Config, Esm2Weights, from_state_dict, hf_to_fair_esm_names

# Published ESM-2 widths and their head counts (fair-esm's model table), for checkpoints without inv_freq.
HEADS_BY_WIDTH = {320: 20, 480: 20, 640: 20, 1280: 20, 2560: 40, 5120: 40}
FAIR_ESM_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")


def hf_config(folder: Path) -> dict:
    """A HuggingFace ESM folder's config.json, checked to be an ESM-2 masked LM layout."""
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise CheckpointError(f"{folder}: no config.json; expected a HuggingFace ESM model directory")
    try:
        hf = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path}: not readable JSON ({exc})") from None
    if hf.get("model_type") != "esm":
        raise CheckpointError(f"{cfg_path}: model_type is {hf.get('model_type')!r}, not 'esm'")
    if hf.get("is_folding_model"):
        raise CheckpointError(f"{folder}: an ESMFold checkpoint; ESM-2 export needs an EsmForMaskedLM")
    if hf.get("position_embedding_type", "rotary") != "rotary" or hf.get("emb_layer_norm_before"):
        raise CheckpointError(f"{cfg_path}: not an ESM-2 layout (rotary positions, no embedding LayerNorm)")
    return hf


def hf_esm2_config(hf: dict) -> Esm2Config:
    """Esm2Config from a checked HuggingFace config.json (the exporter's loader and this reader)."""
    return Esm2Config(num_layers=hf["num_hidden_layers"], embed_dim=hf["hidden_size"],
                      attention_heads=hf["num_attention_heads"], vocab_size=hf.get("vocab_size", 33),
                      token_dropout=bool(hf.get("token_dropout", True)),
                      max_tokens=min(1024, int(hf.get("max_position_embeddings", 1026)) - 2),
                      layer_norm_eps=float(hf.get("layer_norm_eps", 1e-5)))


def _rotary_heads(state: dict[str, np.ndarray], embed_dim: int) -> Optional[int]:
    inv = next((v for k, v in state.items() if k.endswith("inv_freq")), None)
    if inv is None or inv.ndim != 1 or not inv.size or embed_dim % (2 * inv.size):
        return None
    return embed_dim // (2 * inv.size)


def infer_config(state: dict[str, np.ndarray], label: str, hint: dict) -> Esm2Config:
    """Esm2Config from fair-esm-named arrays (module docstring); `hint` holds the config's
    attention_heads / token_dropout / max_tokens / layer_norm_eps / num_layers / embed_dim if any."""
    if "embed_tokens.weight" not in state:
        raise CheckpointError(f"{label}: no embed_tokens.weight (esm.embeddings.word_embeddings.weight); "
                              "not an ESM-2 checkpoint")
    vocab, embed_dim = state["embed_tokens.weight"].shape
    layer_ids = {int(m.group(1)) for k in state if (m := re.match(r"layers\.(\d+)\.", k))}
    if not layer_ids:
        raise CheckpointError(f"{label}: no transformer layers (layers.N.*) in the checkpoint")
    num_layers = max(layer_ids) + 1
    for key, found in (("num_layers", num_layers), ("embed_dim", embed_dim)):
        if hint.get(key) is not None and int(hint[key]) != found:
            raise CheckpointError(f"{label}: the config says {key} {hint[key]}, the weights have {found}")
    heads = hint.get("rotary_heads") or hint.get("attention_heads") or HEADS_BY_WIDTH.get(int(embed_dim))
    if heads is None:
        raise CheckpointError(f"{label}: cannot tell the number of attention heads of width {embed_dim} "
                              "(no rotary inv_freq buffer, no config); pass the HuggingFace folder with config.json")
    if hint.get("rotary_heads") and hint.get("attention_heads") and hint["rotary_heads"] != hint["attention_heads"]:
        raise CheckpointError(f"{label}: the config says {hint['attention_heads']} heads, the rotary buffer "
                              f"implies {hint['rotary_heads']}")
    kwargs = {k: hint[k] for k in ("max_tokens", "layer_norm_eps") if hint.get(k) is not None}
    return Esm2Config(num_layers=num_layers, embed_dim=int(embed_dim), attention_heads=int(heads),
                      vocab_size=int(vocab), token_dropout=bool(hint.get("token_dropout", True)), **kwargs)


def _is_hf_state(state: dict) -> bool:
    return any(k.startswith("esm.") for k in state)


def _fair_esm_state(state: dict) -> dict[str, np.ndarray]:
    return {FAIR_ESM_PREFIX.sub("", k): v for k, v in state.items()}


def _tensors_only(state: Any, label: str) -> dict[str, np.ndarray]:
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{label}: expected a state dict of tensors, found {type(state).__name__}")
    arrays = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, np.ndarray)}
    if not arrays:
        raise CheckpointError(f"{label}: the state dict holds no tensors")
    return arrays


def _fair_esm_hint(cfg: Any) -> dict:
    """heads / token_dropout / layers / width from fair-esm's `cfg["model"]` (a Namespace placeholder,
    an omegaconf placeholder or a dict)."""
    model = config_value(cfg, "model") if isinstance(cfg, (dict, Placeholder)) else None
    if model is None:
        return {}
    get = lambda key: config_value(model, key)  # noqa: E731
    hint = {"attention_heads": get("encoder_attention_heads"), "token_dropout": get("token_dropout"),
            "num_layers": get("encoder_layers"), "embed_dim": get("encoder_embed_dim")}
    return {k: v for k, v in hint.items() if isinstance(v, (int, bool)) and not isinstance(v, Placeholder)}


def _read_pickle_state(path: Path, label: str) -> tuple[dict[str, np.ndarray], dict]:
    """(fair-esm-named arrays, hint) of a `.pt` / `.bin` file: fair-esm's layout or a plain state dict."""
    try:
        data = load_checkpoint(path, label)
    except (ValueError, EOFError, OSError) as exc:  # UnsafeCheckpointError is a ValueError
        raise CheckpointError(str(exc) if label in str(exc) else f"{label}: {exc}") from exc
    if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
        state, hint = _tensors_only(data["model"], label), _fair_esm_hint(data.get("cfg"))
    else:
        state, hint = _tensors_only(data, label), {}
    if _is_hf_state(state):
        hint["rotary_heads"] = _rotary_heads(state, _embed_width(state))
        return hf_to_fair_esm_names(state), hint
    state = _fair_esm_state(state)
    hint["rotary_heads"] = _rotary_heads(state, _embed_width(state))
    return state, hint


def _embed_width(state: dict[str, np.ndarray]) -> int:
    emb = state.get("embed_tokens.weight", state.get("esm.embeddings.word_embeddings.weight"))
    emb = emb if emb is not None else next((v for k, v in state.items() if k.endswith("embed_tokens.weight")), None)
    return int(emb.shape[1]) if emb is not None and emb.ndim == 2 else 0


def contact_regression_beside(path: Path) -> Optional[Path]:
    """fair-esm's `<stem>-contact-regression.pt` next to a model file, if there."""
    candidate = path.with_name(path.stem + "-contact-regression.pt")
    return candidate if candidate.is_file() else None


def _read_state(path: Path, label: str) -> tuple[dict[str, np.ndarray], dict]:
    """(fair-esm-named arrays, hint) of one `.pt` / `.bin` / `.safetensors` file."""
    if path.suffix != ".safetensors":
        return _read_pickle_state(path, label)
    try:
        raw = read_safetensors(path)
    except ValueError as exc:
        raise CheckpointError(f"{label}: {exc}") from exc
    state = hf_to_fair_esm_names(raw) if _is_hf_state(raw) else _fair_esm_state(raw)
    return state, {"rotary_heads": _rotary_heads(raw, _embed_width(raw))}


def _weights(state: dict[str, np.ndarray], hint: dict, hf: Optional[dict], name: str, label: str) -> Esm2Weights:
    if hf is not None:
        cfg = hf_esm2_config(hf)
        hint = {**hint, "attention_heads": cfg.attention_heads, "token_dropout": cfg.token_dropout,
                "max_tokens": cfg.max_tokens, "layer_norm_eps": cfg.layer_norm_eps,
                "num_layers": cfg.num_layers, "embed_dim": cfg.embed_dim}
    weights = from_state_dict(name, infer_config(state, label, hint), state, source=label)
    if not weights.has_contact_head:
        weights.notes.append("no contact-regression weights: contacts are untrained")
    return weights


def read_file(path: Path, name: str, label: str, regression: Optional[Path] = None,
              hf: Optional[dict] = None) -> Esm2Weights:
    """Weights of one checkpoint file (`.pt`, `.bin`, `.safetensors`); `regression`, fair-esm's
    contact-regression file, is merged as esm/pretrained.py does; `hf`, a config.json beside it."""
    state, hint = _read_state(Path(path), label)
    if regression is not None:
        reg_state, _ = _read_pickle_state(regression, f"{label} (contact regression {regression.name})")
        state.update({k: v for k, v in reg_state.items() if k.startswith("contact_head.")})
    return _weights(state, hint, hf, name, label)


def read_folder(folder: Path, name: str, label: str) -> Esm2Weights:
    """A HuggingFace ESM folder: config.json and `*.safetensors` (preferred) or `pytorch_model*.bin`,
    one file or shards."""
    hf = hf_config(folder)
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise CheckpointError(f"{label}: no *.safetensors or pytorch_model*.bin weights")
    state: dict[str, np.ndarray] = {}
    hint: dict = {}
    for f in files:
        part, part_hint = _read_state(f, label)
        state.update(part)
        hint["rotary_heads"] = hint.get("rotary_heads") or part_hint.get("rotary_heads")
    return _weights(state, hint, hf, name, label)


def read_weights(path: Path, name: str, label: str, regression: Optional[Path] = None) -> Esm2Weights:
    """Weights of a checkpoint file or a HuggingFace folder (CheckpointError naming `label` otherwise);
    `regression`: fair-esm's contact-regression file (contact_regression_beside finds it locally)."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, name, label)
    if path.suffix not in (".pt", ".pth", ".bin", ".safetensors"):
        raise CheckpointError(f"{label}: expected a .pt, .bin or .safetensors checkpoint or a HuggingFace folder")
    hf = hf_config(path.parent) if path.suffix != ".pt" and (path.parent / "config.json").is_file() else None
    return read_file(path, name, label, regression, hf)
