"""Hardening: mutant codes are ASCII (no Unicode digits or case folding), fuzzed."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.fasta import STANDARD_AA
from app.core.mutants import MutantError, Substitution, parse_mutant, parse_mutant_text

SEQ = "MKTAYIAKQR"
FUZZ = settings(max_examples=2000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("code,pos,char", [
    ("M\uff11A", 2, "\uff11"),        # full-width digit one
    ("M\u0661A", 2, "\u0661"),        # Arabic-Indic digit one
    ("K2R:M\u00b9A", 6, "\u00b9"),    # superscript one
    ("\u0131" + "6K", 1, "\u0131"),   # dotless i upper-cases to I
    ("K2R\u00a0", 4, "\u00a0"),       # no-break space is not stripped
])
def test_non_ascii_in_a_mutant_code_is_refused(code, pos, char):
    with pytest.raises(MutantError) as e:
        parse_mutant(code, SEQ)
    err = e.value
    assert (err.mutant, err.position, err.char) == (code, pos, char)
    assert f"U+{ord(char):04X}" in str(err) and f"position {pos}" in str(err) and "ASCII" in str(err)


def test_lower_case_ascii_still_accepted():
    assert parse_mutant("k2r", SEQ).substitutions == (Substitution("K", 2, "R"),)


@pytest.mark.parametrize("code,needle", [
    ("M0A", "position 0 is outside"),
    ("J1A", "wild type 'J' is not a residue"),
    ("M" + "9" * 5000 + "A", "too large"),   # int() would raise past 4300 digits
])
def test_positions_and_letters_checked_without_a_sequence(code, needle):
    with pytest.raises(MutantError, match=needle):
        parse_mutant(code)


def test_mutant_list_with_unicode_separator_is_one_bad_code():
    (code,) = parse_mutant_text("K2R\u3000M1A")  # ideographic space is not a separator
    with pytest.raises(MutantError, match="U\\+3000"):
        parse_mutant(code)


@FUZZ
@given(st.one_of(st.text(max_size=40),
                 st.lists(st.sampled_from(["A", "m", "K", "J", "1", "0", "23", ":", " ", "\uff11",
                                           "\u0661", "\u0131", "\u00df", "*", "-", "99999999999"]),
                          max_size=12).map("".join)),
       st.booleans())
def test_fuzz_parse_mutant_raises_only_mutant_error(code, with_sequence):
    seq = SEQ if with_sequence else None
    try:
        m = parse_mutant(code, seq)
    except MutantError as e:
        if e.position is not None:
            stripped = code.strip(" \t\n\r\x0b\x0c")
            assert 1 <= e.position <= len(stripped) and stripped[e.position - 1] == e.char
        return
    assert m.code.isascii()
    for s in m.substitutions:
        assert s.position >= 1 and s.mt in STANDARD_AA
        if seq is not None:
            assert seq[s.position - 1] == s.wt


SUB = st.tuples(st.integers(1, len(SEQ)), st.sampled_from(STANDARD_AA), st.booleans())


@settings(FUZZ, max_examples=500)
@given(st.lists(SUB, min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_fuzz_valid_codes_round_trip(subs):
    code = ":".join(f"{SEQ[p - 1]}{p}{a}" for p, a, _ in subs)
    typed = ":".join(part.lower() if low else part for part, (_, _, low) in zip(code.split(":"), subs))
    m = parse_mutant(typed, SEQ)
    assert ":".join(map(str, m.substitutions)) == code


@settings(FUZZ, max_examples=500)
@given(st.text(max_size=80))
def test_fuzz_parse_mutant_text_returns_codes(text):
    try:
        codes = parse_mutant_text(text)
    except MutantError:
        return
    assert all(c and c == c.strip(" \t\n\r\x0b\x0c,;") for c in codes)
