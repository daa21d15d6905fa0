"""Overlapping windows for sequences longer than the model's context (ESM-1v / ProteinGym style).

ESM-2 sees at most `max_tokens - 2` = 1022 residues per pass. A longer sequence is cut into
windows of exactly `size` residues that overlap by `overlap` (default size // 2); the last
window is aligned to the sequence end. Each position is scored from the window whose centre is
nearest to it (ties go to the earlier window), so every residue keeps at least ~size/4 residues
of context on each side unless it is near a sequence end. ProteinGym's `get_optimal_window`
centres a fresh window on each mutated position; with overlap = size // 2 the chosen window's
centre is within size/4 of the position, which keeps most of that context at a fraction of the
passes for the wild-type marginal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Window:
    """Residues [start, end) of the sequence (0-based, end exclusive)."""

    start: int
    end: int

    @property
    def center(self) -> float:
        return (self.start + self.end - 1) / 2.0

    def __len__(self) -> int:
        return self.end - self.start


def plan_windows(length: int, size: int, overlap: Optional[int] = None) -> list[Window]:
    """Windows of `size` residues covering [0, length); one window when length <= size."""
    if size < 1:
        raise ValueError(f"window size must be >= 1, got {size}")
    if length <= size:
        return [Window(0, length)]
    overlap = size // 2 if overlap is None else overlap
    if not 0 <= overlap < size:
        raise ValueError(f"window overlap must be in [0, {size}), got {overlap}")
    stride = size - overlap
    starts = list(range(0, length - size, stride)) + [length - size]
    return [Window(s, s + size) for s in sorted(set(starts))]


def assign_positions(length: int, windows: list[Window]) -> np.ndarray:
    """(length,) int: for each position, the index of the covering window with nearest centre.

    Ties go to the earlier window in the list. O(length) memory and O(sum of window lengths)
    time: each window updates only the positions it covers. Raises ValueError naming the first
    (1-based) position no window covers.
    """
    # Distances are doubled so they stay integers: 2 * |i - centre| = |2i - (start + end - 1)|.
    best = np.full(length, np.iinfo(np.int64).max, dtype=np.int64)  # (L,)
    owner = np.full(length, -1, dtype=np.int64)  # (L,)
    for k, w in enumerate(windows):
        lo, hi = max(w.start, 0), min(w.end, length)
        if lo >= hi:
            continue
        dist = np.abs(2 * np.arange(lo, hi, dtype=np.int64) - (w.start + w.end - 1))  # (hi - lo,)
        closer = dist < best[lo:hi]  # strict: an equal distance keeps the earlier window
        best[lo:hi][closer] = dist[closer]
        owner[lo:hi][closer] = k
    uncovered = np.flatnonzero(owner < 0)
    if uncovered.size:
        raise ValueError(f"position {int(uncovered[0]) + 1} of {length} is in no window")
    return owner
