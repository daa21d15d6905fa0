"""write_pack writes manifest.sha256 (a `sha256sum -c` line) after the last manifest write, inspect's keys too."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.core.pack import PackError, load_pack
from packbuild.pack import alphabet_manifest, write_manifest, write_pack


def esm_like_model():
    """tokens -> Gather(T (33, 33)) -> logits;  tokens -> Gather(E (33, 4)) -> embeddings."""
    rng = np.random.default_rng(0)
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("Gather", ["T", "tokens"], ["logits"]), helper.make_node("Gather", ["E", "tokens"],
                                                                                   ["embeddings"])],
        "g", [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("logits", f, ["batch", "length", 33]),
         helper.make_tensor_value_info("embeddings", f, ["batch", "length", 4])],
        [numpy_helper.from_array(rng.normal(size=(33, 33)).astype(np.float32), "T"),
         numpy_helper.from_array(rng.normal(size=(33, 4)).astype(np.float32), "E")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


MANIFEST = {"name": "tiny", "task": "masked-lm", "scheme": "fp32", "alphabet": alphabet_manifest(),
            "architecture": {"family": "esm2", "embed_dim": 4, "vocab_size": 33, "max_tokens": 1024},
            "onnx": {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits", "embeddings"]}}


def hash_line(pack) -> str:
    return f"{hashlib.sha256((pack / 'manifest.json').read_bytes()).hexdigest()}  manifest.json\n"


def test_hash_covers_the_final_manifest_including_inspect_keys(tmp_path):
    seen = []

    def inspect(tmp):
        seen.append((tmp / "manifest.sha256").read_text() == hash_line(tmp))
        load_pack(tmp)  # the pack inspect sees already passes the app's checks (benchmarks load it)
        return {"benchmark": {"mean_spearman": 0.5}}

    path = write_pack(tmp_path / "p", {"model.onnx": esm_like_model()}, MANIFEST, inspect=inspect)
    assert seen == [True]
    assert json.loads((path / "manifest.json").read_text())["benchmark"] == {"mean_spearman": 0.5}
    assert (path / "manifest.sha256").read_text() == hash_line(path)
    assert load_pack(path).name == "tiny"
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "manifest.sha256", "model.onnx"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum")
def test_sha256sum_checks_it(tmp_path):
    path = write_pack(tmp_path / "p", {"model.onnx": esm_like_model()}, MANIFEST)
    proc = subprocess.run(["sha256sum", "-c", "manifest.sha256"], cwd=path, capture_output=True, text=True)
    assert proc.returncode == 0 and "manifest.json: OK" in proc.stdout


def test_a_later_field_update_keeps_the_hash_and_a_hand_edit_is_caught(tmp_path):
    path = write_pack(tmp_path / "p", {"model.onnx": esm_like_model()}, MANIFEST)
    manifest = json.loads((path / "manifest.json").read_text())
    write_manifest(path, {**manifest, "accuracy": {"tm_score": 0.9}})  # a later update through the writer
    assert load_pack(path).accuracy == {"tm_score": 0.9}
    text = (path / "manifest.json").read_text()
    (path / "manifest.json").write_text(text.replace('"tm_score": 0.9', '"tm_score": 0.99'))
    with pytest.raises(PackError, match="sha256 does not match"):
        load_pack(path)
