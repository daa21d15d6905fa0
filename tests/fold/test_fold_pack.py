"""The folding pack: manifest contract and the app's refusal of packs it cannot fold with."""
from __future__ import annotations

import json
import shutil

import pytest

from app.core.fold.parts import FoldPackError, open_parts
from packbuild.pack import sha256_file


def test_manifest_lists_parts_with_hashes(tiny_pack) -> None:
    manifest = json.loads((tiny_pack / "manifest.json").read_text())
    assert manifest["task"] == "folding" and manifest["format"] == "edgefold-pack"
    parts = manifest["onnx"]["parts"]
    assert parts == {"lm": "lm.onnx", "trunk": "trunk.onnx", "structure": "structure.onnx", "heads": "heads.onnx"}
    for file in parts.values():
        assert manifest["files"][file]["sha256"] == sha256_file(tiny_pack / file)
    arch = manifest["architecture"]
    assert (arch["c_s"], arch["c_z"], arch["trunk_blocks"], arch["max_recycles"]) == (32, 16, 2, 2)


def test_open_parts_refuses_other_tasks_and_missing_parts(tiny_pack, tmp_path) -> None:
    copy = tmp_path / "pack"
    shutil.copytree(tiny_pack, copy)
    (copy / "heads.onnx").unlink()
    with pytest.raises(FoldPackError, match="heads"):
        open_parts(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "task": "masked-lm"}))
    (copy / "manifest.sha256").unlink()  # hand-edited: drop the manifest's hash (else that refuses first)
    with pytest.raises(FoldPackError, match="masked-lm"):
        open_parts(copy)
