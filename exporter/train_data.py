"""Training data for the embedded default model: SwissProt, minus ProteinGym wild types, as MLM batches."""
from __future__ import annotations

import csv
import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from packbuild.sequences import read_fasta_sequences  # noqa: F401  (moved there; train and homologs import it here)

log = logging.getLogger(__name__)

KMER = 10


def proteingym_wild_types(assay_dir: Path) -> dict[str, str]:
    """Wild-type sequence of each ProteinGym assay, rebuilt from its first single mutant."""
    wts: dict[str, str] = {}
    for path in sorted(assay_dir.glob("*.csv*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            row = next(csv.DictReader(fh))
        mutant, seq = row["mutant"].split(":")[0], row["mutated_sequence"]
        pos = int(mutant[1:-1]) - 1
        wts[path.name.split(".csv")[0]] = seq[:pos] + mutant[0] + seq[pos + 1:]
    return wts


def drop_near_matches(records: list[tuple[str, str]], wild_types: dict[str, str],
                      max_shared: float = 0.2) -> tuple[list[tuple[str, str]], int]:
    """Drop sequences sharing more than `max_shared` of their 10-mers with any wild type.

    A 10-mer shared by chance between unrelated proteins is rare (20^10 possibilities), so a
    high fraction means the same protein or a close homolog: the leakage ProteinGym warns about.
    """
    banned = {wt[i:i + KMER] for wt in wild_types.values() for i in range(len(wt) - KMER + 1)}
    kept = []
    for rid, seq in records:
        n = len(seq) - KMER + 1
        hits = sum(seq[i:i + KMER] in banned for i in range(0, n, 2))
        if hits / max(1, (n + 1) // 2) <= max_shared:
            kept.append((rid, seq))
    return kept, len(records) - len(kept)


@dataclass(frozen=True)
class MlmConfig:
    """BERT/ESM-2 masking: 15% of residues; of those 80% <mask>, 10% random, 10% kept."""
    crop: int = 256
    batch_size: int = 16
    mask_prob: float = 0.15


class MlmBatches:
    """Endless random MLM batches of cropped sequences encoded with the ESM alphabet."""

    def __init__(self, sequences: list[str], alphabet, config: MlmConfig, seed: int = 0):
        self.seqs = sequences
        self.cfg = config
        self.rng = np.random.default_rng(seed)
        self.tok = {t: i for i, t in enumerate(alphabet.all_toks)}
        self.alphabet = alphabet
        self.standard = np.array([self.tok[a] for a in "ACDEFGHIKLMNPQRSTVWY"])

    def encode(self, seq: str) -> np.ndarray:
        return np.array([self.tok.get(a, self.alphabet.unk_idx) for a in seq], dtype=np.int64)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield self.batch()

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, targets): (B, T) int64 each; targets = -100 where no loss is taken."""
        cfg, a = self.cfg, self.alphabet
        idx = self.rng.integers(0, len(self.seqs), cfg.batch_size)
        crops = []
        for i in idx:
            s = self.seqs[i]
            start = int(self.rng.integers(0, len(s) - cfg.crop + 1)) if len(s) > cfg.crop else 0
            crops.append(self.encode(s[start:start + cfg.crop]))
        width = max(len(c) for c in crops) + 2
        tokens = np.full((cfg.batch_size, width), a.padding_idx, dtype=np.int64)
        for r, c in enumerate(crops):
            tokens[r, 0], tokens[r, 1:len(c) + 1], tokens[r, len(c) + 1] = a.cls_idx, c, a.eos_idx
        return self.mask(tokens)

    def mask(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, rng = self.alphabet, self.rng
        residue = (tokens != a.padding_idx) & (tokens != a.cls_idx) & (tokens != a.eos_idx)
        chosen = residue & (rng.random(tokens.shape) < self.cfg.mask_prob)
        targets = np.where(chosen, tokens, -100)
        roll = rng.random(tokens.shape)
        out = tokens.copy()
        out[chosen & (roll < 0.8)] = a.mask_idx
        rand = chosen & (roll >= 0.8) & (roll < 0.9)
        out[rand] = rng.choice(self.standard, size=int(rand.sum()))
        return out, targets
