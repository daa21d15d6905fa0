"""Pack format v2: one Manifest (app.core.manifest) that packbuild.pack writes and app.core.pack reads.

v1 packs (the embedded default, packs users exported) still load; provenance names files by base
name and hash, never a path; a folding pack's aatype order is checked.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from standin import ALPHABET, E, V, build_model, standin_weights

from app.core.alphabet import AF2_RESTYPES_WITH_X, ESM2_SPECIAL, ESM2_TOKENS
from app.core.fold.parts import PART_NAMES, FoldPackError, open_parts
from app.core.manifest import Manifest, SourceRef, base_name
from app.core.pack import PackError, default_pack_dir, load_pack
from app.core.pack_checks import ManifestError
from app.core.runtime import Esm2Runtime
from app.core.scoring import score_matrix
from packbuild.pack import write_manifest, write_pack
from packbuild.provenance import file_provenance, source_ref, tree_sha256

DEFAULT_MANIFEST = default_pack_dir() / "manifest.json"
V1_KEYS_READ = ("name", "task", "scheme", "scheme_config", "onnx", "files", "alphabet", "architecture",
                "accuracy", "benchmark", "calibration", "license", "credits", "notes")


def masked_lm_fields(**extra) -> dict:
    """What a caller passes write_pack today (v1 keys, no format, files or provenance)."""
    return {"name": "standin", "task": "masked-lm", "scheme": "fp32", "alphabet": ALPHABET,
            "architecture": {"family": "esm2", "embed_dim": E, "vocab_size": V, "max_tokens": 1024},
            "onnx": {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits", "embeddings", "contacts"]},
            "accuracy": {"reference": "itself"}, **extra}


# --- the dataclass ----------------------------------------------------------------------------------

def test_v1_dict_becomes_v2_and_round_trips():
    v1 = json.loads(DEFAULT_MANIFEST.read_text())
    meta = Manifest.from_dict(v1)
    assert meta.read_version == 1 and meta.provenance.exporter_version == v1["exporter_version"]
    assert meta.provenance.source == SourceRef("encoder.pt") and meta.provenance.calibration == v1["calibration"]
    v2 = meta.to_dict()
    assert v2["format_version"] == 2 and v2["provenance"]["created"] == v1["created"]
    assert "source" not in v2 and "exporter_version" not in v2  # nested under provenance now
    for key in V1_KEYS_READ:  # what the app's readers use stays at the top level, unchanged
        assert v2[key] == v1[key], key
    again = Manifest.from_dict(json.loads(json.dumps(v2)))
    assert again == meta and again.read_version == 2 and again.to_dict() == v2


def test_unknown_top_level_keys_are_kept():
    meta = Manifest.from_fields({"name": "x", "bench_key": "abc", "bench_params": {"lm": 3}})
    assert meta.extra == {"bench_key": "abc", "bench_params": {"lm": 3}}
    assert Manifest.from_dict(meta.to_dict()).to_dict()["bench_params"] == {"lm": 3}


def test_updated_sets_top_level_keys_and_calibration_follows():
    meta = Manifest.from_fields({"name": "x", "calibration": {"n_sequences": 1}})
    new = meta.updated({"benchmark": {"mean_spearman": 0.5}, "calibration": {"n_sequences": 2}})
    assert new.benchmark == {"mean_spearman": 0.5} and new.provenance.calibration == {"n_sequences": 2}
    assert Manifest.from_dict(new.to_dict()) == new and meta.benchmark is None


def test_v1_paths_become_base_names():
    v1 = {"format": "edgefold-pack", "format_version": 1, "name": "old", "source": "/home/alice/ckpt/encoder.pt",
          "calibration": {"source": "C:\\Users\\alice\\cal.fasta", "n_sequences": 2}}
    meta = Manifest.from_dict(v1)
    assert meta.provenance.source.name == "encoder.pt" and meta.provenance.calibration["source"] == "cal.fasta"
    assert "alice" not in json.dumps(meta.to_dict())


@pytest.mark.parametrize("source, name", [("/home/u/x/encoder.pt", "encoder.pt"), ("hf/esm2_t6/", "esm2_t6"),
                                          ("fair-esm hub: esm2_t6_8M_UR50D", "fair-esm hub: esm2_t6_8M_UR50D"),
                                          ("D:\\m\\w.pt", "w.pt"), ("", "")])
def test_base_name(source, name):
    assert base_name(source) == name


@pytest.mark.parametrize("edit, key", [
    (lambda m: m.update(format_version=3), "format_version"),
    (lambda m: m.update(format_version=True), "format_version"),
    (lambda m: m.pop("provenance"), "provenance"),
    (lambda m: m["provenance"].update(source={"name": "/home/u/encoder.pt", "sha256": None}),
     "provenance.source.name"),
    (lambda m: m["provenance"].update(source={"name": "e.pt", "sha256": "abc"}), "provenance.source.sha256"),
    (lambda m: m["provenance"].update(calibration={"source": "/home/u/cal.fasta"}),
     "provenance.calibration.source"),
    (lambda m: m.update(calibration={"n_sequences": 1}), "calibration"),
    (lambda m: m["files"]["model.onnx"].update(bytes="12"), "files.model.onnx.bytes"),
    (lambda m: m.update(notes=["ok", 3]), r"notes\[1\]"),
])
def test_bad_v2_manifest_names_the_key(edit, key):
    d = Manifest.from_dict(json.loads(DEFAULT_MANIFEST.read_text())).to_dict()
    edit(d)
    with pytest.raises(ManifestError, match=rf"manifest key '{key}'"):
        Manifest.from_dict(d)


# --- reading packs ------------------------------------------------------------------------------------

def test_embedded_v1_default_pack_still_loads_and_scores():
    assert json.loads(DEFAULT_MANIFEST.read_text())["format_version"] == 1  # stays a v1 pack
    pack = load_pack(default_pack_dir())
    assert pack.meta.read_version == 1 and pack.manifest["format_version"] == 2
    assert pack.name == pack.meta.name and pack.alphabet["tokens"] == list(ESM2_TOKENS)
    matrix = score_matrix(Esm2Runtime(pack, threads=1), "MKTAYIAKQRQISFVKSHFSRQ")
    assert matrix.scores.shape == (22, 20) and np.isfinite(matrix.scores).all()


def test_unknown_format_version_is_refused_naming_it(tmp_path):
    pack = write_pack(tmp_path / "p", {"model.onnx": build_model(standin_weights(0))}, masked_lm_fields())
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["format_version"] = 7
    write_manifest(pack, manifest)
    with pytest.raises(PackError, match=r"unsupported format_version 7 \(this app reads \(1, 2\)\)"):
        load_pack(pack)


# --- writing packs ------------------------------------------------------------------------------------

def test_write_pack_writes_v2_that_loads_and_scores(tmp_path):
    pack = write_pack(tmp_path / "p", {"model.onnx": build_model(standin_weights(0))},
                      masked_lm_fields(source="exporter.testing", calibration=None, bench_key="k"))
    written = json.loads((pack / "manifest.json").read_text())
    assert written["format_version"] == 2 and written["bench_key"] == "k"
    prov = written["provenance"]
    assert prov["source"] == {"name": "exporter.testing", "sha256": None} and prov["exporter_version"]
    loaded = load_pack(pack)
    assert loaded.meta.read_version == 2 and loaded.meta == Manifest.from_dict(written)
    assert score_matrix(Esm2Runtime(loaded, threads=1), "MKTAYIAK").scores.shape == (8, 20)


def test_a_manifest_object_is_written_as_is_plus_files_and_stamps(tmp_path):
    meta = Manifest.from_fields(masked_lm_fields(provenance={"source": {"name": "e.pt", "sha256": "0" * 64}}))
    pack = write_pack(tmp_path / "p", {"model.onnx": build_model(standin_weights(0))}, meta)
    got = load_pack(pack).meta
    assert got.provenance.source == SourceRef("e.pt", "0" * 64) and got.provenance.created.endswith("Z")
    assert list(got.files) == ["model.onnx"] and got.name == meta.name


def test_provenance_records_no_path(tmp_path, monkeypatch):
    home = tmp_path / "home" / "alice"
    ckpt = home / "models" / "encoder.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")
    monkeypatch.setenv("HOME", str(home))
    cal = {"source": str(home / "data" / "cal.fasta"), "n_sequences": 2, "sha256": "1" * 64}
    for i, source in enumerate([str(ckpt), file_provenance(ckpt)]):  # a v1 string, a provenance dict
        pack = write_pack(tmp_path / f"p{i}", {"model.onnx": build_model(standin_weights(0))},
                          masked_lm_fields(source=source, calibration=cal))
        text = (pack / "manifest.json").read_text()
        assert str(home) not in text and str(Path.home()) not in text and str(tmp_path) not in text
        prov = json.loads(text)["provenance"]
        assert prov["source"]["name"] == "encoder.pt" and prov["calibration"]["source"] == "cal.fasta"
        assert "/" not in prov["source"]["name"] and "/" not in prov["calibration"]["source"]
    assert prov["source"]["sha256"] == hashlib.sha256(b"weights").hexdigest() and prov["source"]["bytes"] == 7


def test_file_provenance_of_a_folder_is_its_sorted_sha256sum_lines(tmp_path):
    folder = tmp_path / "esm2_t6"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "model.safetensors").write_bytes(b"\0" * 10)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")  # skipped
    lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {rel}\n"
                    for rel, data in [("config.json", b"{}"), ("sub/model.safetensors", b"\0" * 10)])
    want = hashlib.sha256(lines.encode()).hexdigest()
    assert tree_sha256(folder) == (want, 12)
    assert file_provenance(folder) == {"name": "esm2_t6", "sha256": want, "bytes": 12}
    assert file_provenance("facebook/esm2_t6_8M_UR50D") == {"name": "esm2_t6_8M_UR50D", "sha256": None,
                                                            "bytes": None}
    assert source_ref(folder) == SourceRef("esm2_t6", want, 12)


def test_the_exporter_writes_the_app_alphabet():
    from exporter.esmfold.lm_graph import AF2_RESTYPES_WITH_X as lm_order
    from packbuild.weights import ALPHABET_TOKENS, SPECIAL

    assert ALPHABET_TOKENS is ESM2_TOKENS and SPECIAL == ESM2_SPECIAL and lm_order is AF2_RESTYPES_WITH_X


# --- folding packs ------------------------------------------------------------------------------------

#   x (1, 256) --Add(w)--> y      one such graph per part: enough for onnxruntime to open
def part_model(seed: int) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.random.default_rng(seed).normal(size=(1, 256)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "part",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # what onnxruntime 1.31 reads
    return model


def write_folding(out: Path, residues: dict | None) -> Path:
    fields = {"name": "fake_fold", "task": "folding", "architecture": {"family": "esmfold"}, "scheme": "fp32",
              "onnx": {"parts": {p: f"{p}.onnx" for p in PART_NAMES}},
              "calibration": {"source": "/home/alice/cal.fasta", "n_sequences": 2}}
    if residues is not None:
        fields["residues"] = residues
    return write_pack(out, {f"{p}.onnx": part_model(i) for i, p in enumerate(PART_NAMES)}, fields)


def test_v2_folding_pack_with_alphafold_order_opens(tmp_path):
    pack = write_folding(tmp_path / "fold", {"aatype_order": AF2_RESTYPES_WITH_X, "unknown": "X"})
    assert sorted(open_parts(pack, threads=1).sessions) == sorted(PART_NAMES)
    assert json.loads((pack / "manifest.json").read_text())["calibration"]["source"] == "cal.fasta"


@pytest.mark.parametrize("residues, key", [
    ({"aatype_order": "ACDEFGHIKLMNPQRSTVWYX", "unknown": "X"}, "residues.aatype_order"),
    ({"aatype_order": AF2_RESTYPES_WITH_X, "unknown": "-"}, "residues.unknown"),
    ({"aatype_order": list(AF2_RESTYPES_WITH_X)}, "residues.aatype_order"),
    (None, "residues.aatype_order"),  # v2 records it
])
def test_folding_pack_with_another_aatype_order_is_refused(tmp_path, residues, key):
    pack = write_folding(tmp_path / "fold", residues)
    with pytest.raises(FoldPackError, match=rf"{pack}/manifest\.json: manifest key '{key}'"):
        open_parts(pack, threads=1)


def test_v1_folding_pack_order_is_checked_when_recorded(tmp_path):
    pack = write_folding(tmp_path / "fold", {"aatype_order": AF2_RESTYPES_WITH_X, "unknown": "X"})
    v1 = Manifest.from_dict(json.loads((pack / "manifest.json").read_text())).to_dict()
    v1.pop("provenance")
    v1["format_version"] = 1
    write_manifest(pack, v1)
    assert load_pack(pack).meta.read_version == 1 and open_parts(pack, threads=1).architecture
    v1["residues"]["aatype_order"] = AF2_RESTYPES_WITH_X[::-1]
    write_manifest(pack, v1)
    with pytest.raises(FoldPackError, match=rf"{pack}/manifest\.json: manifest key 'residues\.aatype_order'"):
        open_parts(pack, threads=1)
    del v1["residues"]  # v1 packs written before the key existed still open
    write_manifest(pack, v1)
    assert sorted(open_parts(pack, threads=1).sessions) == sorted(PART_NAMES)
