"""fair-esm's `esmfold_3B_v1.pt` -> a transformers `EsmForProteinFolding` (config translated, keys mapped).

fair-esm's checkpoint holds `{"cfg": {"model": ESMFoldConfig}, "model": state_dict}` WITHOUT the
language model: `esm.pretrained.esmfold_v1()` builds ESM-2 3B from its own checkpoint
(`esm2_t36_3B_UR50D.pt`) and loads the folding weights beside it. The folding weights
(trunk, structure module, heads, `esm_s_*`, `embedding`) carry the same names in transformers'
port; only the ESM-2 keys differ (fair-esm `layers.N.self_attn.q_proj` vs HF
`encoder.layer.N.attention.self.query`), mapped here by inverting `weights.hf_to_fair_esm_names`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from packbuild.weights import CheckpointError, hf_to_fair_esm_names

log = logging.getLogger(__name__)

ESM_TYPES = {"esm2_8M": "esm2_t6_8M_UR50D", "esm2_35M": "esm2_t12_35M_UR50D", "esm2_150M": "esm2_t30_150M_UR50D",
             "esm2_650M": "esm2_t33_650M_UR50D", "esm2_3B": "esm2_t36_3B_UR50D", "esm2_15B": "esm2_t48_15B_UR50D"}
# fair-esm StructureModuleConfig field -> transformers StructureModuleConfig field
STRUCTURE_FIELDS = {"c_s": "sequence_dim", "c_z": "pairwise_dim", "c_ipa": "ipa_dim", "c_resnet": "resnet_dim",
                    "no_heads_ipa": "num_heads_ipa", "no_qk_points": "num_qk_points", "no_v_points": "num_v_points",
                    "dropout_rate": "dropout_rate", "no_blocks": "num_blocks",
                    "no_transition_layers": "num_transition_layers", "no_resnet_blocks": "num_resnet_blocks",
                    "no_angles": "num_angles", "trans_scale_factor": "trans_scale_factor", "epsilon": "epsilon",
                    "inf": "inf"}
# fair-esm's dataclass defaults (esm/esmfold/v1/trunk.py), for fields a stored config leaves out
TRUNK_DEFAULTS = {"num_blocks": 48, "sequence_state_dim": 1024, "pairwise_state_dim": 128, "sequence_head_width": 32,
                  "pairwise_head_width": 32, "position_bins": 32, "dropout": 0.0, "layer_drop": 0.0,
                  "max_recycles": 4, "chunk_size": None}
STRUCTURE_DEFAULTS = {"c_s": 384, "c_z": 128, "c_ipa": 16, "c_resnet": 128, "no_heads_ipa": 12, "no_qk_points": 4,
                      "no_v_points": 8, "dropout_rate": 0.0, "no_blocks": 8, "no_transition_layers": 1,
                      "no_resnet_blocks": 2, "no_angles": 7, "trans_scale_factor": 10, "epsilon": 1e-8, "inf": 1e5}


def _as_dict(cfg) -> dict:
    """An OmegaConf DictConfig, dataclass, Namespace or dict as a plain (nested) dict."""
    if isinstance(cfg, dict):
        return {k: _as_dict(v) if not isinstance(v, (int, float, str, bool, type(None))) else v
                for k, v in cfg.items()}
    if hasattr(cfg, "items"):
        return _as_dict(dict(cfg.items()))
    if hasattr(cfg, "__dict__"):
        return _as_dict({k: v for k, v in vars(cfg).items() if not k.startswith("_")})
    return cfg


def hf_config(fold_cfg: dict, esm_cfg) -> object:
    """A transformers EsmConfig (is_folding_model) from fair-esm's ESMFold config and the ESM-2 sizes."""
    from .model import esmfold_config

    trunk = fold_cfg.get("trunk", {})
    sm_fair = {**STRUCTURE_DEFAULTS, **trunk.get("structure_module", {})}
    sm = {STRUCTURE_FIELDS[k]: v for k, v in sm_fair.items() if k in STRUCTURE_FIELDS}
    trunk_hf = {k: trunk.get(k, default) for k, default in TRUNK_DEFAULTS.items()}
    esm = {"hidden_size": esm_cfg.embed_dim, "num_hidden_layers": esm_cfg.num_layers,
           "num_attention_heads": esm_cfg.attention_heads, "intermediate_size": 4 * esm_cfg.embed_dim}
    cfg = esmfold_config(esm=esm, trunk=trunk_hf, structure=sm,
                         lddt_head_hid_dim=int(fold_cfg.get("lddt_head_hid_dim", 128)))
    cfg.esmfold_config.esm_type = fold_cfg.get("esm_type", "esm2_3B")
    cfg.esmfold_config.use_esm_attn_map = bool(fold_cfg.get("use_esm_attn_map", False))
    if cfg.esmfold_config.use_esm_attn_map:
        raise CheckpointError("ESMFold configs with use_esm_attn_map are not supported (ESMFold v0/v1 do not use it)")
    return cfg


def fair_to_hf_esm_keys(hf_esm_keys: list[str]) -> dict[str, str]:
    """{fair-esm ESM-2 name: key of EsmForProteinFolding.esm}, by mapping each HF key forward."""
    out = {}
    for key in hf_esm_keys:
        fair = list(hf_to_fair_esm_names({f"esm.{key}": np.zeros(1, np.float32)}))
        if fair:
            out[fair[0]] = key
    return out


def assemble(fold_state: dict, fold_cfg: dict, esm_weights) -> object:
    """EsmForProteinFolding with the folding weights of `fold_state` and the ESM-2 `esm_weights` (fair names)."""
    import torch
    from transformers import EsmForProteinFolding

    model = EsmForProteinFolding(hf_config(fold_cfg, esm_weights.config)).float().eval()
    target = model.state_dict()
    state = {k: v for k, v in fold_state.items() if not k.startswith("esm.") and k in target}
    for fair, hf in fair_to_hf_esm_keys([k for k in model.esm.state_dict()]).items():
        if fair in esm_weights.arrays:
            state[f"esm.{hf}"] = torch.from_numpy(np.asarray(esm_weights.arrays[fair]))
    params = {n for n, _ in model.named_parameters()}
    missing = sorted(n for n in params if n not in state and not n.startswith("esm.contact_head"))
    if missing:
        raise CheckpointError(f"ESMFold checkpoint lacks {len(missing)} weight(s), e.g. {missing[:4]}")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(target[k].shape)]
    if wrong:
        raise CheckpointError(f"ESMFold weight shapes differ from the config: {wrong[:4]}")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return model


def esm_checkpoint_for(fold_path: Path, esm_type: str, esm_weights: Path | None) -> Path | None:
    """The ESM-2 .pt ESMFold needs: --esm-weights, else beside the ESMFold file, else torch hub's cache."""
    if esm_weights is not None:
        return Path(esm_weights).expanduser()
    name = ESM_TYPES.get(esm_type, esm_type)
    import torch

    for folder in (fold_path.parent, Path(torch.hub.get_dir()) / "checkpoints"):
        if (folder / f"{name}.pt").is_file():
            return folder / f"{name}.pt"
    return None


def load_fair_esm_folding(path: Path, esm_weights: Path | None = None):
    """EsmForProteinFolding from fair-esm's `esmfold_3B_v1.pt` plus its ESM-2 checkpoint (local, else hub)."""
    import torch

    from ..loaders import load_fair_esm_file, load_fair_esm_name

    data = torch.load(str(path), map_location="cpu", weights_only=False)  # cfg is a config object: trust the file
    if not isinstance(data, dict) or "model" not in data or "cfg" not in data:
        raise CheckpointError(f"{path}: expected fair-esm's ESMFold checkpoint with 'cfg' and 'model' keys")
    fold_cfg = _as_dict(data["cfg"]["model"])
    esm_type = str(fold_cfg.get("esm_type", "esm2_3B"))
    esm_path = esm_checkpoint_for(path, esm_type, esm_weights)
    if esm_path is not None:
        log.info("ESM-2 weights for %s from %s", path.name, esm_path)
        lm = load_fair_esm_file(esm_path)
    else:  # online users: fair-esm downloads it like esm.pretrained.esmfold_v1() does
        lm = load_fair_esm_name(ESM_TYPES.get(esm_type, esm_type))
    return assemble(data["model"], fold_cfg, lm.weights)
