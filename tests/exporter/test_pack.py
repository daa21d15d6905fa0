"""Pack writing: manifest contents, hashes, and all-or-nothing replacement."""
from __future__ import annotations

import json

import onnx
import pytest

import numpy as np

from packbuild import onnx_io
from packbuild import pack as pack_mod
from packbuild.esm2_graph import build_esm2
from packbuild.pack import sha256_file, write_pack


def test_manifest_lists_every_file_with_its_hash_and_size(tmp_path, tiny):
    model = build_esm2(tiny.weights)
    path = write_pack(tmp_path / "p", {"model.onnx": model}, {"name": "tiny", "scheme": "fp32"})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "edgefold-pack" and manifest["scheme"] == "fp32"
    entry = manifest["files"]["model.onnx"]
    assert entry["sha256"] == sha256_file(path / "model.onnx")
    assert entry["bytes"] == (path / "model.onnx").stat().st_size
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "manifest.sha256", "model.onnx"]


def test_interrupted_export_keeps_the_previous_pack_and_leaves_no_temp(tmp_path, tiny, monkeypatch):
    model = build_esm2(tiny.weights)
    out = tmp_path / "p"
    write_pack(out, {"model.onnx": model}, {"name": "old"})
    calls = []

    def failing_save(m, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the second file was written
        return [path] if onnx.save_model(m, str(path)) is None else []

    monkeypatch.setattr(pack_mod, "save_onnx", failing_save)
    with pytest.raises(KeyboardInterrupt):
        write_pack(out, {"model.onnx": model, "contacts.onnx": model}, {"name": "new"})
    assert json.loads((out / "manifest.json").read_text())["name"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_large_models_use_external_data(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(onnx_io, "EXTERNAL_DATA_LIMIT", 1000)
    model = build_esm2(tiny.weights)
    path = write_pack(tmp_path / "p", {"model.onnx": model}, {"name": "big"})
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.onnx", "model.onnx.data"}
    assert (path / "model.onnx").stat().st_size < (path / "model.onnx.data").stat().st_size
    loaded = onnx.load(str(path / "model.onnx"))
    assert len(loaded.graph.initializer) > 10
    # the caller's model keeps its weights in memory: the next scheme is built from it
    assert all(t.data_location == onnx.TensorProto.DEFAULT and t.raw_data for t in model.graph.initializer
               if t.dims)


def test_sessions_of_models_past_the_protobuf_limit_go_through_a_file(tiny, monkeypatch):
    """onnxruntime gets large models from a temporary file with external data, same results."""
    from packbuild.sequences import encode

    model = build_esm2(tiny.weights)
    tokens = encode("MKTAYIAKQRQISFVKSHFSRQ")
    small = onnx_io.ort_session(model).run(["logits"], {"tokens": tokens})[0]
    monkeypatch.setattr(onnx_io, "EXTERNAL_DATA_LIMIT", 1000)
    import onnxruntime as ort

    real, given = ort.InferenceSession, []
    monkeypatch.setattr(ort, "InferenceSession", lambda src, *a, **k: given.append(src) or real(src, *a, **k))
    session = onnx_io.ort_session(model)
    assert len(given) == 1 and isinstance(given[0], str)  # a file path, not serialised bytes
    np.testing.assert_array_equal(session.run(["logits"], {"tokens": tokens})[0], small)
