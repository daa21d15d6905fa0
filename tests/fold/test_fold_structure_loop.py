"""The structure part as an ONNX Loop: same outputs as the unrolled trace and as torch, fewer nodes, quantized inside."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from app.core.session import open_session, session_options
from exporter.esmfold.parts import PARTS, example_inputs, export_part, wrapper
from exporter.esmfold.structure import StructureBlock, StructureStart, atom14_positions
from exporter.esmfold.structure_loop import (OUTER_MASK, OUTER_Z, R_IN, S_IN, block_feeds, body_model,
                                             constants_to_initializers, graphs, loop_node)
from exporter.esmfold.calibration import PartCalibrator
from exporter.esmfold.normalize import normalize_linears
from exporter.esmfold.quantize import quantize_part
from packbuild.metrics import sqnr_db
from packbuild.quantize import ort_runner
from exporter.scheme_options import scheme_config
from quant.sites import linear_sites
from transformers.models.esm.openfold_utils.rigid_utils import Rigid, Rotation

LENGTHS = (5, 23)


@pytest.fixture(scope="module")
def forms(tiny_model):
    return export_part(tiny_model, "structure"), export_part(tiny_model, "structure", structure_loop=False)


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return open_session(model.SerializeToString(), session_options(1)).run(None, feeds)


def test_loop_form_is_one_loop_over_the_blocks_with_far_fewer_nodes(tiny_model, forms) -> None:
    loop, unrolled = forms
    node = loop_node(loop)
    assert node is not None and loop_node(unrolled) is None
    count = numpy_helper.to_array(next(t for t in loop.graph.initializer if t.name == node.input[0]))
    assert int(count) == tiny_model.trunk.structure_module.config.num_blocks == 2
    body = next(a.g for a in node.attribute if a.name == "body")
    assert len(loop.graph.node) + len(body.node) < len(unrolled.graph.node) / 3
    assert not any(n.op_type == "Constant" for g in (loop.graph, body) for n in g.node)
    onnx.checker.check_model(loop)


@pytest.mark.parametrize("length", LENGTHS)
def test_loop_form_equals_unrolled_form_and_torch(tiny_model, forms, length: int) -> None:
    feeds = example_inputs(tiny_model, "structure", length=length, seed=length)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper(tiny_model, "structure")(*feeds.values())]
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    loop, unrolled = (_run(m, np_feeds) for m in forms)
    for name, r, a, b in zip(PARTS["structure"].outputs, ref, loop, unrolled):
        scale = max(1.0, float(np.abs(r).max()))
        np.testing.assert_allclose(a, b, atol=2e-5 * scale, rtol=0, err_msg=f"loop vs unrolled {name}")
        np.testing.assert_allclose(a, r, atol=2e-5 * scale, rtol=0, err_msg=f"loop vs torch {name}")
    assert np.abs(ref[0]).max() > 1.0  # atoms are placed, not all at the origin


def test_atom14_positions_equal_openfolds_frames_and_atoms(tiny_model) -> None:
    """The 4x4 MatMul rewrite against transformers' torsion_angles_to_frames + atom14 placement."""
    sm = tiny_model.trunk.structure_module
    gen = torch.Generator().manual_seed(0)
    n = 30
    angles = torch.nn.functional.normalize(torch.randn(1, n, 7, 2, generator=gen), dim=-1)
    aatype = torch.arange(n)[None] % 21
    rigid = Rigid(Rotation(quats=torch.randn(1, n, 4, generator=gen)), 10 * torch.randn(1, n, 3, generator=gen))
    with torch.no_grad():
        ref = sm.frames_and_literature_positions_to_atom14_pos(sm.torsion_angles_to_frames(rigid, angles, aatype),
                                                               aatype)
        got = atom14_positions(sm, rigid, angles, aatype)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-5)
    assert float(ref.abs().max()) > 5.0


def test_probe_feeds_are_each_blocks_carried_state(tiny_model, forms) -> None:
    loop, _ = forms
    feeds = example_inputs(tiny_model, "structure", length=9, seed=1)
    out = block_feeds(loop, [{k: v.numpy() for k, v in feeds.items()}], ort_runner)
    assert len(out) == 2  # one per block iteration
    with torch.no_grad():
        s, z, _, rigid = StructureStart(tiny_model.trunk)(feeds["s_s"], feeds["s_z"])
        for feed in out:
            np.testing.assert_allclose(feed[S_IN], s.numpy(), atol=1e-4)
            np.testing.assert_allclose(feed[R_IN], rigid.numpy(), atol=1e-5)
            np.testing.assert_allclose(feed[OUTER_Z], z.numpy(), atol=1e-5)
            assert feed[OUTER_MASK].shape == (1, 9)
            s, rigid = StructureBlock(tiny_model.trunk)(s, rigid, z, feeds["mask"])
    assert not np.allclose(out[0][S_IN], out[1][S_IN])


class _Calibration:
    """quantize_part's view of a FoldCalibration: one part's recorded feeds."""

    def __init__(self, feeds: list[dict]) -> None:
        self.calibrator = PartCalibrator("structure", feeds)

    def part(self, name: str) -> PartCalibrator:
        return self.calibrator


def test_quantization_reaches_inside_the_loop(tiny_model, forms) -> None:
    """int8: the Loop body's Linears and LayerNorms are quantized, calibrated on every iteration's state."""
    loop, _ = forms
    feeds = [{k: v.numpy() for k, v in example_inputs(tiny_model, "structure", length=n, seed=n).items()}
             for n in (7, 19)]
    calibration = _Calibration(feeds)
    out, report = quantize_part(loop, "structure", scheme_config("int8", family="esmfold"), calibration)
    body_ops = {n.op_type for n in body_model(out).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= body_ops, body_ops
    linears = sum(v for k, v in report["counts"].items() if k.startswith("linear/"))
    assert linears == sum(len(linear_sites(normalize_linears(g)[0])) for g in graphs(loop)) > len(linear_sites(loop))
    assert len(calibration.calibrator.derived["structure_block"].recorded) == 2 * len(feeds)  # blocks x feeds
    a, b = _run(loop, feeds[1]), _run(out, feeds[1])
    assert 15.0 < min(sqnr_db(x, y) for x, y in zip(a, b)) < 80.0  # quantized (not exact), yet close


def test_constants_become_initializers_with_the_same_result() -> None:
    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32([1, 2, 3]), "c")),
             helper.make_node("Mul", ["x", "c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = np.float32([2, 2, 2])
    before = _run(model, {"x": x})[0]
    assert constants_to_initializers(model.graph) == 1
    assert [n.op_type for n in model.graph.node] == ["Mul"]
    np.testing.assert_array_equal(_run(model, {"x": x})[0], before)
