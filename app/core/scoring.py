"""Zero-shot variant effect scores from masked-LM log-probabilities (Meier et al. 2021, ESM-1v).

For position i with wild-type residue w_i and substitution a (ProteinGym conventions):

  wt-marginal      s(i, a) = log p(a | x)          - log p(w_i | x)           one pass over x
  masked-marginal  s(i, a) = log p(a | x_{-i})     - log p(w_i | x_{-i})      x with i masked

Log-probabilities come from a numerically stable log-softmax over the *full* vocabulary (33
tokens, as fair-esm and ProteinGym do), then the 20 standard-residue columns are taken; the
scores are therefore not renormalised over the 20 amino acids. The wild-type cell is 0. A
position whose wild type is non-standard (X, B, Z, U, O) is not scored: its row is NaN (the
model's log p of X is no wild-type likelihood; X5K came out as +15.9 and stretched every colour
scale), and a multi-mutant touching it scores NaN. Writers leave NaN rows out and say so.
A multi-mutant's score is the sum of its single-substitution log-ratios (additive model).
Sequences longer than the model window are scored with overlapping windows (see windows.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .fasta import STANDARD_AA
from .jobs import CancelToken, Progress, check, report
from .mutants import parse_mutant
from .runtime import Esm2Runtime
from .windows import Window, assign_positions, plan_windows

log = logging.getLogger(__name__)

METHODS = ("wt-marginal", "masked-marginal")
DEFAULT_BATCH = 16  # masked copies per forward pass


NOT_SCORED = frozenset("XBZUO")  # wild types whose rows are NaN


def not_scored_positions(sequence: str) -> list[int]:
    """1-based positions whose wild type is non-standard (their scores are NaN)."""
    return [i + 1 for i, aa in enumerate(sequence) if aa in NOT_SCORED]


@dataclass(frozen=True)
class ScoreMatrix:
    """(L, 20) float32 log-ratios; column j is `alphabet[j]`, row i is residue i + 1; rows of
    non-standard wild types (X, B, Z, U, O) are NaN (not scored)."""

    sequence: str
    scores: np.ndarray
    method: str
    alphabet: str = STANDARD_AA

    def score(self, position: int, aa: str) -> float:
        """Score of substituting `aa` at 1-based `position`."""
        return float(self.scores[position - 1, self.alphabet.index(aa)])


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(x)) = x - max - log(sum(exp(x - max))), in float64 for stability."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _log_ratios(logp: np.ndarray, wt_ids: np.ndarray, aa_ids: np.ndarray) -> np.ndarray:
    """logp (N, V) full-vocab log-probs of N positions -> (N, 20) log p(a) - log p(wt)."""
    wt_lp = np.take_along_axis(logp, wt_ids[:, None], axis=1)  # (N, 1)
    return logp[:, aa_ids] - wt_lp


def _wt_marginal(rt: Esm2Runtime, seq: str, windows: list[Window], owner: np.ndarray,
                 out: np.ndarray, progress: Optional[Progress],
                 cancel: Optional[CancelToken]) -> None:
    tok = rt.tokenizer
    aa_ids = tok.residue_ids(STANDARD_AA)
    wt_ids = tok.residue_ids(seq)
    off = int(tok.prepend_bos)
    for k, w in enumerate(windows):
        check(cancel)
        tokens = tok.encode(seq[w.start:w.end])[None, :]  # (1, W + 2)
        logits = rt.run(tokens)["logits"][0]  # (W + 2, V)
        mine = np.flatnonzero(owner == k)  # positions scored from this window
        logp = log_softmax(logits[mine - w.start + off])  # (n, V)
        out[mine] = _log_ratios(logp, wt_ids[mine], aa_ids)
        report(progress, k + 1, len(windows), f"wt-marginal: window {k + 1}/{len(windows)}")


def _masked_marginal(rt: Esm2Runtime, seq: str, windows: list[Window], owner: np.ndarray,
                     out: np.ndarray, progress: Optional[Progress],
                     cancel: Optional[CancelToken], batch_size: int) -> None:
    tok = rt.tokenizer
    aa_ids = tok.residue_ids(STANDARD_AA)
    wt_ids = tok.residue_ids(seq)
    off = int(tok.prepend_bos)
    done, total = 0, len(seq)
    for k, w in enumerate(windows):
        base = tok.encode(seq[w.start:w.end])  # (W + 2,)
        mine = np.flatnonzero(owner == k)
        for b0 in range(0, len(mine), batch_size):
            check(cancel)
            pos = mine[b0:b0 + batch_size]  # (b,) sequence positions masked in this batch
            cols = pos - w.start + off  # their token columns
            tokens = np.tile(base, (len(pos), 1))  # (b, W + 2), one masked copy per row
            tokens[np.arange(len(pos)), cols] = tok.mask_idx
            logits = rt.run(tokens)["logits"]  # (b, W + 2, V)
            logp = log_softmax(logits[np.arange(len(pos)), cols])  # (b, V)
            out[pos] = _log_ratios(logp, wt_ids[pos], aa_ids)
            done += len(pos)
            report(progress, done, total, f"masked-marginal: {done}/{total} positions")


def score_matrix(runtime: Esm2Runtime, sequence: str, method: str = "wt-marginal",
                 progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None,
                 batch_size: int = DEFAULT_BATCH, max_residues: Optional[int] = None,
                 overlap: Optional[int] = None) -> ScoreMatrix:
    """L x 20 log-ratio scores of every substitution of `sequence` (upper-case residues).

    `max_residues` (default: pack max_tokens - 2) is the window size; `overlap` defaults to
    half of it. Raises `jobs.Cancelled` between batches when `cancel` is set.
    """
    if method not in METHODS:
        raise ValueError(f"unknown scoring method {method!r}; choose one of {METHODS}")
    if not sequence:
        raise ValueError("cannot score an empty sequence")
    size = max_residues or runtime.max_residues
    if size > runtime.max_residues:
        raise ValueError(f"window of {size} residues exceeds the pack's {runtime.max_residues}")
    windows = plan_windows(len(sequence), size, overlap)
    owner = assign_positions(len(sequence), windows)
    out = np.zeros((len(sequence), len(STANDARD_AA)), dtype=np.float64)
    log.info("%s over %d residues in %d window(s)", method, len(sequence), len(windows))
    if method == "wt-marginal":
        _wt_marginal(runtime, sequence, windows, owner, out, progress, cancel)
    else:
        _masked_marginal(runtime, sequence, windows, owner, out, progress, cancel,
                         max(1, batch_size))
    out[[p - 1 for p in not_scored_positions(sequence)]] = np.nan
    return ScoreMatrix(sequence, out.astype(np.float32), method)


def score_mutants(matrix: ScoreMatrix, mutants: Sequence[str]) -> np.ndarray:
    """(N,) float64 scores of mutant codes ("A23G", "A23G:K40R"): sum of single log-ratios.

    Raises `mutants.MutantError` naming the mutant whose wild type or position is wrong.
    """
    out = np.empty(len(mutants), dtype=np.float64)
    for n, code in enumerate(mutants):
        m = parse_mutant(code, matrix.sequence)
        out[n] = sum(matrix.score(s.position, s.mt) for s in m.substitutions)
    return out
