"""AlphaFold-style confidence colours: pLDDT bands and the green-white PAE scale."""
from __future__ import annotations

import numpy as np
import pytest

from app.ui.confidence_colors import GREENS_R, PAE_MAX, PLDDT_BANDS, pae_rgb, plddt_band_index, plddt_colors


def test_bands_are_alphafold_colours_high_to_low() -> None:
    assert [b.color for b in PLDDT_BANDS] == ["#0053D6", "#65CBF3", "#FFDB13", "#FF7D45"]
    assert PLDDT_BANDS[0].rgb == (0, 83, 214)


def test_band_index_and_colours() -> None:
    values = np.array([99.0, 90.0, 75.0, 70.0, 55.0, 50.0, 10.0, np.nan])
    assert plddt_band_index(values).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert plddt_colors([91.0, 20.0]) == ["#0053D6", "#FF7D45"]


def test_pae_scale_runs_from_dark_green_to_white_and_clips() -> None:
    rgb = pae_rgb(np.array([0.0, PAE_MAX, 45.0, -1.0]))
    assert rgb[0].tolist() == GREENS_R[0].tolist()
    assert rgb[1].tolist() == GREENS_R[-1].tolist() == rgb[2].tolist()
    assert rgb[3].tolist() == rgb[0].tolist()


def test_pae_scale_gets_lighter_monotonically() -> None:
    rgb = pae_rgb(np.linspace(0.0, PAE_MAX, 61)).astype(int)
    brightness = rgb.sum(axis=1)
    assert np.all(np.diff(brightness) >= 0) and brightness[-1] > brightness[0] + 500
    assert np.all(rgb[:, 1] >= rgb[:, 0]) and np.all(rgb[:, 1] >= rgb[:, 2])  # green dominates


def test_pae_scale_rejects_a_bad_maximum() -> None:
    with pytest.raises(ValueError, match="maximum"):
        pae_rgb(np.zeros(2), vmax=0.0)
