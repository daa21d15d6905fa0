"""Single-substitution naming and flattening of an L x 20 score matrix (no Qt)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"  # column order of the score matrix (DESIGN.md section 4)


def mutant_name(wt: str, position0: int, mt: str) -> str:
    """ProteinGym mutant code with a 1-based position, e.g. ('K', 39, 'R') -> 'K40R'."""
    return f"{wt}{position0 + 1}{mt}"


@dataclass(frozen=True)
class Substitutions:
    """All single substitutions of a sequence, one row each (wild type excluded)."""

    position0: np.ndarray  # (N,) int64, 0-based residue index
    wt: np.ndarray  # (N,) '<U1'
    mt: np.ndarray  # (N,) '<U1'
    score: np.ndarray  # (N,) float64

    def __len__(self) -> int:
        return int(self.position0.shape[0])

    def mutant(self, row: int) -> str:
        return mutant_name(str(self.wt[row]), int(self.position0[row]), str(self.mt[row]))


def substitutions(sequence: str, scores: np.ndarray) -> Substitutions:
    """Flatten (L, 20) scores into rows ordered by position then amino acid, skipping wt == mt."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(sequence), len(AMINO_ACIDS)):
        raise ValueError(
            f"score matrix shape {scores.shape} does not match sequence length {len(sequence)} x 20"
        )
    pos = np.repeat(np.arange(len(sequence), dtype=np.int64), len(AMINO_ACIDS))  # (L*20,)
    wt = np.repeat(np.array(list(sequence), dtype="<U1"), len(AMINO_ACIDS))
    mt = np.tile(np.array(list(AMINO_ACIDS), dtype="<U1"), len(sequence))
    keep = wt != mt
    return Substitutions(pos[keep], wt[keep], mt[keep], scores.reshape(-1)[keep])
