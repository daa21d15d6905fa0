"""Per-residue and mean embeddings, and contact maps, from one forward pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .runtime import Esm2Runtime, InferenceError


@dataclass(frozen=True)
class Embedding:
    """Outputs for one sequence of L residues, BOS/EOS removed."""

    per_residue: np.ndarray  # (L, E) float32
    mean: np.ndarray  # (E,) float32, mean over the L residues
    contacts: Optional[np.ndarray] = None  # (L, L) float32 contact probabilities


def embed_sequence(runtime: Esm2Runtime, sequence: str, contacts: bool = False) -> Embedding:
    """Run one pass; the sequence must fit the model window (max_tokens - 2 residues)."""
    if len(sequence) > runtime.max_residues:
        raise InferenceError(f"sequence of {len(sequence)} residues exceeds the model window "
                             f"of {runtime.max_residues}; embeddings are not windowed")
    tok = runtime.tokenizer
    outputs = ("embeddings", "contacts") if contacts else ("embeddings",)
    res = runtime.run(tok.encode(sequence)[None, :], outputs)
    off = int(tok.prepend_bos)
    per_residue = res["embeddings"][0, off:off + len(sequence)]  # (L, E)
    per_residue = np.ascontiguousarray(per_residue, dtype=np.float32)
    mean = per_residue.mean(axis=0, dtype=np.float64).astype(np.float32)  # (E,)
    cmap = None
    if contacts:
        cmap = np.ascontiguousarray(res["contacts"][0], dtype=np.float32)  # (L, L)
        if cmap.shape != (len(sequence), len(sequence)):
            raise InferenceError(f"output 'contacts' has shape {cmap.shape}, expected "
                                 f"({len(sequence)}, {len(sequence)})")
    return Embedding(per_residue, mean, cmap)
