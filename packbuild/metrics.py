"""Accuracy metrics comparing a quantized model with its float reference (numpy; SQNR from quant)."""
from __future__ import annotations

import numpy as np

from app.core.scoring import log_softmax  # noqa: F401 (one log_softmax; bench.scoring imports it here)
from quant.uniform import sqnr_db  # noqa: F401 (one SQNR; verify and the tests import it here)

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average')."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float("nan") if denom == 0 else float((ra * rb).sum() / denom)


def wt_marginal(logits: np.ndarray, sequence: str, token_ids: dict[str, int]) -> np.ndarray:
    """(L, 20) log p(mt) - log p(wt) from one unmasked pass; logits (T, V) with BOS at 0."""
    lp = log_softmax(logits.astype(np.float64))[1:len(sequence) + 1]
    cols = lp[:, [token_ids[a] for a in STANDARD]]
    wt = lp[np.arange(len(sequence)), [token_ids[a] for a in sequence]]
    return cols - wt[:, None]


def substitution_mask(sequence: str) -> np.ndarray:
    """(L, 20) True for the 19 substitutions at each position, False on the wild-type cell."""
    return np.array([[a != w for a in STANDARD] for w in sequence])
