"""open_parts checks a folding pack's manifest as load_pack does: its hash, key types, paths, graph references."""
import hashlib
import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.core.fold.parts import PART_NAMES, FoldPackError, open_parts


#   x (1, 256) --Add(w)--> y      one such graph per part: enough for onnxruntime to open
def part_model(seed: int) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.random.default_rng(seed).normal(size=(1, 256)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "part",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # what onnxruntime 1.31 reads
    return model


def listed(pack, names) -> dict:
    return {n: {"sha256": hashlib.sha256((pack / n).read_bytes()).hexdigest(), "bytes": (pack / n).stat().st_size}
            for n in names}


def write_manifest(pack, manifest) -> None:
    data = json.dumps(manifest).encode()
    (pack / "manifest.json").write_bytes(data)
    (pack / "manifest.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  manifest.json\n")


@pytest.fixture
def fold_pack(tmp_path):
    pack = tmp_path / "fold"
    pack.mkdir()
    for i, part in enumerate(PART_NAMES):
        onnx.save_model(part_model(i), str(pack / f"{part}.onnx"))
    manifest = {"format": "edgefold-pack", "format_version": 1, "name": "fake_fold", "task": "folding",
                "architecture": {"family": "esmfold"}, "scheme": "fp32",
                "onnx": {"parts": {p: f"{p}.onnx" for p in PART_NAMES}},
                "files": listed(pack, [f"{p}.onnx" for p in PART_NAMES])}
    write_manifest(pack, manifest)
    return pack


def test_a_consistent_folding_pack_opens(fold_pack):
    assert sorted(open_parts(fold_pack, threads=1).sessions) == sorted(PART_NAMES)


def test_edited_manifest_is_refused(fold_pack):
    mpath = fold_pack / "manifest.json"
    mpath.write_text(mpath.read_text().replace('"fake_fold"', '"renamed"'))
    with pytest.raises(FoldPackError, match=rf"{fold_pack}/manifest\.json: sha256 does not match"):
        open_parts(fold_pack, threads=1)


def test_wrong_part_type_names_the_key(fold_pack):
    manifest = json.loads((fold_pack / "manifest.json").read_text())
    manifest["onnx"]["parts"]["lm"] = ["lm.onnx"]
    write_manifest(fold_pack, manifest)
    with pytest.raises(FoldPackError, match=r"manifest key 'onnx\.parts\.lm' must be a string"):
        open_parts(fold_pack, threads=1)


def test_part_linking_out_of_the_pack_is_refused(fold_pack, tmp_path):
    shutil.move(fold_pack / "trunk.onnx", tmp_path / "trunk.onnx")
    os.symlink(tmp_path / "trunk.onnx", fold_pack / "trunk.onnx")
    with pytest.raises(FoldPackError, match=r"trunk\.onnx: resolves to .*, outside the pack"):
        open_parts(fold_pack, threads=1)


def test_unlisted_external_data_of_a_part_is_refused(fold_pack):
    onnx.save_model(part_model(1), str(fold_pack / "trunk.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="trunk.bin", size_threshold=64)
    manifest = json.loads((fold_pack / "manifest.json").read_text())
    manifest["files"] = listed(fold_pack, [f"{p}.onnx" for p in PART_NAMES])
    write_manifest(fold_pack, manifest)
    with pytest.raises(FoldPackError, match=r"trunk\.onnx: tensor 'w' reads its data from 'trunk\.bin'"):
        open_parts(fold_pack, threads=1)
    manifest["files"] = listed(fold_pack, [f"{p}.onnx" for p in PART_NAMES] + ["trunk.bin"])
    write_manifest(fold_pack, manifest)
    assert "trunk" in open_parts(fold_pack, threads=1).sessions  # listed (and hashed): fine
