"""Load ESM-2 from a fair-esm name, a local fair-esm `.pt`, or a HuggingFace ESM directory."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from packbuild.checkpoint import hf_config, hf_esm2_config
from packbuild.weights import CheckpointError, Esm2Config, Esm2Weights, from_state_dict, hf_to_fair_esm_names

log = logging.getLogger(__name__)

FAIR_ESM_NAME = re.compile(r"^esm2_t(\d+)_(\d+[MB])_UR50D$")
# Reference forward: tokens (B, T) int64 -> {"logits", "embeddings"[, "contacts"]} as numpy.
Reference = Callable[[np.ndarray, bool], dict[str, np.ndarray]]


@dataclass
class LoadedModel:
    weights: Esm2Weights
    reference: Reference  # the torch model the export is verified against
    torch_model: object = None
    ternary_qat: dict | None = None  # {"per_channel": bool} for a `exporter.train --ternary` checkpoint


def load(spec: str) -> LoadedModel:
    """Dispatch on what `spec` is: an existing directory, an existing `.pt` file, or a fair-esm name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_huggingface_dir(path)
    if path.is_file():
        return load_fair_esm_file(path)
    if FAIR_ESM_NAME.match(spec):
        return load_fair_esm_name(spec)
    raise CheckpointError(f"{spec!r} is neither an existing directory, an existing .pt file, nor a fair-esm "
                          "ESM-2 name like esm2_t6_8M_UR50D ... esm2_t36_3B_UR50D")


def from_fair_esm_model(model, name: str, source: str = "") -> LoadedModel:
    model = model.eval()
    cfg = Esm2Config(num_layers=model.num_layers, embed_dim=model.embed_dim,
                     attention_heads=model.attention_heads, token_dropout=model.token_dropout)
    weights = from_state_dict(name, cfg, model.state_dict(), source=source)
    return LoadedModel(weights, _fair_esm_reference(model), model)


def _fair_esm_reference(model) -> Reference:
    def run(tokens: np.ndarray, contacts: bool = False) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():
            out = model(torch.from_numpy(tokens), repr_layers=[model.num_layers], return_contacts=contacts)
        res = {"logits": out["logits"].numpy(), "embeddings": out["representations"][model.num_layers].numpy()}
        if contacts:
            res["contacts"] = out["contacts"].numpy()
        return res
    return run


def load_fair_esm_name(name: str) -> LoadedModel:
    """Download through fair-esm (cached under torch.hub's directory). Needs internet the first time."""
    import esm

    try:
        model, _ = esm.pretrained.load_model_and_alphabet_hub(name)
    except Exception as exc:  # network, HTTP, or a truncated cache file
        raise CheckpointError(f"could not download {name} through fair-esm ({exc}). Offline? Pass a local "
                              "fair-esm .pt file or a HuggingFace ESM directory instead.") from exc
    return from_fair_esm_model(model, name, source=f"fair-esm hub: {name}")


def load_fair_esm_file(path: Path) -> LoadedModel:
    """A fair-esm checkpoint (`{"cfg": {"model": ...}, "model": state_dict}`), e.g. from exporter.train.

    Loaded with `weights_only=False` because fair-esm stores an argparse Namespace in `cfg`: only
    export checkpoints you trust. A `<stem>-contact-regression.pt` beside it is merged if present.
    """
    import torch
    from esm.model.esm2 import ESM2
    import esm

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    if not isinstance(data, dict) or "model" not in data or "cfg" not in data:
        raise CheckpointError(f"{path}: expected a fair-esm ESM-2 checkpoint with 'cfg' and 'model' keys")
    cfg = data["cfg"]["model"]
    get = (lambda k: cfg[k]) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k))
    state = {re.sub(r"^(encoder\.sentence_encoder\.|encoder\.)", "", k): v for k, v in data["model"].items()}
    regression = path.with_name(path.stem + "-contact-regression.pt")
    if regression.exists():
        state.update(torch.load(str(regression), map_location="cpu", weights_only=False)["model"])
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=get("encoder_layers"), embed_dim=get("encoder_embed_dim"),
                 attention_heads=get("encoder_attention_heads"), alphabet=alphabet,
                 token_dropout=get("token_dropout"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("contact_head")]
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match ESM-2 (missing {missing[:4]}, unexpected {unexpected[:4]})")
    record = data.get("training", {}) if isinstance(data.get("training"), dict) else {}
    qat = {"per_channel": bool(record.get("ternary_per_channel"))} if record.get("ternary") else None
    if qat is not None:  # latent float weights: verify against the ternary forward it was trained with
        from .ternary_qat import ternarize_encoder

        loaded = from_fair_esm_model(model, path.stem, source=str(path))
        ternarize_encoder(model, per_channel=qat["per_channel"])
        loaded.reference, loaded.ternary_qat = _fair_esm_reference(model.eval()), qat
        loaded.weights.notes.append("ternary QAT checkpoint (2Bits of Protein): latent float weights, verified "
                                    "against the torch ternary forward")
    else:
        loaded = from_fair_esm_model(model, path.stem, source=str(path))
    if "contact_head.regression.weight" not in state:
        loaded.weights.notes.append("no contact-regression weights: contacts are untrained")
    return loaded


def load_huggingface_dir(path: Path) -> LoadedModel:
    """A HuggingFace ESM directory (`config.json` + safetensors/bin), e.g. a fine-tuned EsmForMaskedLM."""
    hf = hf_config(path)
    state = _read_hf_state(path)
    if not any(k.startswith("lm_head.") for k in state):
        archs = ", ".join(hf.get("architectures") or ["unknown"])
        raise CheckpointError(f"{path}: this checkpoint ({archs}) has no masked-LM head (lm_head.*). Variant "
                              "scoring needs EsmForMaskedLM weights; a classification model cannot score.")
    cfg = hf_esm2_config(hf)
    weights = from_state_dict(path.name, cfg, hf_to_fair_esm_names(state), source=str(path))
    return LoadedModel(weights, _hf_reference(path))


def _read_hf_state(path: Path) -> dict[str, np.ndarray]:
    files = sorted(path.glob("*.safetensors"))
    if files:
        from safetensors.numpy import load_file

        state: dict[str, np.ndarray] = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    bins = sorted(path.glob("pytorch_model*.bin"))
    if not bins:
        raise CheckpointError(f"{path}: no *.safetensors or pytorch_model*.bin weights")
    import torch

    state = {}
    for f in bins:
        state.update({k: v.float().numpy() for k, v in torch.load(str(f), map_location="cpu").items()})
    return state


def _hf_reference(path: Path) -> Reference:
    model = None

    def run(tokens: np.ndarray, contacts: bool = False) -> dict[str, np.ndarray]:
        nonlocal model
        import torch
        from transformers import EsmForMaskedLM

        if model is None:
            model = EsmForMaskedLM.from_pretrained(str(path), attn_implementation="eager").eval()
        ids = torch.from_numpy(tokens)
        mask = (ids != model.config.pad_token_id).long()
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            res = {"logits": out.logits.numpy(), "embeddings": out.hidden_states[-1].numpy()}
            if contacts:
                res["contacts"] = model.esm.predict_contacts(ids, mask).numpy()
        return res
    return run
