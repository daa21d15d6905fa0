"""FASTA parsing and validation against the ESM protein alphabet."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Union

log = logging.getLogger(__name__)

STANDARD_AA = "ACDEFGHIKLMNPQRSTVWY"
# ESM alphabet residues: the 20 standard amino acids + X (unknown), B (D/N), Z (E/Q),
# U (selenocysteine), O (pyrrolysine).
ALLOWED_RESIDUES = frozenset(STANDARD_AA + "XBZUO")


class FastaError(ValueError):
    """A malformed FASTA input; carries the record id, 1-based position and character."""

    def __init__(self, message: str, source: str = "<text>", record_id: str | None = None,
                 position: int | None = None, char: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.record_id = record_id
        self.position = position
        self.char = char


@dataclass(frozen=True)
class Record:
    """One FASTA record; `sequence` is upper-case, without gaps or terminator."""

    id: str
    description: str
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)


def _validate(record_id: str, sequence: str, source: str) -> None:
    for i, ch in enumerate(sequence):
        if ch not in ALLOWED_RESIDUES:
            raise FastaError(
                f"{source}: record {record_id!r}: invalid residue {ch!r} at position {i + 1} "
                f"(allowed: {STANDARD_AA} and X, B, Z, U, O)",
                source, record_id, i + 1, ch)


def _finish(header: str | None, lines: list[str], index: int, source: str) -> Record:
    """Build and validate a record from its header line (without '>') and sequence lines."""
    if header is None:
        rid, desc = f"sequence_{index}", ""
    else:
        parts = header.strip().split(maxsplit=1)
        rid = parts[0] if parts else f"sequence_{index}"
        desc = parts[1] if len(parts) > 1 else ""
    seq = "".join("".join(line.split()) for line in lines).upper()
    if seq.endswith("*"):
        seq = seq[:-1]  # stop-codon terminator
    if not seq:
        raise FastaError(f"{source}: record {rid!r} has an empty sequence", source, rid)
    _validate(rid, seq, source)
    return Record(rid, desc, seq)


def _dedupe(records: list[Record]) -> list[Record]:
    """Rename repeated ids by suffixing `_2`, `_3`, ... (first occurrence keeps its id)."""
    seen: set[str] = {r.id for r in records}
    counts: dict[str, int] = {}
    out = []
    for r in records:
        n = counts.get(r.id, 0) + 1
        counts[r.id] = n
        if n == 1:
            out.append(r)
            continue
        k = n
        while f"{r.id}_{k}" in seen:
            k += 1
        new_id = f"{r.id}_{k}"
        seen.add(new_id)
        log.warning("duplicate FASTA id %r renamed to %r", r.id, new_id)
        out.append(Record(new_id, r.description, r.sequence))
    return out


def parse_fasta(text: str, source: str = "<text>") -> list[Record]:
    """Parse FASTA text (multi-record, wrapped, any case, CRLF); a headerless text is one record.

    Duplicate ids are renamed with a suffix (`id`, `id_2`, `id_3`, ...), logged as a warning.
    """
    records: list[Record] = []
    header: str | None = None
    lines: list[str] = []
    started = False
    for raw in text.splitlines():  # handles \n, \r\n and \r
        line = raw.strip()
        if line.startswith(">"):
            if started:
                records.append(_finish(header, lines, len(records) + 1, source))
            header, lines, started = line[1:], [], True
        elif line and not line.startswith(";"):
            lines.append(line)
            started = True
    if started:
        records.append(_finish(header, lines, len(records) + 1, source))
    if not records:
        raise FastaError(f"{source}: no FASTA records found", source)
    return _dedupe(records)


def read_fasta(path: Union[str, Path]) -> list[Record]:
    """Read and parse a FASTA file (UTF-8, BOM tolerated)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FastaError(f"{path}: no such FASTA file", str(path)) from None
    except UnicodeDecodeError as e:
        raise FastaError(f"{path}: not a UTF-8 text file ({e})", str(path)) from None
    return parse_fasta(text, source=str(path))
