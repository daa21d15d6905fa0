"""pTM and predicted aligned error from ESMFold's ptm logits (openfold's compute_tm / PAE, in numpy)."""
from __future__ import annotations

import numpy as np

MAX_BIN, NUM_BINS = 31, 64  # ESMFold's ptm head: 64 bins over 0..31 Angstrom


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bin_centres(max_bin: float = MAX_BIN, num_bins: int = NUM_BINS) -> np.ndarray:
    """Centres of the 63 bins between linspace(0, max_bin, num_bins - 1) plus one past the end; (64,)."""
    edges = np.linspace(0, max_bin, num_bins - 1, dtype=np.float32)
    step = edges[1] - edges[0]
    centres = edges + step / 2
    return np.append(centres, centres[-1] + step).astype(np.float32)


def predicted_aligned_error(logits: np.ndarray) -> tuple[np.ndarray, float]:
    """(L, L, 64) logits -> (L, L) expected aligned error in Angstrom and the largest expressible error."""
    centres = bin_centres(num_bins=logits.shape[-1])
    return (_softmax(logits) * centres).sum(-1), float(centres[-1])


def ptm(logits: np.ndarray, eps: float = 1e-8) -> float:
    """pTM: max over aligned residues i of mean_j E[TM term], with d0 from L clipped at 19 (AF2 supplement 1.9.7)."""
    n = logits.shape[-2]
    centres = bin_centres(num_bins=logits.shape[-1])
    d0 = 1.24 * (max(n, 19) - 15) ** (1.0 / 3) - 1.8
    tm_per_bin = 1.0 / (1 + centres ** 2 / d0 ** 2)
    term = (_softmax(logits) * tm_per_bin).sum(-1)  # (L, L)
    weights = np.ones(n, dtype=np.float32) / (eps + n)
    return float((term * weights).sum(-1).max())
