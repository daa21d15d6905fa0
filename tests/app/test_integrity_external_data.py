"""A graph may only read files the manifest lists (with their hashes): ONNX external data is checked.

    model.onnx --(initializer T: data_location EXTERNAL, location "weights.bin")--> weights.bin

Before, a `weights.bin` missing from `files` loaded, and editing it changed the scores (exit 0).
"""
import hashlib
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import _get_all_tensors, set_external_data
from standin import build_model, reference, standin_weights

from app.core.onnx_refs import ExternalRef, OnnxWireError, external_refs, external_refs_in
from app.core.pack import PackError, load_pack
from app.core.runtime import Esm2Runtime

TOKENS = np.array([[0, 5, 6, 7, 8, 2]], dtype=np.int64)


def list_files(pack, names) -> None:
    """Make the manifest's `files` exactly `names`, with their current sizes and hashes."""
    path = pack / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {n: {"sha256": hashlib.sha256((pack / n).read_bytes()).hexdigest(),
                             "bytes": (pack / n).stat().st_size} for n in names}
    path.write_text(json.dumps(manifest))


def save_external(pack, location: str = "weights.bin") -> None:
    model = build_model(standin_weights(1))
    onnx.save_model(model, str(pack / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=1024)


def test_unlisted_external_data_is_refused(fresh_pack):
    save_external(fresh_pack)
    list_files(fresh_pack, ["model.onnx"])  # weights.bin is not listed: nothing checks it
    with pytest.raises(PackError, match=r"model\.onnx: tensor '\w+' reads its data from 'weights\.bin', "
                                        r"which the manifest's 'files' does not list") as info:
        load_pack(fresh_pack)
    assert info.value.path == fresh_pack
    with pytest.raises(PackError, match="weights.bin"):
        load_pack(fresh_pack, verify=False)  # the cheap path checks references too


def test_listed_external_data_loads_and_its_hash_is_checked(fresh_pack):
    save_external(fresh_pack, "model.onnx.data")  # what exporter/onnx_io.py writes for big models
    list_files(fresh_pack, ["model.onnx", "model.onnx.data"])
    runtime = Esm2Runtime(load_pack(fresh_pack), threads=1)
    np.testing.assert_allclose(runtime.run(TOKENS)["logits"], reference(standin_weights(1), TOKENS)["logits"],
                               rtol=1e-5, atol=1e-4)
    data = bytearray((fresh_pack / "model.onnx.data").read_bytes())
    data[100] ^= 0xFF
    (fresh_pack / "model.onnx.data").write_bytes(bytes(data))
    with pytest.raises(PackError, match=r"model\.onnx\.data: sha256 mismatch"):
        load_pack(fresh_pack)


def test_external_data_outside_the_pack_is_refused(fresh_pack, tmp_path):
    model = build_model(standin_weights(1))
    tensor = next(t for t in model.graph.initializer if t.name == "P")
    (tmp_path / "outside.bin").write_bytes(tensor.raw_data)
    set_external_data(tensor, location="../outside.bin")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    onnx.save_model(model, str(fresh_pack / "model.onnx"))
    list_files(fresh_pack, ["model.onnx"])
    with pytest.raises(PackError, match="outside the pack"):
        load_pack(fresh_pack)


def test_external_tensor_without_a_location_is_refused(fresh_pack):
    model = build_model(standin_weights(1))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    onnx.save_model(model, str(fresh_pack / "model.onnx"))
    list_files(fresh_pack, ["model.onnx"])
    with pytest.raises(PackError, match="stored externally but names no file"):
        load_pack(fresh_pack)


def _model_with_tensors_everywhere() -> onnx.ModelProto:
    """Initializers, a Constant node's tensor and a Loop body's Constant: every place a tensor sits.

        x --Add(w)--> a --Loop(body: y = a + Constant(c2))--> y;   Constant(c1) -> k
    """
    f = TensorProto.FLOAT
    big = lambda name, v: numpy_helper.from_array(np.full(512, v, np.float32), name)  # noqa: E731
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["c2"], value=big("c2", 2.0)),
         helper.make_node("Add", ["a_in", "c2"], ["a_out"]), helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("a_in", f, [512])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("a_out", f, [512])])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["a"]),
         helper.make_node("Constant", [], ["k"], value=big("c1", 1.0)),
         helper.make_node("Loop", ["n", "", "a"], ["y"], body=body)],
        "g", [helper.make_tensor_value_info("x", f, [512])],
        [helper.make_tensor_value_info("y", f, [512]), helper.make_tensor_value_info("k", f, [512])],
        [big("w", 3.0), numpy_helper.from_array(np.array(2, np.int64), "n")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_wire_reader_finds_what_onnx_finds(tmp_path):
    model = _model_with_tensors_everywhere()
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=False,
                    size_threshold=1024, convert_attribute=True)
    loaded = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    expected = sorted((t.name, e.value) for t in _get_all_tensors(loaded) for e in t.external_data
                      if e.key == "location")
    assert len(expected) == 3  # w, c1 and the Loop body's c2
    assert sorted((r.tensor, r.location) for r in external_refs(tmp_path / "m.onnx")) == expected


def test_wire_reader_on_inline_models_and_garbage(tmp_path):
    assert external_refs_in(build_model(standin_weights(0)).SerializeToString()) == []
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert external_refs(tmp_path / "empty.onnx") == []
    with pytest.raises(OnnxWireError):
        external_refs_in(b"\x00garbage, not onnx")
    with pytest.raises(OnnxWireError, match="runs past the end"):
        external_refs_in(b"\x3a\x10ab")  # field 7 (graph), 16 bytes announced, 2 present
    assert ExternalRef("t", None).location is None
