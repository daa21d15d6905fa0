"""Mutant codes in ProteinGym notation: "A23G" (1-based) and multi-mutants "A23G:K40R"."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from .fasta import STANDARD_AA

_SUB = re.compile(r"^([A-Z])(\d+)([A-Z])$")


class MutantError(ValueError):
    """A malformed mutant code, or one whose wild-type letter does not match the sequence."""

    def __init__(self, message: str, mutant: str) -> None:
        super().__init__(message)
        self.mutant = mutant


@dataclass(frozen=True)
class Substitution:
    wt: str
    position: int  # 1-based
    mt: str

    def __str__(self) -> str:
        return f"{self.wt}{self.position}{self.mt}"


@dataclass(frozen=True)
class Mutant:
    code: str
    substitutions: tuple[Substitution, ...]


def parse_mutant(code: str, sequence: Optional[str] = None) -> Mutant:
    """Parse "A23G:K40R"; with `sequence`, check each wild-type letter and position."""
    code = code.strip()
    subs = []
    for part in code.split(":"):
        m = _SUB.match(part.strip().upper())
        if not m:
            raise MutantError(f"mutant {code!r}: cannot parse {part!r} "
                              f"(expected e.g. A23G, 1-based)", code)
        wt, pos, mt = m.group(1), int(m.group(2)), m.group(3)
        if mt not in STANDARD_AA:
            raise MutantError(f"mutant {code!r}: {part}: {mt!r} is not one of {STANDARD_AA}", code)
        if sequence is not None:
            if not 1 <= pos <= len(sequence):
                raise MutantError(f"mutant {code!r}: position {pos} is outside the sequence "
                                  f"(length {len(sequence)})", code)
            if sequence[pos - 1] != wt:
                raise MutantError(f"mutant {code!r}: wild type at position {pos} is "
                                  f"{sequence[pos - 1]!r}, not {wt!r}", code)
        subs.append(Substitution(wt, pos, mt))
    positions = [s.position for s in subs]
    if len(set(positions)) != len(positions):
        raise MutantError(f"mutant {code!r}: a position is mutated twice", code)
    return Mutant(code, tuple(subs))


def parse_mutant_text(text: str) -> list[str]:
    """Mutant codes from a CSV with a `mutant` column, one code per line, or "A1G,K4R"."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    if "mutant" in header:
        col = header.index("mutant")
        rows = csv.reader(io.StringIO("\n".join(lines[1:])))
        return [row[col].strip() for row in rows if len(row) > col and row[col].strip()]
    codes: list[str] = []
    for ln in lines:
        codes.extend(c for c in re.split(r"[,\s;]+", ln) if c)
    return codes


def all_single_mutants(sequence: str) -> Iterable[str]:
    """Every single substitution to a standard residue other than the wild type (L*19 codes
    for a standard-residue sequence), ordered by position then STANDARD_AA."""
    for i, wt in enumerate(sequence):
        for aa in STANDARD_AA:
            if aa != wt:
                yield f"{wt}{i + 1}{aa}"
