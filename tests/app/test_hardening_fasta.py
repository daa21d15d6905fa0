"""Hardening: FASTA input is ASCII residues only, file refusals say what the file is, fuzzing."""
import os
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.core import fasta
from app.core.fasta import ALLOWED_RESIDUES, FastaError, Record, parse_fasta, read_fasta

FUZZ = settings(max_examples=2000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("text,pos,char", [
    (">x\n\u00df\n", 1, "\u00df"),          # ß.upper() == "SS"
    (">x\nMK\u0131\n", 3, "\u0131"),        # dotless ı.upper() == "I"
    (">x\nA\nC\ufb00\n", 3, "\ufb00"),     # ﬀ.upper() == "FF"
    (">x\nAC\u00a0DE\n", 3, "\u00a0"),     # a no-break space is not a separator
    (">x\nAC\u2028DE\n", 3, "\u2028"),     # nor a line separator
    (">x\nAC\uff21\n", 3, "\uff21"),       # full-width A
])
def test_non_ascii_residue_is_refused_with_record_position_and_code_point(text, pos, char):
    with pytest.raises(FastaError) as e:
        parse_fasta(text)
    err = e.value
    assert (err.record_id, err.position, err.char) == ("x", pos, char)
    msg = str(err)
    assert "'x'" in msg and f"position {pos}" in msg and f"U+{ord(char):04X}" in msg
    assert "ASCII" in msg


def test_invalid_ascii_residue_names_its_code_point():
    with pytest.raises(FastaError, match=r"'J' \(U\+004A\) at position 2"):
        parse_fasta(">r\nAJ\n")


def test_unicode_header_is_kept():
    (rec,) = parse_fasta(">p\u00e9ptide_1 Homo sapiens \u2013 \u03b1-chain\nmk\n")
    assert rec == Record("p\u00e9ptide_1", "Homo sapiens \u2013 \u03b1-chain", "MK")


def test_length_limit_names_the_record():
    limit = fasta.MAX_SCORE_RESIDUES
    recs = parse_fasta(f">ok\nMK\n>long\n{'A' * (limit + 1)}\n")
    with pytest.raises(FastaError) as e:
        fasta.check_lengths(recs, limit, "score")
    assert e.value.record_id == "long" and "100,001 residues" in str(e.value)
    assert "at most 100,000" in str(e.value)


@pytest.mark.parametrize("make,needle", [
    (lambda d: d / "nope.fasta", "no such FASTA file"),
    (lambda d: d, "a directory, not a FASTA file"),
    (lambda d: (d / "e.fa").write_bytes(b"") and d / "e.fa" or d / "e.fa", "empty file, no records"),
    (lambda d: (d / "w.fa").write_bytes(b"\n \r\n\t\n") and d / "w.fa", "empty file, no records"),
])
def test_read_fasta_says_what_the_path_is(tmp_path, make, needle):
    path = make(tmp_path)
    with pytest.raises(FastaError) as e:
        read_fasta(path)
    assert needle in str(e.value) and str(path) in str(e.value)


def test_dev_null_is_a_device_and_a_pipe_is_read(tmp_path):
    import threading

    with pytest.raises(FastaError, match="a device, not a FASTA file"):
        read_fasta(os.devnull)
    fifo = tmp_path / "pipe.fa"  # as `--fasta <(zcat x.fasta.gz)` gives
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(">p\nMKTAYIAK\n"))
    writer.start()
    records = read_fasta(fifo)
    writer.join(5)
    assert [(r.id, r.sequence) for r in records] == [("p", "MKTAYIAK")]


@pytest.mark.parametrize("data,offset", [
    (b">x\nAC\xff\xfeDE\n", 5),
    (b"\xef\xbb\xbf>x\nAC\xc3\n", 8),   # the BOM counts: offsets are the file's
    (b"\x89PNG\r\n\x1a\n\x00\x00", 0),
    (b">x\nAC\x00D\n", 5),               # valid UTF-8, but a NUL byte: binary
])
def test_binary_file_is_not_a_text_fasta_file(tmp_path, data, offset):
    path = tmp_path / "b.fa"
    path.write_bytes(data)
    with pytest.raises(FastaError) as e:
        fasta.read_fasta_text(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a text FASTA file") and f"byte offset {offset}" in msg
    assert "codec" not in msg


def test_size_limit(tmp_path):
    path = tmp_path / "big.fa"
    path.write_bytes(b">x\n" + b"A" * 2000)
    with pytest.raises(FastaError, match="larger than"):
        fasta.read_fasta_text(path, max_bytes=1000)


# --- property-based fuzzing -------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=200)
FASTA_ISH = st.lists(st.sampled_from([">", ">a b", ";c", "\n", "\r\n", "\r", "*", " ", "\t",
                                      "ACD", "mkv", "X", "J", "-", "\u00df", "\u0131", "\x00",
                                      "\u2028", "\u00a0", "\ufeff", "1"]), max_size=40).map("".join)


def _check_error(e: FastaError, text: str) -> None:
    if e.position is not None:
        assert e.char is not None and e.char in text
        assert 1 <= e.position <= len(text)
        assert e.record_id is not None and f"position {e.position}" in str(e)
        assert f"U+{ord(e.char):04X}" in str(e)


@FUZZ
@given(st.one_of(ANY_TEXT, FASTA_ISH))
def test_fuzz_parse_fasta_raises_only_fasta_error(text):
    try:
        records = parse_fasta(text)
    except FastaError as e:
        _check_error(e, text)
        return
    assert records
    for r in records:
        assert r.sequence and r.sequence.isascii() and set(r.sequence) <= ALLOWED_RESIDUES
    assert len({r.id for r in records}) == len(records)
    assert sum(map(len, records)) <= len(text)


RESIDUES = "".join(sorted(ALLOWED_RESIDUES)) + "".join(sorted(ALLOWED_RESIDUES)).lower()
IDS = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=12)
DESCS = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30).map(
    lambda s: " ".join(s.strip(" \t\x0b\x0c").split(" ")))
RECORD = st.tuples(IDS, DESCS, st.text(st.sampled_from(RESIDUES), min_size=1, max_size=60),
                   st.integers(1, 30), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(),
                   st.booleans())


def _render(rid, desc, seq, width, eol, star, blank) -> str:
    header = f">{rid} {desc}" if desc else f">{rid}"
    body = [seq[i:i + width] for i in range(0, len(seq), width)]
    if star:
        body[-1] += "*"
    return eol.join([header, *body, *([""] if blank else [])]) + eol


@settings(FUZZ, max_examples=700)
@given(st.lists(RECORD, min_size=1, max_size=4, unique_by=lambda r: r[0]))
def test_fuzz_valid_records_round_trip(records):
    assume(all(not d.startswith(("\x0b", "\x0c")) for _, d, *_ in records))
    text = "".join(_render(*r) for r in records)
    parsed = parse_fasta(text)
    assert parsed == [Record(rid, desc.strip(" \t\x0b\x0c"), seq.upper())
                      for rid, desc, seq, *_ in records]


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=200))
def test_fuzz_read_fasta_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "f.fa"
    path.write_bytes(data)
    try:
        read_fasta(path)
    except FastaError as e:
        assert str(path) in str(e)
