"""Tokenizer ids equal fair-esm's ESM-1b/ESM-2 batch converter (golden test)."""
import numpy as np
import pytest
from standin import ALPHABET

from app.core.tokenizer import Tokenizer

SEQS = ["MKTAYIAKQR", "ACDEFGHIKLMNPQRSTVWY", "XBZUOXA", "M"]


def test_alphabet_matches_fair_esm():
    esm = pytest.importorskip("esm")
    a = esm.data.Alphabet.from_architecture("ESM-1b")
    assert a.all_toks == ALPHABET["tokens"]
    assert (a.cls_idx, a.padding_idx, a.eos_idx, a.unk_idx, a.mask_idx) == (0, 1, 2, 3, 32)


def test_batch_encode_equals_fair_esm_batch_converter():
    esm = pytest.importorskip("esm")
    a = esm.data.Alphabet.from_architecture("ESM-1b")
    _, _, golden = a.get_batch_converter()([(str(i), s) for i, s in enumerate(SEQS)])
    ours = Tokenizer(ALPHABET).batch_encode(SEQS)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours, golden.numpy())


def test_encode_single_has_bos_eos_and_unknown_maps_to_unk():
    tok = Tokenizer(ALPHABET)
    ids = tok.encode("AJ")
    assert ids.tolist() == [0, tok.index("A"), tok.unk_idx, 2]
    assert tok.n_special == 2 and len(tok) == 33


def test_missing_special_index_is_reported():
    bad = {k: v for k, v in ALPHABET.items() if k != "mask_idx"}
    with pytest.raises(ValueError, match="mask_idx"):
        Tokenizer(bad)
