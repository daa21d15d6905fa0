"""FASTA parsing and validation against the ESM protein alphabet (ASCII residues only)."""
from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from .file_kind import describe_kind

log = logging.getLogger(__name__)

STANDARD_AA = "ACDEFGHIKLMNPQRSTVWY"
# ESM alphabet residues: the 20 standard amino acids + X (unknown), B (D/N), Z (E/Q),
# U (selenocysteine), O (pyrrolysine).
ALLOWED_RESIDUES = frozenset(STANDARD_AA + "XBZUO")
# Longest record `python -m app score` accepts: 19 * L output rows, ~L / 511 model passes.
MAX_SCORE_RESIDUES = 100_000

_ASCII_WS = " \t\n\r\x0b\x0c"  # str.strip()/split() would also eat U+00A0, U+2003, ...
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # str.splitlines() also breaks at U+2028, U+0085, ...
_ASCII_WS_RUN = re.compile(r"[ \t\x0b\x0c]+")


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
    """One FASTA record; `sequence` is upper-case ASCII, without gaps or terminator."""

    id: str
    description: str
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)


def describe_char(ch: str) -> str:
    """"'J' (U+004A)": the character as Python writes it and its code point."""
    return f"{ch!r} (U+{ord(ch):04X})"


def _validate(record_id: str, sequence: str, source: str) -> None:
    """`sequence` is the record's residues before upper-casing; positions are 1-based."""
    for i, ch in enumerate(sequence):
        if not ch.isascii():
            raise FastaError(
                f"{source}: record {record_id!r}: non-ASCII character {describe_char(ch)} at "
                f"position {i + 1} (residues must be ASCII letters: {STANDARD_AA} and X, B, Z, "
                f"U, O, any case)", source, record_id, i + 1, ch)
        if ch.upper() not in ALLOWED_RESIDUES:
            raise FastaError(
                f"{source}: record {record_id!r}: invalid residue {describe_char(ch)} at "
                f"position {i + 1} (allowed: {STANDARD_AA} and X, B, Z, U, O)",
                source, record_id, i + 1, ch)


def _finish(header: str | None, lines: list[str], index: int, source: str) -> Record:
    """Build and validate a record from its header line (without '>') and sequence lines."""
    if header is None:
        rid, desc = f"sequence_{index}", ""
    else:
        parts = _ASCII_WS_RUN.split(header.strip(_ASCII_WS), maxsplit=1)
        rid = parts[0] or f"sequence_{index}"
        desc = parts[1] if len(parts) > 1 else ""
    seq = "".join(_ASCII_WS_RUN.sub("", line) for line in lines)
    if seq.endswith("*"):
        seq = seq[:-1]  # stop-codon terminator
    if not seq:
        raise FastaError(f"{source}: record {rid!r} has an empty sequence", source, rid)
    _validate(rid, seq, source)  # before .upper(): 'ß'.upper() is 'SS', 'ı'.upper() is 'I'
    return Record(rid, desc, seq.upper())


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

    Residues are ASCII letters; any other character raises FastaError with the record id, its
    1-based position among the record's residues and the character. Headers may be Unicode.
    Duplicate ids are renamed with a suffix (`id`, `id_2`, `id_3`, ...), logged as a warning.
    """
    records: list[Record] = []
    header: str | None = None
    lines: list[str] = []
    started = False
    for raw in _LINE_BREAK.split(text):  # \n, \r\n and \r; nothing else breaks a line
        line = raw.strip(_ASCII_WS)
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


def read_fasta_text(path: Union[str, Path], max_bytes: Optional[int] = None) -> str:
    """The text of a FASTA file; FastaError says why it is not one (missing, a directory, not a
    regular file, empty, larger than `max_bytes`, or not UTF-8 text: with the byte offset)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FastaError(f"{path}: no such FASTA file", str(path)) from None
    except OSError as e:
        raise FastaError(f"{path}: cannot read the FASTA file ({e.strerror})", str(path)) from None
    if stat.S_ISFIFO(st.st_mode):  # a pipe, e.g. --fasta <(zcat proteome.fasta.gz)
        return decode_text(_read_pipe(path, max_bytes), str(path))
    if not stat.S_ISREG(st.st_mode):
        raise FastaError(f"{path}: {describe_kind(st.st_mode)}, not a FASTA file", str(path))
    if max_bytes is not None and st.st_size > max_bytes:
        raise FastaError(f"{path}: {st.st_size} bytes, larger than the {max_bytes // 2**20} MB "
                         f"limit for a FASTA file", str(path))
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FastaError(f"{path}: cannot read the FASTA file ({e.strerror})", str(path)) from None
    return decode_text(data, str(path))


def _read_pipe(path: Path, max_bytes: Optional[int]) -> bytes:
    """All bytes from a named pipe (process substitution), at most `max_bytes`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except OSError as e:
        raise FastaError(f"{path}: cannot read the FASTA pipe ({e.strerror})", str(path)) from None
    if max_bytes is not None and len(data) > max_bytes:
        raise FastaError(f"{path}: more than the {max_bytes // 2**20} MB limit for a FASTA file", str(path))
    return data


def decode_text(data: bytes, source: str, what: str = "FASTA file") -> str:
    """UTF-8 (BOM tolerated) text of a file's bytes; FastaError for binary or empty data,
    naming `source` and the byte offset of the first byte that is not text."""
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    bad: Optional[int] = None
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        bad = bom + e.start  # offset in the file, BOM included
    nul = data.find(b"\x00", 0, bad)
    if nul >= 0:
        raise FastaError(f"{source}: not a text {what} (NUL byte at byte offset {nul})", source)
    if bad is not None:
        raise FastaError(f"{source}: not a text {what} (byte 0x{data[bad]:02X} at byte "
                         f"offset {bad} is not UTF-8)", source)
    if not text.strip(_ASCII_WS):
        raise FastaError(f"{source}: empty file, no records", source)
    return text


def read_fasta(path: Union[str, Path]) -> list[Record]:
    """Read and parse a FASTA file (UTF-8, BOM tolerated); see `read_fasta_text` for refusals."""
    return parse_fasta(read_fasta_text(path), source=str(path))


def check_lengths(records: Iterable[Record], limit: int, purpose: str) -> None:
    """FastaError naming the first record longer than `limit` residues (for `purpose`)."""
    for r in records:
        if len(r) > limit:
            raise FastaError(f"record {r.id!r}: {len(r):,} residues; {purpose} accepts at most "
                             f"{limit:,} residues per record", record_id=r.id)
