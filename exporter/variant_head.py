"""The supervised fine-tune's regression head and the variant features it reads (exporter.finetune).

    y(x) = a * mm(x) + v . mean_i h_i(x) + b    (standardised DMS score; see exporter/finetune.py)

Shared by exporter.finetune (training) and exporter.finetune_eval (held-out Spearman), so neither
imports the other's module.
"""
from __future__ import annotations

import numpy as np
import torch

from .proteingym import Assay, _apply


def encode(alphabet, seqs: list[str]) -> torch.Tensor:
    """(B, L + 2) int64 tokens, <cls> seq <eos>; all sequences the same length."""
    rows = [[alphabet.cls_idx] + [alphabet.get_idx(a) for a in s] + [alphabet.eos_idx] for s in seqs]
    return torch.tensor(rows, dtype=torch.int64)



class RegressionHead(torch.nn.Module):
    """y = a * mm + v . pooled + b on standardised DMS scores (module docstring)."""

    FEATURES = "mutant-marginal log-ratio + mean-pooled final-layer embeddings"

    def __init__(self, embed_dim: int, target_mean: float = 0.0, target_std: float = 1.0):
        super().__init__()
        self.linear = torch.nn.Linear(embed_dim, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)
        self.mm_weight = torch.nn.Parameter(torch.tensor(1.0))
        self.target_mean, self.target_std = float(target_mean), float(target_std)

    def forward(self, pooled: torch.Tensor, mm: torch.Tensor) -> torch.Tensor:
        return self.mm_weight * mm + self.linear(pooled).squeeze(-1)  # (B,) standardised

    def to_record(self) -> dict:
        return {"features": self.FEATURES, "embed_dim": self.linear.in_features,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
                "target_mean": self.target_mean, "target_std": self.target_std}

    @classmethod
    def from_record(cls, record: dict) -> "RegressionHead":
        head = cls(record["embed_dim"], record["target_mean"], record["target_std"])
        head.load_state_dict(record["state_dict"])
        return head


def variant_features(model, alphabet, assay: Assay, rows) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled (B, E), mm (B,)) of the assay rows `rows`, one forward pass of the mutated sequences."""
    seqs = [_apply(assay.wild_type, assay.mutants[i], reverse=False) for i in rows]
    out = model(encode(alphabet, seqs).to(next(model.parameters()).device), repr_layers=[model.num_layers])
    pooled = out["representations"][model.num_layers][:, 1:-1].mean(1)  # (B, E), no padding: same length
    lp = torch.log_softmax(out["logits"].float(), dim=-1)  # (B, T, V)
    r, col, wt, mt = [], [], [], []
    for b, i in enumerate(rows):
        for sub in assay.mutants[i].split(":"):
            r.append(b), col.append(int(sub[1:-1])), wt.append(alphabet.get_idx(sub[0])), mt.append(alphabet.get_idx(sub[-1]))
    r, col = torch.tensor(r), torch.tensor(col)  # token column = 1-based position (BOS at 0)
    diff = lp[r, col, torch.tensor(mt)] - lp[r, col, torch.tensor(wt)]
    return pooled, torch.zeros(len(rows), device=diff.device).index_add(0, r.to(diff.device), diff)


@torch.no_grad()
def predict(model, head: RegressionHead, alphabet, assay: Assay, rows, batch_size: int = 32) -> np.ndarray:
    """Predicted DMS scores (original units) of assay rows `rows`."""
    model.eval()
    out = []
    for b0 in range(0, len(rows), batch_size):
        out.append(head(*variant_features(model, alphabet, assay, list(rows[b0:b0 + batch_size]))).cpu().numpy())
    return np.concatenate(out) * head.target_std + head.target_mean
