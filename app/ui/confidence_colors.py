"""Confidence colours as AlphaFold shows them: pLDDT bands and a green-white PAE scale (numpy, no Qt)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlddtBand:
    """One pLDDT band: residues with lower <= pLDDT < upper get `color` (hex, AlphaFold DB)."""

    label: str
    short: str  # legend text
    lower: float
    upper: float
    color: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        h = self.color.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


# AlphaFold DB's legend, highest band first. Edges follow AlphaFold's digitize on [50, 70, 90]:
# exactly 90 is "very high", exactly 70 "confident", exactly 50 "low".
PLDDT_BANDS = (
    PlddtBand("Very high (pLDDT \u2265 90)", "\u2265 90", 90.0, float("inf"), "#0053D6"),
    PlddtBand("Confident (70 \u2264 pLDDT < 90)", "70\u201390", 70.0, 90.0, "#65CBF3"),
    PlddtBand("Low (50 \u2264 pLDDT < 70)", "50\u201370", 50.0, 70.0, "#FFDB13"),
    PlddtBand("Very low (pLDDT < 50)", "< 50", float("-inf"), 50.0, "#FF7D45"),
)
PAE_MAX = 30.0  # Angstrom; AlphaFold's PAE plots clip at 30 (ESMFold's max_pae is ~31.75)

# ColorBrewer Greens (9 classes), darkest first: PAE 0 (confident) is dark green, 30 is white,
# as in AlphaFold DB's "Greens_r" PAE plot.
GREENS_R = np.array(
    [(0, 68, 27), (0, 109, 44), (35, 139, 69), (65, 171, 93), (116, 196, 118),
     (161, 217, 155), (199, 233, 192), (229, 245, 224), (247, 252, 245)],
    dtype=np.float64,
)


def plddt_band_index(plddt: np.ndarray) -> np.ndarray:
    """Index into PLDDT_BANDS for each pLDDT value (0-100 scale); NaN counts as very low."""
    x = np.nan_to_num(np.asarray(plddt, dtype=np.float64), nan=-1.0)
    # digitize: <50 -> 0, [50,70) -> 1, [70,90) -> 2, >=90 -> 3; bands are listed high to low
    return (len(PLDDT_BANDS) - 1) - np.digitize(x, [50.0, 70.0, 90.0])


def plddt_colors(plddt: np.ndarray) -> list[str]:
    """Hex colour of each residue's pLDDT band."""
    return [PLDDT_BANDS[k].color for k in plddt_band_index(plddt)]


def pae_rgb(pae: np.ndarray, vmax: float = PAE_MAX) -> np.ndarray:
    """RGB uint8 array pae.shape + (3,): piecewise-linear Greens_r on t = clip(pae / vmax, 0, 1)."""
    if not vmax > 0:
        raise ValueError(f"PAE colour scale maximum must be > 0, got {vmax}")
    t = np.clip(np.nan_to_num(np.asarray(pae, dtype=np.float64), nan=vmax) / vmax, 0.0, 1.0)
    n = len(GREENS_R)
    u = t * (n - 1)  # position along the anchors, in [0, n-1]
    lo = np.clip(np.floor(u).astype(np.int64), 0, n - 2)
    frac = (u - lo)[..., None]
    rgb = GREENS_R[lo] * (1.0 - frac) + GREENS_R[lo + 1] * frac
    return np.rint(rgb).astype(np.uint8)
