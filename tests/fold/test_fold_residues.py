"""Residue/atom tables and confidence reductions in app.core.fold equal transformers' openfold copies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.fold import confidence, residues
from transformers.models.esm.openfold_utils import residue_constants as rc
from transformers.models.esm.openfold_utils.data_transforms import make_atom14_masks
from transformers.models.esm.openfold_utils.loss import compute_predicted_aligned_error, compute_tm


def test_orders_match() -> None:
    assert list(residues.RESTYPES) == rc.restypes
    assert list(residues.ATOM_TYPES) == rc.atom_types
    assert [residues.RESTYPE_3[i] for i in range(20)] == [rc.restype_1to3[a] for a in rc.restypes]


def test_atom14_names_match() -> None:
    for i, three in enumerate(residues.RESTYPE_3):
        assert residues.atom14_names(i) == rc.restype_name_to_atom14_names[three], three


def test_atom37_tables_match_make_atom14_masks() -> None:
    aatype = torch.arange(21)
    feats = make_atom14_masks({"aatype": aatype})
    assert np.array_equal(residues.ATOM37_EXISTS, feats["atom37_atom_exists"].numpy())
    assert np.array_equal(residues.ATOM37_TO_ATOM14, feats["residx_atom37_to_atom14"].numpy())


def test_encode_maps_unknown_letters_to_x_and_rejects_non_letters() -> None:
    assert residues.encode("arnB").tolist() == [0, 1, 2, 20]
    with pytest.raises(residues.SequenceError, match="position 3"):
        residues.encode("AR1N", record="seq1")
    with pytest.raises(residues.SequenceError, match="empty"):
        residues.encode("  ")


@pytest.mark.parametrize("length", [7, 40])
def test_ptm_and_pae_match_openfold(length: int) -> None:
    logits = 3 * torch.randn(length, length, 64, generator=torch.Generator().manual_seed(length))
    assert confidence.ptm(logits.numpy()) == pytest.approx(float(compute_tm(logits, max_bin=31, no_bins=64)),
                                                           abs=1e-6)
    ref = compute_predicted_aligned_error(logits, max_bin=31, no_bins=64)
    pae, max_pae = confidence.predicted_aligned_error(logits.numpy())
    np.testing.assert_allclose(pae, ref["predicted_aligned_error"].numpy(), atol=1e-4)
    assert max_pae == pytest.approx(float(ref["max_predicted_aligned_error"]))
