"""Sample the exporter's length-stratified calibration and held-out FASTA sets from Swiss-Prot."""
from __future__ import annotations

import argparse
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

DEFAULT_SOURCE = Path("/work/shared/data/sequences/swissprot2014_50-1000aa.fasta.gz")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "calibration"


@dataclass(frozen=True)
class SamplingConfig:
    """Equal-width length bins over [length_min, length_max]; the same count drawn from each bin."""

    length_min: int = 50
    length_max: int = 1000  # inclusive
    n_bins: int = 8
    n_calibration: int = 256
    n_heldout: int = 32
    seed: int = 20141201

    def __post_init__(self) -> None:
        for total in (self.n_calibration, self.n_heldout):
            if total % self.n_bins:
                raise ValueError(f"{total} sequences do not split evenly into {self.n_bins} bins")
        if not 0 < self.length_min < self.length_max:
            raise ValueError(f"bad length range [{self.length_min}, {self.length_max}]")

    def edges(self) -> np.ndarray:
        """Bin edges, int; bin i holds lengths in [edges[i], edges[i+1]), the last one closed."""
        return np.round(np.linspace(self.length_min, self.length_max + 1, self.n_bins + 1)).astype(int)


def read_fasta(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (header line without '>', sequence) from a plain or gzipped FASTA file."""
    opener = gzip.open if path.suffix == ".gz" else open
    header, chunks = None, []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(chunks)
                header, chunks = line[1:], []
            elif line:
                chunks.append(line.strip())
    if header is not None:
        yield header, "".join(chunks)


def stratified_split(
    records: list[tuple[str, str]], cfg: SamplingConfig
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Draw n_calibration + n_heldout records, equal counts per length bin, disjoint sets."""
    rng = np.random.default_rng(cfg.seed)
    edges = cfg.edges()
    lengths = np.array([len(seq) for _, seq in records])
    per_cal, per_held = cfg.n_calibration // cfg.n_bins, cfg.n_heldout // cfg.n_bins
    calibration, heldout = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        idx = np.flatnonzero((lengths >= lo) & (lengths < hi))
        if idx.size < per_cal + per_held:
            raise ValueError(f"length bin [{lo}, {hi}) has {idx.size} sequences, need {per_cal + per_held}")
        chosen = rng.choice(idx, size=per_cal + per_held, replace=False)
        calibration += [records[i] for i in chosen[:per_cal]]
        heldout += [records[i] for i in chosen[per_cal:]]
    overlap = {s for _, s in calibration} & {s for _, s in heldout}
    if overlap:
        raise ValueError(f"{len(overlap)} sequences fall in both sets")
    return calibration, heldout


def write_fasta(path: Path, records: list[tuple[str, str]]) -> str:
    """Write records one sequence per line; return the file's sha256."""
    text = "".join(f">{header}\n{seq}\n" for header, seq in records)
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SamplingConfig.seed)
    args = parser.parse_args(argv)
    cfg = SamplingConfig(seed=args.seed)
    records = list(read_fasta(args.source))
    calibration, heldout = stratified_split(records, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    sha_cal = write_fasta(args.out / f"swissprot_calibration_{cfg.n_calibration}.fasta", calibration)
    sha_held = write_fasta(args.out / f"swissprot_heldout_{cfg.n_heldout}.fasta", heldout)
    print(f"source: {args.source} ({len(records)} records)")
    print(f"bin edges: {cfg.edges().tolist()} seed: {cfg.seed}")
    print(f"calibration: {len(calibration)} sha256 {sha_cal}")
    print(f"heldout: {len(heldout)} sha256 {sha_held}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
