"""Which MODEL arguments are ESMFold, and loading them: a HuggingFace dir, fair-esm's .pt, or a download."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from packbuild.weights import CheckpointError
from .fair_esm import load_fair_esm_folding
from .model import load_esmfold

log = logging.getLogger(__name__)

HUB_NAMES = {"esmfold_v1": ("facebook/esmfold_v1", "esmfold_3B_v1"),
             "esmfold_v0": (None, "esmfold_3B_v0"),
             "facebook/esmfold_v1": ("facebook/esmfold_v1", "esmfold_3B_v1")}
FAIR_ESM_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"  # as esm.esmfold.v1.pretrained


def is_folding_checkpoint(spec: str) -> bool:
    """True for a HF dir whose config.json says is_folding_model, a `*esmfold*.pt` file, or a hub name."""
    path = Path(spec).expanduser()
    if path.is_dir():
        try:
            return bool(json.loads((path / "config.json").read_text()).get("is_folding_model"))
        except (OSError, json.JSONDecodeError):
            return False
    if path.is_file():
        return path.suffix == ".pt" and "esmfold" in path.name.lower()
    return spec in HUB_NAMES


def load_folding(spec: str, esm_weights: Path | None = None):
    """An fp32 eval `EsmForProteinFolding` from `spec` (see is_folding_checkpoint)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_esmfold(path)
    if path.is_file():
        return load_fair_esm_folding(path, esm_weights).float().eval()
    if spec in HUB_NAMES:
        return download(spec)
    raise CheckpointError(f"{spec!r} is not an ESMFold checkpoint")


def download(spec: str):
    """Online only: HuggingFace `facebook/esmfold_v1` (whole model), else fair-esm's URL (+ ESM-2 3B)."""
    hf_name, fair_name = HUB_NAMES[spec]
    errors = []
    if hf_name:
        try:
            from transformers import EsmForProteinFolding

            return EsmForProteinFolding.from_pretrained(hf_name).float().eval()
        except Exception as exc:  # offline, hub unreachable, or no such repo
            errors.append(f"HuggingFace {hf_name}: {exc}")
    try:
        import torch

        url = FAIR_ESM_URL.format(name=fair_name)
        torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu")  # caches the file
        cached = Path(torch.hub.get_dir()) / "checkpoints" / f"{fair_name}.pt"
        return load_fair_esm_folding(cached).float().eval()
    except Exception as exc:
        errors.append(f"fair-esm {fair_name}: {exc}")
    raise CheckpointError(f"could not download {spec} ({'; '.join(errors)}). Offline? Pass a local HuggingFace "
                          "ESMFold directory or fair-esm's esmfold_3B_v1.pt (with esm2_t36_3B_UR50D.pt beside it)")
