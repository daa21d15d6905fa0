"""Diverging colour map centred at 0 (pure numpy, no Qt) for the score heatmap."""
from __future__ import annotations

import math

import numpy as np

# ColorBrewer RdBu (11 classes): red for negative (damaging) scores, white at 0, blue for
# positive ones. Listed from -1 to +1 on the normalised scale.
RDBU_ANCHORS = np.array(
    [
        (103, 0, 31), (178, 24, 43), (214, 96, 77), (244, 165, 130), (253, 219, 199),
        (247, 247, 247),
        (209, 229, 240), (146, 197, 222), (67, 147, 195), (33, 102, 172), (5, 48, 97),
    ],
    dtype=np.float64,
)
NAN_RGB = (200, 200, 200)


def symmetric_limit(values: np.ndarray, percentile: float = 99.0) -> float:
    """Half-width v of the colour scale [-v, v]: the given percentile of |finite values|.

    A percentile (not the max) keeps one extreme mutation from washing out the rest.
    Returns 1.0 when there is no finite non-zero value.
    """
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 1.0
    v = float(np.percentile(finite, percentile))
    return v if v > 0 else (float(finite.max()) or 1.0)


def scored_limit(sequence: str, scores: np.ndarray, low: float = 1.0, high: float = 99.0) -> float:
    """Half-width v of the colour scale from the scored cells only: max(|p_low|, |p_high|) of
    the finite substitution scores (wild-type cells, which are 0, and NaN rows of non-standard
    residues left out). One outlier or an unscored X row cannot stretch the scale."""
    scores = np.asarray(scores, dtype=np.float64)
    wt = np.array([[aa == c for c in "ACDEFGHIKLMNPQRSTVWY"] for aa in sequence], dtype=bool)
    values = scores[~wt.reshape(scores.shape)] if scores.size else scores
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    p_lo, p_hi = np.percentile(values, [low, high])
    v = float(max(abs(p_lo), abs(p_hi)))
    return v if v > 0 else (float(np.abs(values).max()) or 1.0)


def normalise(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map scores to t in [-1, 1]: t = clip(x / vmax, -1, 1); NaN stays NaN."""
    if not vmax > 0:
        raise ValueError(f"colour scale half-width must be > 0, got {vmax}")
    x = np.asarray(values, dtype=np.float64)
    return np.clip(x / vmax, -1.0, 1.0)


def diverging_rgb(values: np.ndarray, vmax: float) -> np.ndarray:
    """RGB uint8 array of shape values.shape + (3,): piecewise-linear RdBu, 0 -> white."""
    t = normalise(values, vmax)
    nan = ~np.isfinite(t)
    # position along the anchor list: u in [0, n-1], u = (t + 1) / 2 * (n - 1)
    n = len(RDBU_ANCHORS)
    u = (np.where(nan, 0.0, t) + 1.0) * 0.5 * (n - 1)
    lo = np.clip(np.floor(u).astype(np.int64), 0, n - 2)
    frac = (u - lo)[..., None]
    rgb = RDBU_ANCHORS[lo] * (1.0 - frac) + RDBU_ANCHORS[lo + 1] * frac
    rgb[nan] = NAN_RGB
    return np.rint(rgb).astype(np.uint8)


def nice_step(span: float, max_ticks: int = 5) -> float:
    """Largest 'nice' step (1, 2, 2.5, 5 x 10^k) giving at least max_ticks // 2 ticks in span."""
    if not span > 0:
        raise ValueError(f"tick span must be > 0, got {span}")
    raw = span / max(1, max_ticks // 2)
    exp = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = m * 10.0**exp
        if step >= raw - 1e-12:
            return step
    return 10.0 ** (exp + 1)


def ticks(vmax: float, max_ticks: int = 5) -> list[float]:
    """Symmetric tick values within [-vmax, vmax] on a nice step, always including 0."""
    step = nice_step(vmax, max_ticks)
    k = int(math.floor(vmax / step + 1e-9))
    return [round(i * step, 10) for i in range(-k, k + 1)]
