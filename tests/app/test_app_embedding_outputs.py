"""Embeddings/contacts from one pass, and atomic writers."""
import numpy as np
import pytest
from standin import reference

from app.core.embedding import embed_sequence
from app.core.outputs import atomic_open, safe_stem, save_npy, write_scores_csv
from app.core.runtime import InferenceError


def test_embed_strips_bos_eos(standin_runtime, standin_weights0):
    seq = "MKTAYIAKQR"
    emb = embed_sequence(standin_runtime, seq, contacts=True)
    ref = reference(standin_weights0, standin_runtime.tokenizer.encode(seq)[None])
    np.testing.assert_allclose(emb.per_residue, ref["embeddings"][0, 1:-1], atol=1e-5)
    np.testing.assert_allclose(emb.mean, ref["embeddings"][0, 1:-1].mean(0), atol=1e-5)
    np.testing.assert_allclose(emb.contacts, ref["contacts"][0], atol=1e-5)
    assert emb.per_residue.shape == (10, 8) and emb.contacts.shape == (10, 10)
    assert embed_sequence(standin_runtime, seq).contacts is None


def test_embed_too_long(standin_runtime):
    with pytest.raises(InferenceError, match="1100 residues exceeds"):
        embed_sequence(standin_runtime, "A" * 1100)


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


def test_csv_and_npy_roundtrip(tmp_path):
    n = write_scores_csv(tmp_path / "s.csv", [("p1", "K2R", -1.25), ("p|2", "M1A", np.float32(0.1))])
    assert n == 2
    # repr of the float64: reads back exactly (np.float32(0.1) is 0.10000000149011612)
    assert (tmp_path / "s.csv").read_text() == ("record_id,mutant,score\np1,K2R,-1.25\n"
                                                "p|2,M1A,0.10000000149011612\n")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "sub").mkdir()  # a missing directory is refused, not created (test_cli_new_user)
    save_npy(tmp_path / "sub" / "a.npy", a)
    np.testing.assert_array_equal(np.load(tmp_path / "sub" / "a.npy"), a)


def test_safe_stem():
    assert safe_stem("sp|P69905|HBA_HUMAN") == "sp_P69905_HBA_HUMAN"
    assert safe_stem("../..") == "record"
