"""Build or load a `transformers.EsmForProteinFolding` as an fp32 CPU reference (tiny random or from disk)."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from packbuild.weights import ALPHABET_TOKENS, CheckpointError

log = logging.getLogger(__name__)

# A tiny ESMFold: ESM-2 with 2 layers of width 32, a 2-block folding trunk (c_s=32, c_z=16) and a
# 2-block structure module. About 110k parameters; a forward pass takes well under a second.
TINY_ESM = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
TINY_TRUNK = {"num_blocks": 2, "sequence_state_dim": 32, "pairwise_state_dim": 16, "sequence_head_width": 8,
              "pairwise_head_width": 8, "position_bins": 8, "max_recycles": 2, "chunk_size": None}
TINY_STRUCTURE = {"sequence_dim": 24, "pairwise_dim": 8, "ipa_dim": 8, "resnet_dim": 16, "num_heads_ipa": 2,
                  "num_qk_points": 2, "num_v_points": 2, "num_blocks": 2, "dropout_rate": 0.0}


def esmfold_config(esm: dict | None = None, trunk: dict | None = None, structure: dict | None = None,
                   lddt_head_hid_dim: int = 16):
    """An `EsmConfig` for a folding model; the defaults are the tiny test model."""
    from transformers import EsmConfig

    trunk_cfg = {**TINY_TRUNK, **(trunk or {}), "structure_module": {**TINY_STRUCTURE, **(structure or {})}}
    return EsmConfig(
        vocab_size=len(ALPHABET_TOKENS), mask_token_id=32, pad_token_id=1, position_embedding_type="rotary",
        emb_layer_norm_before=False, token_dropout=True, layer_norm_eps=1e-5, max_position_embeddings=1026,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, is_folding_model=True,
        vocab_list=list(ALPHABET_TOKENS), **{**TINY_ESM, **(esm or {})},
        esmfold_config={"fp16_esm": False, "lddt_head_hid_dim": lddt_head_hid_dim, "trunk": trunk_cfg})


def tiny_esmfold(seed: int = 0, config=None):
    """A random `EsmForProteinFolding` (fp32, eval) whose every weight is non-trivial.

    The HF init zeroes many output projections ("final" init), which would make whole branches
    vanish and let parity tests pass vacuously; here every matrix gets N(0, 1/fan_in) entries,
    every bias and LayerNorm a little noise.
    """
    import torch
    from transformers import EsmForProteinFolding

    torch.manual_seed(seed)
    model = EsmForProteinFolding(config if config is not None else esmfold_config()).float().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1]))
            elif name.endswith("weight") and ("norm" in name.lower() or "lddt_head.0" in name):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def load_esmfold(path: str | Path):
    """An `EsmForProteinFolding` from a HuggingFace directory (config.json + weights), all in fp32."""
    from transformers import EsmForProteinFolding

    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no config.json; expected a HuggingFace EsmForProteinFolding directory")
    model = EsmForProteinFolding.from_pretrained(str(path))
    if not getattr(model.config, "is_folding_model", False):
        raise CheckpointError(f"{path}: config.json is not a folding model (is_folding_model is false)")
    log.info("loaded %s (%d parameters)", path, sum(p.numel() for p in model.parameters()))
    return model.float().eval()  # fp16_esm checkpoints keep the LM in half; the reference is fp32
