"""Range observers: per-tensor calibration statistics and clipping bounds (min/max, percentile, PTQ4Protein)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DegenerateTensorError, EmptyTensorError, NonFiniteTensorError
from .moments import RunningMoments

OBSERVER_KINDS = ("minmax", "percentile", "ptq4protein")


@dataclass(frozen=True)
class ObserverConfig:
    """How the clipping bound `clip` of a tensor is derived.

    kind:
      "minmax"      clip = max |x| over all samples.
      "percentile"  clip = mean over samples of the `percentile`-th percentile of |x| of that
                    sample (per-sample percentiles averaged: bounded memory, no reservoir).
      "ptq4protein" PTQ4Protein (Peng et al. 2023) top-k clipping, see `ptq4protein_clip`.
    top_k: extremes of |x| kept per sample; top_n (<= top_k): how many of them the median uses.
    """

    kind: str = "ptq4protein"
    percentile: float = 99.99
    top_k: int = 100
    top_n: int = 10

    def __post_init__(self) -> None:
        if self.kind not in OBSERVER_KINDS:
            raise ValueError(f"observer kind {self.kind!r} not in {OBSERVER_KINDS}")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile {self.percentile} not in (0, 100]")
        if self.top_k < 1 or not 1 <= self.top_n <= self.top_k:
            raise ValueError(f"need 1 <= top_n ({self.top_n}) <= top_k ({self.top_k})")


@dataclass(frozen=True)
class TensorStats:
    """Calibration summary of one tensor; `clip` is the bound M the quantizers use."""

    name: str
    count: int
    min: float
    max: float
    absmax: float
    mean: float
    std: float
    clip: float
    observer: str = "minmax"
    # min and max of each index of the last axis (a Linear input's input channels); None when the
    # samples disagree on that axis. The channel-split PWLQ picks its tail channels from these.
    channel_min: tuple[float, ...] | None = None
    channel_max: tuple[float, ...] | None = None
    channel_mean: tuple[float, ...] | None = None     # E[x] per channel
    channel_meansq: tuple[float, ...] | None = None   # E[x^2] per channel

    @property
    def channel_absmax(self) -> np.ndarray | None:
        """max |x| of each last-axis channel (float64), or None."""
        if self.channel_min is None or self.channel_max is None:
            return None
        return np.maximum(np.abs(np.asarray(self.channel_min)), np.abs(np.asarray(self.channel_max)))

    @property
    def m(self) -> float:
        """absmax / std: how heavy the tails are (about 4-5 for a Gaussian of 1e5 samples)."""
        return self.absmax / self.std

    @property
    def m_clip(self) -> float:
        """clip / std: the normalised bound the PWLQ breakpoint model uses (M / std)."""
        return self.clip / self.std

    def clipped_range(self) -> tuple[float, float]:
        """(rmin, rmax) intersected with [-clip, clip]; for affine (uint8) activation grids."""
        return max(self.min, -self.clip), min(self.max, self.clip)


def ptq4protein_clip(topk_per_sample: list[np.ndarray], top_n: int) -> float:
    """PTQ4Protein clipping bound from the per-sample top-k extremes of |x|.

        M = (1/S) * sum_s median( N largest of |x_s| ),   N = top_n <= k

    where S is the number of calibration samples and x_s the tensor on sample s. A sample with
    fewer than N elements uses all of them.
    """
    medians = [float(np.median(np.sort(t)[::-1][:top_n])) for t in topk_per_sample]
    return float(np.mean(medians))


def _top_k_abs(a: np.ndarray, k: int) -> np.ndarray:
    """The k largest values of a 1-D array (all of them when it is shorter), unsorted."""
    if a.size <= k:
        return a.copy()
    return np.partition(a, a.size - k)[a.size - k:].copy()


@dataclass
class TensorObserver:
    """Accumulates the statistics of one named tensor over calibration samples."""

    name: str
    config: ObserverConfig = field(default_factory=ObserverConfig)
    _moments: RunningMoments = field(default_factory=RunningMoments)
    _min: float = float("inf")
    _max: float = float("-inf")
    _percentiles: list[float] = field(default_factory=list)
    _topk: list[np.ndarray] = field(default_factory=list)
    _chan_min: np.ndarray | None = None
    _chan_max: np.ndarray | None = None
    _chan_ok: bool = True
    _chan_sum: np.ndarray | None = None
    _chan_sumsq: np.ndarray | None = None
    _chan_rows: int = 0

    def update(self, x: np.ndarray) -> None:
        """Add one calibration sample (any shape) of the tensor."""
        x = np.asarray(x)
        if x.size == 0:
            raise EmptyTensorError(self.name, f"empty sample of shape {x.shape}")
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NonFiniteTensorError(
                self.name, f"{int(bad.sum())} non-finite values, first at index {first}")
        flat = x.astype(np.float64, copy=False).ravel()
        self._moments.update(flat)
        self._min = min(self._min, float(flat.min()))
        self._max = max(self._max, float(flat.max()))
        self._update_channels(x)
        a = np.abs(flat)
        if self.config.kind == "percentile":
            self._percentiles.append(float(np.percentile(a, self.config.percentile)))
        elif self.config.kind == "ptq4protein":
            self._topk.append(_top_k_abs(a, self.config.top_k))

    def _update_channels(self, x: np.ndarray) -> None:
        if not self._chan_ok or x.ndim == 0:
            return
        rows = x.reshape(-1, x.shape[-1])
        lo, hi = rows.min(axis=0).astype(np.float64), rows.max(axis=0).astype(np.float64)
        r64 = rows.astype(np.float64)
        total, sq = r64.sum(axis=0), np.square(r64).sum(axis=0)
        if self._chan_min is None:
            self._chan_min, self._chan_max, self._chan_sum, self._chan_sumsq = lo, hi, total, sq
        elif self._chan_min.shape != lo.shape:
            self._chan_ok, self._chan_min, self._chan_max = False, None, None
            return
        else:
            self._chan_min, self._chan_max = np.minimum(self._chan_min, lo), np.maximum(self._chan_max, hi)
            self._chan_sum, self._chan_sumsq = self._chan_sum + total, self._chan_sumsq + sq
        self._chan_rows += rows.shape[0]

    def _clip(self, absmax: float) -> float:
        if self.config.kind == "percentile":
            return float(np.mean(self._percentiles))
        if self.config.kind == "ptq4protein":
            return ptq4protein_clip(self._topk, self.config.top_n)
        return absmax

    def finalize(self) -> TensorStats:
        """The stats; raises EmptyTensorError / DegenerateTensorError naming the tensor."""
        if self._moments.count == 0:
            raise EmptyTensorError(self.name, "observer saw no calibration sample")
        absmax = max(abs(self._min), abs(self._max))
        std = self._moments.std
        if absmax == 0.0 or std == 0.0:
            raise DegenerateTensorError(
                self.name, f"constant tensor (min={self._min}, max={self._max}, std={std})")
        clip = self._clip(absmax)
        if not clip > 0.0:
            raise DegenerateTensorError(self.name, f"clipping bound {clip} is not positive")
        chans = self._chan_min is not None
        per_channel = ((self._chan_min, self._chan_max, self._chan_sum / self._chan_rows,
                        self._chan_sumsq / self._chan_rows) if chans else (None,) * 4)
        return TensorStats(self.name, self._moments.count, self._min, self._max, absmax,
                           self._moments.mean, std, clip, self.config.kind,
                           *(tuple(a.tolist()) if a is not None else None for a in per_channel))


def observe(name: str, samples, config: ObserverConfig | None = None) -> TensorStats:
    """Convenience: run an observer over an iterable of arrays and finalize it."""
    obs = TensorObserver(name, config or ObserverConfig())
    for x in samples:
        obs.update(x)
    return obs.finalize()
