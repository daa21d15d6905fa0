"""Each exported ONNX part equals its torch counterpart at two lengths (dynamic length axis)."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch

from exporter.esmfold.parts import PARTS, example_inputs, wrapper
from exporter.esmfold.trunk import recycle_bins
from transformers.models.esm.modeling_esmfold import EsmFoldingTrunk

LENGTHS = (5, 23)


def lm_reference(model, aatype: torch.Tensor) -> np.ndarray:
    """EsmForProteinFolding.forward up to s_s_0, with the model's own methods."""
    with torch.no_grad():
        esm_s = model.compute_language_model_representations(model.af2_idx_to_esm_idx(aatype, torch.ones_like(aatype)))
        esm_s = (model.esm_s_combine.softmax(0).unsqueeze(0) @ esm_s).squeeze(2)
        return (model.esm_s_mlp(esm_s) + model.embedding(aatype)).numpy()


@pytest.mark.parametrize("length", LENGTHS)
def test_lm_part_matches_torch(tiny_model, tiny_parts, length: int) -> None:
    aatype = torch.randint(0, 21, (2, length), generator=torch.Generator().manual_seed(length))
    ref = lm_reference(tiny_model, aatype)
    got = tiny_parts.run("lm", {"aatype": aatype.numpy()})["s_s_0"]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=0)
    assert np.abs(ref).max() > 0.1


@pytest.mark.parametrize("part", ["trunk", "structure", "heads"])
@pytest.mark.parametrize("length", LENGTHS)
def test_traced_part_matches_torch(tiny_model, tiny_parts, part: str, length: int) -> None:
    feeds = example_inputs(tiny_model, part, length=length, seed=length)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper(tiny_model, part)(*feeds.values())]
    got = tiny_parts.run(part, {k: v.numpy() for k, v in feeds.items()})
    for name, expected in zip(PARTS[part].outputs, ref):
        assert got[name].shape == expected.shape, name
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got[name], expected, atol=2e-5 * scale, rtol=0, err_msg=f"{part}.{name}")


def test_trunk_wrapper_equals_the_transformers_loop_body(tiny_model) -> None:
    """TrunkPass (rewritten for export) against EsmFoldingTrunk's own modules, unrewritten."""
    t = tiny_model.trunk
    feeds = example_inputs(tiny_model, "trunk", length=9, seed=3)
    with torch.no_grad():
        s, z = wrapper(tiny_model, "trunk")(*feeds.values())
        bins = EsmFoldingTrunk.distogram(feeds["recycle_backbone"], 3.375, 21.375, t.recycle_bins)
        ref_s = feeds["s_s_0"] + t.recycle_s_norm(feeds["recycle_s"])
        ref_z = t.recycle_z_norm(feeds["recycle_z"]) + t.recycle_disto(bins)
        ref_z = ref_z + t.pairwise_positional_embedding(feeds["residx"], mask=feeds["mask"].long())
        for block in t.blocks:
            ref_s, ref_z = block(ref_s, ref_z, mask=feeds["mask"].long(), chunk_size=None)
    torch.testing.assert_close(s, ref_s, atol=1e-5, rtol=0)
    torch.testing.assert_close(z, ref_z, atol=1e-5, rtol=0)


def test_recycle_bins_equal_transformers_distogram() -> None:
    coords = 6 * torch.randn(1, 30, 3, 3, generator=torch.Generator().manual_seed(0))
    ref = EsmFoldingTrunk.distogram(coords, 3.375, 21.375, 15)
    got = recycle_bins(coords, 15)
    assert torch.equal(got, ref)
    assert len(torch.unique(ref)) > 5  # the coordinates spread over many bins
    assert int(recycle_bins(torch.zeros(1, 4, 3, 3), 15).max()) == 0  # first pass: zeros -> bin 0


def test_trace_through_a_file_equals_the_in_memory_trace(tiny_model) -> None:
    """The path large parts take (trace into a file, external data past 2 GB, read back) gives the same model."""
    from exporter.esmfold.parts import export_part

    in_memory = export_part(tiny_model, "trunk")
    via_file = export_part(tiny_model, "trunk", via_file_above=0)
    assert [n.op_type for n in via_file.graph.node] == [n.op_type for n in in_memory.graph.node]
    for a, b in zip(via_file.graph.initializer, in_memory.graph.initializer):
        assert not a.external_data  # weights are back in memory, the temporary file is gone
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))
