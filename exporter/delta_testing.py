"""Tiny "fine-tunes" for delta-pack tests: exporter.testing's tiny model with its weights perturbed a little."""
from __future__ import annotations

from pathlib import Path

from .testing import TINY


def _checkpoint(model, path: Path) -> Path:
    import torch

    cfg = {"model": {"encoder_layers": TINY["num_layers"], "encoder_embed_dim": TINY["embed_dim"],
                     "encoder_attention_heads": TINY["attention_heads"], "token_dropout": True}}
    torch.save({"cfg": cfg, "model": model.state_dict()}, str(path))
    return Path(path)


def base_checkpoint(path: Path, seed: int = 0) -> Path:
    """The unperturbed tiny model (seed `seed`) as a fair-esm .pt (a quantized base's --base-model)."""
    from .testing import tiny_torch_model

    return _checkpoint(tiny_torch_model(seed)[0], path)


def finetuned_checkpoint(path: Path, seed: int = 0, scale: float = 0.03, rank: int = 2) -> Path:
    """The tiny model + a small low-rank change of every encoder / LM-head weight (contact head kept),
    as a fair-esm .pt that exporter.loaders.load reads."""
    import torch

    from .testing import tiny_torch_model

    model, _ = tiny_torch_model(seed)
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("contact_head"):
                continue
            rms = float(p.pow(2).mean().sqrt())
            if p.ndim == 2:
                u = torch.randn(p.shape[0], rank, generator=g)
                v = torch.randn(rank, p.shape[1], generator=g)
                p.add_(scale * rms * (u @ v) / rank ** 0.5)
            else:
                p.add_(scale * rms * torch.randn(p.shape, generator=g))
    return _checkpoint(model, path)
