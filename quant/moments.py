"""Running mean/variance (Welford, float64) merged chunk by chunk (Chan et al. parallel update)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RunningMoments:
    """Streaming count, mean and M2 = sum((x - mean)^2), all float64."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def update(self, x: np.ndarray) -> None:
        """Merge a chunk of values; exact up to float64 rounding whatever the chunking."""
        x = np.asarray(x, dtype=np.float64).ravel()
        n_b = x.size
        if n_b == 0:
            return
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        # Chan: mean = mean_a + delta * n_b / n ; M2 = M2_a + M2_b + delta^2 * n_a * n_b / n
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.count = n

    @property
    def variance(self) -> float:
        """Population variance (divides by count)."""
        return self.m2 / self.count if self.count else float("nan")

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return float(np.sqrt(self.variance))
