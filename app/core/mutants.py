"""Mutant codes in ProteinGym notation: "A23G" (1-based) and multi-mutants "A23G:K40R" (ASCII)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from .fasta import ALLOWED_RESIDUES, STANDARD_AA, describe_char

# re.ASCII: `\d` and str.isdigit() would accept '１' (U+FF11) and '١' (U+0661) as digits.
_SUB = re.compile(r"([A-Za-z])([0-9]+)([A-Za-z])", re.ASCII)
_SEPARATORS = re.compile(r"[,;\s]+", re.ASCII)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ASCII_WS = " \t\n\r\x0b\x0c"
MAX_POSITION_DIGITS = 9  # positions beyond 999,999,999 are refused, not parsed


class MutantError(ValueError):
    """A malformed mutant code, or one whose wild-type letter does not match the sequence.

    `position` and `char` (when set) are the 1-based offset of an offending character in the
    code string and that character.
    """

    def __init__(self, message: str, mutant: str, position: Optional[int] = None,
                 char: Optional[str] = None) -> None:
        super().__init__(message)
        self.mutant = mutant
        self.position = position
        self.char = char


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


def _check_ascii(code: str) -> None:
    for i, ch in enumerate(code):
        if not ch.isascii():
            raise MutantError(f"mutant {code!r}: non-ASCII character {describe_char(ch)} at "
                              f"position {i + 1} (mutant codes are ASCII, e.g. A23G)", code, i + 1, ch)


def _substitution(code: str, part: str, sequence: Optional[str]) -> Substitution:
    m = _SUB.fullmatch(part.strip(_ASCII_WS))
    if not m:
        raise MutantError(f"mutant {code!r}: cannot parse {part!r} (expected e.g. A23G, 1-based)", code)
    wt, digits, mt = m.group(1).upper(), m.group(2), m.group(3).upper()
    if len(digits.lstrip("0")) > MAX_POSITION_DIGITS:
        raise MutantError(f"mutant {code!r}: position {digits[:12]}... is too large", code)
    pos = int(digits)
    if wt not in ALLOWED_RESIDUES:
        raise MutantError(f"mutant {code!r}: {part}: wild type {wt!r} is not a residue "
                          f"({STANDARD_AA} or X, B, Z, U, O)", code)
    if mt not in STANDARD_AA:
        raise MutantError(f"mutant {code!r}: {part}: {mt!r} is not one of {STANDARD_AA}", code)
    if sequence is None and pos < 1:
        raise MutantError(f"mutant {code!r}: position {pos} is outside the sequence "
                          f"(positions are 1-based)", code)
    if sequence is not None:
        if not 1 <= pos <= len(sequence):
            raise MutantError(f"mutant {code!r}: position {pos} is outside the sequence "
                              f"(length {len(sequence)})", code)
        if sequence[pos - 1] != wt:
            raise MutantError(f"mutant {code!r}: wild type at position {pos} is "
                              f"{sequence[pos - 1]!r}, not {wt!r}", code)
    return Substitution(wt, pos, mt)


def parse_mutant(code: str, sequence: Optional[str] = None) -> Mutant:
    """Parse "A23G:K40R" (ASCII, any case); with `sequence`, check each wild type and position."""
    code = code.strip(_ASCII_WS)
    _check_ascii(code)
    subs = [_substitution(code, part, sequence) for part in code.split(":")]
    positions = [s.position for s in subs]
    if len(set(positions)) != len(positions):
        raise MutantError(f"mutant {code!r}: a position is mutated twice", code)
    return Mutant(code, tuple(subs))


def parse_mutant_text(text: str) -> list[str]:
    """Mutant codes from a CSV with a `mutant` column, one code per line, or "A1G,K4R"."""
    lines = [ln for ln in _LINE_BREAK.split(text) if ln.strip(_ASCII_WS)]
    if not lines:
        return []
    try:
        header = [h.strip(_ASCII_WS).lower() for h in next(csv.reader([lines[0]]), [])]
        if "mutant" in header:
            col = header.index("mutant")
            rows = csv.reader(io.StringIO("\n".join(lines[1:])))
            return [row[col].strip(_ASCII_WS) for row in rows
                    if len(row) > col and row[col].strip(_ASCII_WS)]
    except csv.Error as e:
        raise MutantError(f"mutant list: not a readable CSV ({e})", text[:40]) from None
    codes: list[str] = []
    for ln in lines:
        codes.extend(c for c in _SEPARATORS.split(ln) if c)
    return codes


def all_single_mutants(sequence: str) -> Iterable[str]:
    """Every single substitution to a standard residue other than the wild type (L*19 codes
    for a standard-residue sequence), ordered by position then STANDARD_AA."""
    for i, wt in enumerate(sequence):
        for aa in STANDARD_AA:
            if aa != wt:
                yield f"{wt}{i + 1}{aa}"
