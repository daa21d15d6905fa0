"""Sequences for calibration and verification: FASTA files, length-stratified picks, tokens."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .weights import ALPHABET_TOKENS, SPECIAL

TOKEN_IDS = {t: i for i, t in enumerate(ALPHABET_TOKENS)}
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "calibration"
DEFAULT_CALIBRATION = ASSETS / "swissprot_calibration_256.fasta"
DEFAULT_HELDOUT = ASSETS / "swissprot_heldout_32.fasta"


def encode(sequence: str) -> np.ndarray:
    """(1, L + 2) int64 tokens: BOS, residues (unknown letters -> <unk>), EOS."""
    ids = [TOKEN_IDS.get(a, SPECIAL["unk_idx"]) for a in sequence.upper()]
    return np.array([[SPECIAL["cls_idx"], *ids, SPECIAL["eos_idx"]]], dtype=np.int64)


def read_fasta_sequences(path: Path) -> list[tuple[str, str]]:
    """(id, sequence) pairs of a plain or gzipped FASTA file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    records: list[tuple[str, str]] = []
    name, chunks = None, []
    with opener(path, "rt") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(chunks)))
                name, chunks = line[1:].split()[0] if len(line) > 1 else f"record_{len(records)+1}", []
            elif line:
                chunks.append(line.upper().rstrip("*"))
    if name is not None:
        records.append((name, "".join(chunks)))
    return records


def read_sequences(path: Path) -> list[str]:
    seqs = [s for _, s in read_fasta_sequences(Path(path))]
    if not seqs:
        raise ValueError(f"{path}: no sequences found")
    return seqs


def stratified(sequences: list[str], n: int, max_residues: int, seed: int = 0) -> list[str]:
    """`n` sequences spread uniformly over the length range (PTQ4Protein: cover lengths evenly).

    Sequences are cropped to `max_residues`; the picks are the ones nearest to n evenly spaced
    length quantiles of the set, so short and long proteins are both represented.
    """
    if n >= len(sequences):
        return [s[:max_residues] for s in sequences]
    order = sorted(range(len(sequences)), key=lambda i: (len(sequences[i]), i))
    rng = np.random.default_rng(seed)
    picks = np.linspace(0, len(order) - 1, n).round().astype(int)
    jitter = rng.integers(-1, 2, n)
    idx = sorted({int(np.clip(p + j, 0, len(order) - 1)) for p, j in zip(picks, jitter)})
    return [sequences[order[i]][:max_residues] for i in idx]
