"""bench.scoring on a tiny real pack: windows, batching, and agreement with the app's scoring."""
from __future__ import annotations

import numpy as np
import pytest

from app.core.scoring import score_matrix
from bench.runner import PackRunner
from bench.scoring import masked_marginal_matrix, owners, plan_windows, score_mutants, wt_marginal_matrix
from exporter.testing import TINY_CALIBRATION

SEQ = TINY_CALIBRATION[6]  # 79 residues


@pytest.fixture(scope="module")
def logits(tiny_pack):
    runner = PackRunner(tiny_pack, threads=1, use_app=False)
    return lambda t: runner.run(t)["logits"]


def test_windows_cover_every_position_from_a_containing_window():
    wins = plan_windows(100, 30)
    own = owners(100, wins)
    assert wins[0] == (0, 30) and wins[-1] == (70, 100)
    assert all(wins[k][0] <= i < wins[k][1] for i, k in enumerate(own))


def test_masked_marginal_does_not_depend_on_batch(logits):
    a = masked_marginal_matrix(logits, SEQ, batch=1)
    b = masked_marginal_matrix(logits, SEQ, batch=7)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.abs(a).max() > 0.1  # scores vary (a broken model would give zeros)


def test_window_larger_than_sequence_is_one_pass(logits):
    np.testing.assert_array_equal(wt_marginal_matrix(logits, SEQ, size=1022), wt_marginal_matrix(logits, SEQ, size=79))
    windowed = wt_marginal_matrix(logits, SEQ, size=40)
    assert windowed.shape == (79, 20) and not np.allclose(windowed, wt_marginal_matrix(logits, SEQ))


@pytest.mark.parametrize("method,size", [("wt-marginal", 1022), ("masked-marginal", 1022), ("wt-marginal", 30),
                                         ("masked-marginal", 30)])
def test_agrees_with_app_scoring(tiny_pack, logits, method, size):
    runner = PackRunner(tiny_pack, threads=1)
    app = score_matrix(runner.app_runtime, SEQ, method, batch_size=5, max_residues=size).scores
    ours = (wt_marginal_matrix(logits, SEQ, size) if method == "wt-marginal"
            else masked_marginal_matrix(logits, SEQ, size, batch=5))
    np.testing.assert_allclose(app, ours, atol=1e-4)


def test_score_mutants_sums_and_checks_wild_type():
    m = np.arange(3 * 20, dtype=float).reshape(3, 20)
    assert score_mutants(m, "ACD", ["A1C", "C2A:D3Y"]).tolist() == [1.0, 20.0 + 59.0]  # columns ACDEFGHIKLMNPQRSTVWY
    with pytest.raises(ValueError, match="G1C"):
        score_mutants(m, "ACD", ["G1C"])
