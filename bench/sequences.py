"""Protein sequences for the benches: calibration picks (or random fallbacks) and random test inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import CALIBRATION

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


def random_sequence(length: int, seed: int = 0) -> str:
    """A uniformly random protein of `length` standard residues (same seed, same sequence)."""
    rng = np.random.default_rng(seed)
    return "".join(STANDARD[i] for i in rng.integers(0, len(STANDARD), length))


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(id, sequence) records of a plain FASTA file."""
    records, name, chunks = [], None, []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(chunks)))
            name, chunks = line[1:].split()[0] if line[1:].strip() else "", []
        elif line.strip():
            chunks.append(line.strip().upper())
    if name is not None:
        records.append((name, "".join(chunks)))
    return records


def calibration_sequences(path: Path | None, n: int, seed: int = 0) -> list[str]:
    """The calibration FASTA's sequences (all of them: the Exporter picks `n` stratified by length);
    `n` random sequences of 50-500 residues when the file is absent."""
    path = Path(path) if path else CALIBRATION
    if path.exists():
        return [s for _, s in read_fasta(path)]
    lengths = np.linspace(50, 500, n).astype(int)
    return [random_sequence(int(L), seed + i) for i, L in enumerate(lengths)]
