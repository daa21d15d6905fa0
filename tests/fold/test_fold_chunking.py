"""Row-chunked triangle attention: same numbers as the reference's chunking, standard ONNX, less memory."""
from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from app.core.fold.driver import fold
from app.core.fold.memory import estimate, part_activations
from app.core.fold.parts import open_parts
from exporter.esmfold.calibration import FoldCalibration
from exporter.esmfold.chunking import DOMAIN, expand_chunked_attention, has_placeholders
from exporter.esmfold.pack import architecture_manifest, write_folding_pack
from exporter.esmfold.parts import example_inputs, export_part, export_parts, wrapper
from exporter.esmfold.parts_runtime import in_memory_parts
from exporter.esmfold.quantize import quantize_parts
from exporter.scheme_options import scheme_config
from packbuild.metrics import sqnr_db

SEQUENCE = "MSEKIRVLLVDDHPVVRQGLRALLEGEPDF"


def masked_trunk_inputs(model, length: int) -> dict:
    feeds = example_inputs(model, "trunk", length=length, seed=5)
    feeds["mask"][0, -2:] = 0  # padding positions take the -inf mask-bias path
    return feeds


@pytest.mark.parametrize("length,chunk", [(9, 4), (9, 1), (5, 8)])
def test_chunked_wrapper_equals_the_reference_chunking(tiny_model, length: int, chunk: int) -> None:
    """TrunkPass(chunk) block by block against EsmFoldTriangularSelfAttentionBlock(chunk_size=chunk)."""
    feeds = masked_trunk_inputs(tiny_model, length)
    block = tiny_model.trunk.blocks[0]
    s, z, mask = feeds["s_s_0"], feeds["recycle_z"], feeds["mask"]
    from exporter.esmfold.trunk import block_forward

    with torch.no_grad():
        ref_s, ref_z = block(s, z, mask=mask.long(), chunk_size=chunk)
        got_s, got_z = block_forward(block, s, z, mask, chunk)
    torch.testing.assert_close(got_s, ref_s, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_z, ref_z, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def chunked_trunk(tiny_model) -> onnx.ModelProto:
    return export_part(tiny_model, "trunk", chunk=4, unchunked=0)  # unchunked up to the chunk size only


def _ops(graph: onnx.GraphProto) -> list[str]:
    """Op types of a graph and of its subgraphs (If branches, Loop bodies)."""
    out = []
    for node in graph.node:
        out.append(node.op_type)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out += _ops(a.g)
    return out


def test_trace_holds_placeholders_and_expansion_is_fused_attention(chunked_trunk) -> None:
    placeholders = Counter(n.op_type for n in chunked_trunk.graph.node if n.domain == DOMAIN)
    # 2 blocks x (starting, ending node) and 2 blocks x (outgoing, incoming edges)
    assert placeholders == {"ChunkedTriangleAttention": 4, "TriangleProduct": 4}
    expanded = expand_chunked_attention(chunked_trunk)
    assert not has_placeholders(expanded)
    assert expand_chunked_attention(expanded) is expanded  # nothing to expand: no copy
    assert all(o.domain != DOMAIN for o in expanded.opset_import)
    ops = _ops(expanded.graph)
    # per core: an If on the row count, whole rows in one fused op, else a Loop of fused ops over chunks
    assert [ops.count(op) for op in ("If", "Loop", "MultiHeadAttention", "Softmax")] == [4, 4, 8, 2]
    onnx.checker.check_model(expanded, full_check=True)


def test_unchunked_trunk_fuses_the_core_without_loop(tiny_model) -> None:
    ops = _ops(expand_chunked_attention(export_part(tiny_model, "trunk")).graph)
    assert [ops.count(op) for op in ("If", "Loop", "MultiHeadAttention")] == [0, 0, 4]
    # triangle multiplication: no Transpose reverses the last three axes (onnxruntime's slow path)
    expanded = expand_chunked_attention(export_part(tiny_model, "trunk"))
    perms = [list(a.ints) for n in expanded.graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert perms and [0, 3, 2, 1] not in perms
    assert ops.count("FusedMatMul") == 4  # 2 blocks x (outgoing, incoming)


@pytest.mark.parametrize("length", [3, 4, 11])  # shorter than, equal to and not a multiple of the chunk
def test_expanded_trunk_matches_unchunked_torch(tiny_model, chunked_trunk, length: int) -> None:
    sess = ort.InferenceSession(expand_chunked_attention(chunked_trunk).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    feeds = masked_trunk_inputs(tiny_model, length)
    with torch.no_grad():
        ref = wrapper(tiny_model, "trunk")(*feeds.values())
    got = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), atol=2e-5 * max(1.0, float(r.abs().max())), rtol=0)


def test_chunk_size_must_be_positive(tiny_model) -> None:
    with pytest.raises(ValueError, match="chunk size"):
        export_part(tiny_model, "trunk", chunk=0)


@pytest.fixture(scope="module")
def chunked_pack(tiny_model, tmp_path_factory):
    return write_folding_pack(tiny_model, tmp_path_factory.mktemp("chunked") / "pack", "tiny", chunk_size=8)


def test_chunked_pack_folds_like_the_unchunked_one(chunked_pack, tiny_parts) -> None:
    parts = open_parts(chunked_pack, threads=1)
    assert parts.architecture["chunk_size"] == 8
    a, b = fold(parts, SEQUENCE, num_recycles=1), fold(tiny_parts, SEQUENCE, num_recycles=1)
    assert np.abs(a.atom37 - b.atom37).max() < 1e-3
    np.testing.assert_allclose(a.residue_plddt, b.residue_plddt, atol=1e-3)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_chunking_lowers_the_measured_peak_and_the_estimate_bounds_it(chunked_pack, tiny_pack, trunk_peak) -> None:
    n = 160
    arch = json.loads((chunked_pack / "manifest.json").read_text())["architecture"]
    chunked, unchunked = trunk_peak(chunked_pack, n), trunk_peak(tiny_pack, n)
    assert arch["unchunked_rows"] < n  # this length takes the chunked branch
    # the fused core holds one copy of the logits (the unfused one held three), so the gap is smaller
    assert chunked < unchunked / 2, (chunked, unchunked)
    bound = part_activations(arch, n)["trunk"] + estimate(arch, n, 0).held
    assert chunked <= bound < 4 * chunked, (chunked, bound)


def test_quantized_chunked_trunk_keeps_linear_sites_and_stays_close(tiny_model) -> None:
    chunked = export_parts(tiny_model, chunk=4)
    arch = architecture_manifest(tiny_model, 4)
    calibration = FoldCalibration(chunked, arch, (SEQUENCE, SEQUENCE[:17]), 2, 64, num_recycles=1)
    models, reports = quantize_parts(chunked, scheme_config("int8", family="esmfold"), calibration)
    trunk = models["trunk.onnx"]
    assert not has_placeholders(trunk) and sum(n.op_type == "If" for n in trunk.graph.node) == 4
    counts = reports["trunk"]["counts"]
    assert counts["linear/uniform/qdq"] > 0 and counts["layernorm/uniform/fake_quant"] > 0
    # only the sequence attention's Softmax stays in the main graph (one per block)
    assert counts["softmax_input/uniform/fake_quant"] == 2
    float_parts, quant_parts = in_memory_parts(chunked, arch), in_memory_parts(models, arch)
    a, b = fold(float_parts, SEQUENCE, num_recycles=1), fold(quant_parts, SEQUENCE, num_recycles=1)
    assert 15.0 < sqnr_db(a.atom37, b.atom37) < 80.0


def test_reference_trunk_runs_transformers_blocks_with_the_same_result(tiny_model, monkeypatch) -> None:
    """TrunkPass(reference=True), the benches' torch baseline, is transformers' blocks: block_forward unused."""
    import exporter.esmfold.trunk as trunk

    feeds = masked_trunk_inputs(tiny_model, 9)
    with torch.no_grad():
        ours = trunk.TrunkPass(tiny_model.trunk)(*feeds.values())
        monkeypatch.setattr(trunk, "block_forward", None)  # the reference must not call it
        ref = trunk.TrunkPass(tiny_model.trunk, reference=True)(*feeds.values())
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
