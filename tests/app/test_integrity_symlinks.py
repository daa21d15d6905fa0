"""Every path is resolved: a file or a directory that links out of the pack is refused.

Before, `model.onnx -> /elsewhere/model.onnx` (same bytes, so the hash matched) loaded, and
whatever later replaced /elsewhere/model.onnx was run.
"""
import json
import os
import shutil

import pytest

from app.core.pack import PackError, load_pack, pack_info


def test_file_linking_out_of_the_pack_is_refused(fresh_pack, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(fresh_pack / "model.onnx", outside)
    os.symlink(outside, fresh_pack / "model.onnx")
    with pytest.raises(PackError, match=r"model\.onnx: resolves to .*elsewhere\.onnx, outside the pack"):
        load_pack(fresh_pack)
    with pytest.raises(PackError, match="outside the pack"):
        load_pack(fresh_pack, verify=False)
    assert "outside the pack" in pack_info(fresh_pack).error


def test_directory_linking_out_of_the_pack_is_refused(fresh_pack, tmp_path):
    (tmp_path / "other").mkdir()
    shutil.move(fresh_pack / "model.onnx", tmp_path / "other" / "model.onnx")
    os.symlink(tmp_path / "other", fresh_pack / "sub")
    mpath = fresh_pack / "manifest.json"
    m = json.loads(mpath.read_text())
    m["onnx"]["model"] = "sub/model.onnx"
    m["files"] = {"sub/model.onnx": m["files"]["model.onnx"]}
    mpath.write_text(json.dumps(m))
    with pytest.raises(PackError, match=r"sub/model\.onnx: resolves to .*other/model\.onnx, outside the pack"):
        load_pack(fresh_pack)


def test_manifest_linking_out_of_the_pack_is_refused(fresh_pack, tmp_path):
    shutil.move(fresh_pack / "manifest.json", tmp_path / "manifest.json")
    os.symlink(tmp_path / "manifest.json", fresh_pack / "manifest.json")
    with pytest.raises(PackError, match=r"manifest\.json: resolves to .*, outside the pack"):
        load_pack(fresh_pack)


def test_links_inside_the_pack_and_a_linked_pack_directory_load(fresh_pack, tmp_path):
    (fresh_pack / "real").mkdir()
    shutil.move(fresh_pack / "model.onnx", fresh_pack / "real" / "model.onnx")
    os.symlink("real/model.onnx", fresh_pack / "model.onnx")
    os.symlink(fresh_pack, tmp_path / "linked_pack")  # e.g. a pack kept on another disk
    assert load_pack(tmp_path / "linked_pack").name == "standin"
    assert load_pack(fresh_pack).name == "standin"
