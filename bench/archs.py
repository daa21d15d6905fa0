"""ESM-2 architectures of the speed bench, built with fair-esm's own random initialisation (no download)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    name: str
    num_layers: int
    embed_dim: int
    attention_heads: int


ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("t6_8M", 6, 320, 20),
    Arch("t12_35M", 12, 480, 20),
    Arch("t30_150M", 30, 640, 20),
    Arch("t33_650M", 33, 1280, 20),
    # 650M's layer shapes with 8 of its 33 layers: per-layer time ratios of the full model at a quarter
    # of its memory (a full 650M export needs ~12 GB, more than a shared 24 GB machine may have free)
    Arch("t8_650Mw", 8, 1280, 20),
)}


def arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHS)}")
    return ARCHS[name]


def random_esm2(name: str, seed: int = 0):
    """fair-esm `ESM2` of architecture `name` with its default (random) init under `torch.manual_seed(seed)`."""
    import esm
    import torch
    from esm.model.esm2 import ESM2

    a = arch(name)
    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = ESM2(num_layers=a.num_layers, embed_dim=a.embed_dim, attention_heads=a.attention_heads,
                 alphabet=alphabet, token_dropout=True)
    return model.eval()


def random_loaded(name: str, seed: int = 0):
    """The random model as an exporter `LoadedModel` (canonical weights + torch reference)."""
    from exporter.loaders import from_fair_esm_model

    return from_fair_esm_model(random_esm2(name, seed), name=f"esm2_{name}_random{seed}",
                               source=f"fair-esm ESM2 random init, seed {seed}")
