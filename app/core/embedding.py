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


def write_embedding_files(out_dir, stem: str, record_id: str, sequence: str, emb: Embedding,
                          provenance) -> list:
    """OUT/<stem>.per_residue.npy, .mean.npy (and .contacts.npy) plus OUT/<stem>.json with the
    provenance and each array's shape: the files `python -m app embed` and the GUI write."""
    from pathlib import Path

    from .outputs import save_npy, write_sidecar

    out_dir = Path(out_dir)
    arrays = {"per_residue": emb.per_residue, "mean": emb.mean}
    if emb.contacts is not None:
        arrays["contacts"] = emb.contacts
    paths = []
    for kind, array in arrays.items():
        save_npy(out_dir / f"{stem}.{kind}.npy", array)
        paths.append(out_dir / f"{stem}.{kind}.npy")
    paths.append(write_sidecar(out_dir / f"{stem}.json", provenance, id=record_id, sequence=sequence,
                               arrays={f"{stem}.{k}.npy": list(a.shape) for k, a in arrays.items()}))
    return paths
