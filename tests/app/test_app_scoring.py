"""Scoring on the stand-in model against log-softmax of its numpy reference logits."""
import numpy as np
import pytest
from scipy.special import log_softmax as sp_log_softmax
from standin import reference

from app.core.fasta import STANDARD_AA
from app.core.jobs import Cancelled, CancelToken
from app.core.mutants import MutantError
from app.core.scoring import log_softmax, score_matrix, score_mutants

SEQ = "MKTAYIAKQRQISFVKSHFSRQ"


def _expected_rows(rt, w, seq, start, end, positions, masked):
    """Reference log-ratios of `positions` scored inside window [start, end)."""
    tok = rt.tokenizer
    base = tok.encode(seq[start:end])
    aa_ids, rows = tok.residue_ids(STANDARD_AA), {}
    for i in positions:
        t = base.copy()[None]
        if masked:
            t[0, i - start + 1] = tok.mask_idx
        lp = sp_log_softmax(reference(w, t)["logits"][0, i - start + 1])  # full vocabulary
        rows[i] = lp[aa_ids] - lp[tok.residue_ids(seq[i])[0]]
    return rows


@pytest.mark.parametrize("method", ["wt-marginal", "masked-marginal"])
def test_matches_reference(standin_runtime, standin_weights0, method):
    m = score_matrix(standin_runtime, SEQ, method, batch_size=5)
    assert m.scores.shape == (len(SEQ), 20) and m.scores.dtype == np.float32
    assert m.method == method and m.alphabet == STANDARD_AA
    exp = _expected_rows(standin_runtime, standin_weights0, SEQ, 0, len(SEQ), range(len(SEQ)),
                         method == "masked-marginal")
    np.testing.assert_allclose(m.scores, np.stack([exp[i] for i in range(len(SEQ))]), atol=1e-4)
    wt_cols = [STANDARD_AA.index(c) for c in SEQ]
    assert np.all(m.scores[np.arange(len(SEQ)), wt_cols] == 0.0)


def test_methods_differ_and_batch_size_does_not_matter(standin_runtime):
    a = score_matrix(standin_runtime, SEQ, "masked-marginal", batch_size=1).scores
    b = score_matrix(standin_runtime, SEQ, "masked-marginal", batch_size=32).scores
    np.testing.assert_allclose(a, b, atol=1e-5)
    wt = score_matrix(standin_runtime, SEQ, "wt-marginal").scores
    assert np.abs(wt - a).max() > 0.1  # masking changes the context term


@pytest.mark.parametrize("method", ["wt-marginal", "masked-marginal"])
def test_long_sequence_windows(standin_runtime, standin_weights0, method):
    seq = (SEQ * 2)[:30]
    m = score_matrix(standin_runtime, seq, method, max_residues=12, batch_size=4)
    # windows [0,12) [6,18) [12,24) [18,30), centres 5.5 11.5 17.5 23.5 -> owners by hand:
    owners = {(0, 12): range(0, 9), (6, 18): range(9, 15), (12, 24): range(15, 21),
              (18, 30): range(21, 30)}
    for (s, e), positions in owners.items():
        exp = _expected_rows(standin_runtime, standin_weights0, seq, s, e, positions,
                             method == "masked-marginal")
        for i in positions:
            np.testing.assert_allclose(m.scores[i], exp[i], atol=1e-4, err_msg=f"position {i}")
    full = score_matrix(standin_runtime, seq, method).scores  # one window: differs
    assert np.abs(full - m.scores).max() > 0.1


@pytest.mark.parametrize("method", ["wt-marginal", "masked-marginal"])
def test_nonstandard_wild_type_is_not_scored(standin_runtime, standin_weights0, method):
    seq = "MKXAYBZUO"
    m = score_matrix(standin_runtime, seq, method)
    assert np.isnan(m.scores[[2, 5, 6, 7, 8]]).all()  # was log p(a) - log p(X): X3K = +15.9
    exp = _expected_rows(standin_runtime, standin_weights0, seq, 0, 9, [0, 1, 3, 4],
                         method == "masked-marginal")
    for i in (0, 1, 3, 4):
        np.testing.assert_allclose(m.scores[i], exp[i], atol=1e-4)
    assert np.isnan(score_mutants(m, ["X3K", "M1A:X3K"])).all()
    assert np.isfinite(score_mutants(m, ["M1A"])).all()


def test_progress_and_cancel(standin_runtime):
    seen = []
    score_matrix(standin_runtime, SEQ, "masked-marginal", batch_size=8,
                 progress=lambda d, t, msg: seen.append((d, t)))
    assert seen == [(8, 22), (16, 22), (22, 22)]
    token = CancelToken()
    calls = []

    def progress(done, total, msg):
        calls.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        score_matrix(standin_runtime, SEQ, "masked-marginal", batch_size=8, progress=progress,
                     cancel=token)
    assert calls == [8]  # stopped before the second batch


def test_score_mutants_sums_singles(standin_runtime):
    m = score_matrix(standin_runtime, SEQ, "wt-marginal")
    s = score_mutants(m, ["K2R", "M1A:K2R:T3S", "M1M"])
    assert s[0] == pytest.approx(m.score(2, "R"))
    assert s[1] == pytest.approx(m.score(1, "A") + m.score(2, "R") + m.score(3, "S"))
    assert s[2] == 0.0
    with pytest.raises(MutantError, match="'M1A:A2R'.*position 2 is 'K'"):
        score_mutants(m, ["K2R", "M1A:A2R"])


def test_bad_arguments(standin_runtime):
    with pytest.raises(ValueError, match="unknown scoring method"):
        score_matrix(standin_runtime, SEQ, "pseudo-ppl")
    with pytest.raises(ValueError, match="exceeds"):
        score_matrix(standin_runtime, SEQ, max_residues=5000)


def test_log_softmax_is_stable():
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [0.0, 1.0, 2.0]], dtype=np.float32)
    out = log_softmax(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, sp_log_softmax(x.astype(np.float64), axis=-1), atol=1e-12)
