"""Zero-shot substitution scores (wild-type and masked marginal) from a pack, with windows for long proteins.

Numpy only, on packbuild.metrics' definitions (log-softmax over the full vocabulary, then the 20
standard columns minus the wild type: ProteinGym's convention). Sequences longer than the model
window are cut into windows of `size` residues overlapping by half; each position is scored from
the window whose centre is nearest (ESM-1v / ProteinGym style). `app_matrix` runs the app's own
`app.core.scoring.score_matrix` instead, so the bench can compare the two.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from packbuild.metrics import STANDARD, log_softmax, wt_marginal
from packbuild.sequences import TOKEN_IDS, encode

MASK_ID = TOKEN_IDS["<mask>"]
Logits = Callable[[np.ndarray], np.ndarray]  # tokens (B, T) int64 -> logits (B, T, V)


def plan_windows(length: int, size: int) -> list[tuple[int, int]]:
    """[(start, end)) windows of `size` residues, stride size // 2, the last aligned to the end."""
    if length <= size:
        return [(0, length)]
    starts = sorted(set(list(range(0, length - size, size // 2)) + [length - size]))
    return [(s, s + size) for s in starts]


def owners(length: int, windows: list[tuple[int, int]]) -> np.ndarray:
    """(L,) index of the window covering each position with the nearest centre (ties: earlier)."""
    pos = np.arange(length)[:, None]
    start = np.array([w[0] for w in windows])[None, :]
    end = np.array([w[1] for w in windows])[None, :]
    dist = np.abs(pos - (start + end - 1) / 2.0)
    dist[(pos < start) | (pos >= end)] = np.inf
    return np.argmin(dist, axis=1)


def wt_marginal_matrix(logits: Logits, seq: str, size: int = 1022) -> np.ndarray:
    """(L, 20) log p(a | x) - log p(wt | x), one unmasked pass per window."""
    wins = plan_windows(len(seq), size)
    own, out = owners(len(seq), wins), np.zeros((len(seq), len(STANDARD)))
    for k, (s, e) in enumerate(wins):
        mine = np.flatnonzero(own == k)
        out[mine] = wt_marginal(logits(encode(seq[s:e]))[0], seq[s:e], TOKEN_IDS)[mine - s]
    return out


def masked_marginal_matrix(logits: Logits, seq: str, size: int = 1022, batch: int = 16) -> np.ndarray:
    """(L, 20) log p(a | x with i masked) - log p(wt | same), `batch` masked copies per pass."""
    wins = plan_windows(len(seq), size)
    own, out = owners(len(seq), wins), np.zeros((len(seq), len(STANDARD)))
    cols = [TOKEN_IDS[a] for a in STANDARD]
    for k, (s, e) in enumerate(wins):
        base = encode(seq[s:e])[0]  # (T,) BOS at 0
        mine = np.flatnonzero(own == k)
        for b0 in range(0, len(mine), batch):
            pos = mine[b0:b0 + batch]  # sequence positions masked in this pass
            tok_col = pos - s + 1
            tokens = np.tile(base, (len(pos), 1))
            tokens[np.arange(len(pos)), tok_col] = MASK_ID
            lp = log_softmax(logits(tokens)[np.arange(len(pos)), tok_col].astype(np.float64))  # (b, V)
            wt = lp[np.arange(len(pos)), [TOKEN_IDS[seq[i]] for i in pos]]
            out[pos] = lp[:, cols] - wt[:, None]
    return out


def app_matrix(runtime, seq: str, method: str, batch: int = 16) -> np.ndarray:
    """The app's `score_matrix` (app.core.scoring) on an Esm2Runtime, as (L, 20) float64."""
    from app.core.scoring import score_matrix

    return score_matrix(runtime, seq, method, batch_size=batch).scores.astype(np.float64)


def score_mutants(matrix: np.ndarray, seq: str, mutants: Sequence[str]) -> np.ndarray:
    """Sum of single-substitution scores per mutant code ('A23G' or 'A23G:K40R'); checks wild types."""
    out = np.empty(len(mutants))
    for n, code in enumerate(mutants):
        total = 0.0
        for sub in code.split(":"):
            wt, pos, mt = sub[0], int(sub[1:-1]), sub[-1]
            if seq[pos - 1] != wt:
                raise ValueError(f"mutant {code!r}: wild type at {pos} is {seq[pos - 1]!r}, not {wt!r}")
            total += matrix[pos - 1, STANDARD.index(mt)]
        out[n] = total
    return out
