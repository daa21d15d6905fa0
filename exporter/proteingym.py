"""ProteinGym substitution assays: read an assay, rebuild its wild type, read the reference Spearmans.

Used by the exporter's `--benchmark` (exporter/benchmark.py) and by bench/."""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class AssayError(ValueError):
    """An assay file that is inconsistent; names the file and the mutant row."""


@dataclass(frozen=True)
class Assay:
    name: str
    wild_type: str
    mutants: tuple[str, ...]   # 'H24C' or 'H24C:A30G', 1-based positions
    scores: np.ndarray          # DMS_score per mutant


def _apply(seq: str, code: str, reverse: bool) -> str:
    """Apply (or undo, reverse=True) the substitutions of `code` to `seq`."""
    s = list(seq)
    for sub in code.split(":"):
        wt, pos, mt = sub[0], int(sub[1:-1]), sub[-1]
        s[pos - 1] = wt if reverse else mt
    return "".join(s)


def read_assay(path: Path) -> Assay:
    """A ProteinGym CSV(.gz) with columns mutant, mutated_sequence, DMS_score."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise AssayError(f"{path}: no rows")
    name = path.name.split(".csv")[0]
    wild_type = _apply(rows[0]["mutated_sequence"], rows[0]["mutant"], reverse=True)
    for i, r in enumerate(rows):
        if _apply(wild_type, r["mutant"], reverse=False) != r["mutated_sequence"]:
            raise AssayError(f"{path}: row {i + 2} (mutant {r['mutant']}) does not match the wild type "
                             f"rebuilt from row 2")
    return Assay(name, wild_type, tuple(r["mutant"] for r in rows),
                 np.array([float(r["DMS_score"]) for r in rows]))


def read_summary(path: Path) -> dict[str, dict]:
    """assays_summary.csv as {assay: row}; blank reference cells become None."""
    with open(path, newline="") as fh:
        return {r["assay"]: {k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(fh)}


def reference(summary: dict[str, dict], assay: str, column: str = "esm2_8M") -> float | None:
    value = summary.get(assay, {}).get(column)
    return float(value) if value is not None else None


def assay_paths(directory: Path, names: list[str] | None = None, limit: int | None = None) -> list[Path]:
    """Sorted assay files of `directory`, optionally only the named ones, optionally the first `limit`."""
    paths = sorted(Path(directory).glob("*.csv*"))
    if names:
        wanted = set(names)
        paths = [p for p in paths if p.name.split(".csv")[0] in wanted]
        missing = wanted - {p.name.split(".csv")[0] for p in paths}
        if missing:
            raise AssayError(f"{directory}: no assay file for {sorted(missing)}")
    return paths[:limit] if limit else paths
