"""FASTA parsing: records, wrapping, case, terminators, line endings, validation errors."""
import pytest

from app.core.fasta import FastaError, parse_fasta, read_fasta


def test_multi_record_wrapped_lowercase_crlf_blank_lines():
    text = ">p1 first protein\r\nacdef\r\nGHIK\r\n\r\n>p2\r\nLMNPQ*\r\n\r\n"
    recs = parse_fasta(text)
    assert [(r.id, r.description, r.sequence) for r in recs] == [
        ("p1", "first protein", "ACDEFGHIK"), ("p2", "", "LMNPQ")]


def test_bare_sequence_without_header():
    recs = parse_fasta("mkv\nlla\n")
    assert len(recs) == 1 and recs[0].id == "sequence_1" and recs[0].sequence == "MKVLLA"


def test_extended_residues_accepted():
    assert parse_fasta(">x\nXBZUOA\n")[0].sequence == "XBZUOA"


def test_invalid_character_names_record_position_and_char():
    with pytest.raises(FastaError) as e:
        parse_fasta(">ok\nAAA\n>bad one\nACD\nEJ\n")
    err = e.value
    assert (err.record_id, err.position, err.char) == ("bad", 5, "J")
    assert "'bad'" in str(err) and "position 5" in str(err) and "'J'" in str(err)


@pytest.mark.parametrize("text", [">a\n\n>b\nAC\n", ">a\n*\n", ""])
def test_empty_records_rejected(text):
    with pytest.raises(FastaError):
        parse_fasta(text)


def test_star_inside_sequence_rejected():
    with pytest.raises(FastaError) as e:
        parse_fasta(">s\nAC*D\n")
    assert e.value.position == 3 and e.value.char == "*"


def test_gap_and_digit_rejected():
    with pytest.raises(FastaError) as e:
        parse_fasta(">s\nAC-D\n")
    assert e.value.char == "-"


def test_duplicate_ids_get_suffix():
    recs = parse_fasta(">a\nAC\n>a\nDE\n>a_2\nFG\n>a\nHI\n")
    assert [r.id for r in recs] == ["a", "a_3", "a_2", "a_4"]
    assert len({r.id for r in recs}) == 4


def test_read_fasta_file_and_missing(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_bytes(b"\xef\xbb\xbf>q\r\nmk\r\n")  # UTF-8 BOM + CRLF
    assert read_fasta(p)[0].sequence == "MK"
    with pytest.raises(FastaError, match="no such"):
        read_fasta(tmp_path / "nope.fasta")
