"""Mutant code parsing and validation against the wild type."""
import pytest

from app.core.mutants import (MutantError, Substitution, all_single_mutants, parse_mutant,
                              parse_mutant_text)

SEQ = "MKTAYIAKQR"


def test_single_and_multi():
    assert parse_mutant("K2R", SEQ).substitutions == (Substitution("K", 2, "R"),)
    m = parse_mutant("M1A:R10G", SEQ)
    assert [str(s) for s in m.substitutions] == ["M1A", "R10G"]


@pytest.mark.parametrize("code,needle", [
    ("A2G", "wild type at position 2 is 'K', not 'A'"),
    ("M11A", "position 11 is outside"),
    ("M0A", "position 0 is outside"),
    ("M1J", "'J' is not one of"),
    ("K2", "cannot parse"),
    ("M1A:M1C", "mutated twice"),
])
def test_errors_name_the_mutant(code, needle):
    with pytest.raises(MutantError) as e:
        parse_mutant(code, SEQ)
    assert needle in str(e.value) and code in str(e.value)


def test_parse_mutant_text_forms():
    assert parse_mutant_text("K2R, M1A:R10G\nT3S") == ["K2R", "M1A:R10G", "T3S"]
    csv_text = "mutant,mutated_sequence,DMS_score\nK2R,MRT,0.1\nM1A:T3S,AKS,0.2\n"
    assert parse_mutant_text(csv_text) == ["K2R", "M1A:T3S"]


def test_all_single_mutants_count_and_order():
    codes = list(all_single_mutants(SEQ))
    assert len(codes) == len(SEQ) * 19
    assert codes[:2] == ["M1A", "M1C"] and "M1M" not in codes and codes[-1] == "R10Y"
