"""The numpy/onnxruntime driver reproduces EsmForProteinFolding end to end, recycling included."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from app.core.fold.driver import fold, passes_for
from app.core.fold.residues import encode
from transformers.models.esm.openfold_utils import atom14_to_atom37

SEQUENCES = ("MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVDAFQEMLQWAXCRKH")


def torch_fold(model, sequence: str, num_recycles):
    aatype = torch.from_numpy(encode(sequence))[None]
    with torch.no_grad():
        return model(aatype, torch.ones_like(aatype), num_recycles=num_recycles)


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("num_recycles", [None, 2])
def test_fold_matches_torch(tiny_model, tiny_parts, sequence: str, num_recycles) -> None:
    ref = torch_fold(tiny_model, sequence, num_recycles)
    got = fold(tiny_parts, sequence, num_recycles=num_recycles)
    ref37 = atom14_to_atom37(ref.positions[-1], ref)[0].numpy()
    assert np.abs(got.positions14 - ref.positions[-1, 0].numpy()).max() < 1e-3  # Angstrom
    assert np.abs(got.atom37 - ref37).max() < 1e-3
    assert np.array_equal(got.atom37_mask, ref.atom37_atom_exists[0].numpy())
    np.testing.assert_allclose(got.plddt, ref.plddt[0].numpy(), atol=1e-5)
    assert got.ptm == pytest.approx(float(ref.ptm), abs=1e-5)
    np.testing.assert_allclose(got.pae, ref.predicted_aligned_error[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(got.distogram_logits, ref.distogram_logits[0].numpy(), atol=1e-3)
    assert got.max_pae == pytest.approx(float(ref.max_predicted_aligned_error))


def test_recycling_changes_the_structure(tiny_parts) -> None:
    """The parity test above would be weak if recycling were a no-op for this model."""
    one = fold(tiny_parts, SEQUENCES[0], num_recycles=0)
    three = fold(tiny_parts, SEQUENCES[0], num_recycles=2)
    assert (one.passes, three.passes) == (1, 3)
    assert np.abs(one.positions14 - three.positions14).max() > 0.1


def test_passes_follow_transformers_semantics() -> None:
    assert passes_for(None, 4) == 4  # num_recycles=None runs max_recycles passes
    assert passes_for(0, 4) == 1
    assert passes_for(3, 4) == 4
    with pytest.raises(ValueError, match="num_recycles"):
        passes_for(-1, 4)


def test_progress_reports_each_pass(tiny_parts) -> None:
    seen = []
    fold(tiny_parts, "MKTAYIAK", num_recycles=1, progress=lambda i, n, msg: seen.append((i, n)))
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]  # language model, 2 passes, confidence
