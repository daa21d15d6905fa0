"""Pack loading, verification (missing / truncated / tampered) and discovery."""
import json

import pytest
from standin import write_standin_pack

import app
from app.core import pack as packmod
from app.core.pack import PackError, default_pack_dir, find_packs, load_pack


def test_load_valid_pack(fresh_pack):
    p = load_pack(fresh_pack)
    assert p.name == "standin" and p.scheme == "fp32" and p.max_tokens == 1024
    assert p.model_path == fresh_pack / "model.onnx" and p.accuracy["top1_agreement"] == 1.0


def test_missing_file(fresh_pack):
    (fresh_pack / "model.onnx").unlink()
    with pytest.raises(PackError, match=r"model\.onnx: file missing"):
        load_pack(fresh_pack)


def test_truncated_file_reports_sizes(fresh_pack):
    f = fresh_pack / "model.onnx"
    data = f.read_bytes()
    f.write_bytes(data[:100])
    with pytest.raises(PackError, match=rf"truncated: expected {len(data)} bytes, got 100"):
        load_pack(fresh_pack)


def test_tampered_file_same_size(fresh_pack):
    f = fresh_pack / "model.onnx"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(PackError, match="sha256 mismatch"):
        load_pack(fresh_pack)
    assert load_pack(fresh_pack, verify=False).name == "standin"  # opt-out skips the hash


@pytest.mark.parametrize("edit,needle", [
    (lambda m: m.update(format="other"), "format"),
    (lambda m: m.update(format_version=3), "unsupported format_version 3"),
    (lambda m: m.pop("alphabet"), "'alphabet'"),
    (lambda m: m["files"].update({"../escape": {"sha256": "0", "bytes": 1}}), "unsafe"),
])
def test_bad_manifest(fresh_pack, edit, needle):
    mpath = fresh_pack / "manifest.json"
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m))
    with pytest.raises(PackError, match=needle):
        load_pack(fresh_pack)


def test_not_json_and_not_a_dir(fresh_pack, tmp_path):
    (fresh_pack / "manifest.json").write_text("{oops")
    with pytest.raises(PackError, match="not valid JSON"):
        load_pack(fresh_pack)
    with pytest.raises(PackError, match="not found"):
        load_pack(tmp_path / "absent")


def test_default_pack_dir_is_in_repo_assets():
    from pathlib import Path
    assert default_pack_dir() == Path(app.__file__).resolve().parents[1] / "assets/packs/default"


def test_find_packs_lists_good_and_broken(tmp_path, monkeypatch):
    root = tmp_path / "packs"
    good = write_standin_pack(root / "b_good", name="good", scheme="int8")
    broken = write_standin_pack(root / "a_broken")
    (broken / "model.onnx").write_bytes(b"short")
    (root / "c_empty").mkdir()
    (root / ".tmp-partial").mkdir()  # an exporter's temporary sibling is skipped
    monkeypatch.setenv("EDGEFOLD_PACKS", str(root))
    monkeypatch.setattr(packmod, "default_pack_dir", lambda: good)  # stand in for the embedded
    infos = find_packs()
    assert [(i.source, i.path.name, i.ok) for i in infos] == [
        ("embedded", "b_good", True), ("user", "a_broken", False),
        ("user", "b_good", True), ("user", "c_empty", False)]
    assert infos[0].name == "good" and infos[0].scheme == "int8"
    assert infos[0].size_bytes > (good / "model.onnx").stat().st_size
    assert "truncated" in infos[1].error and "manifest missing" in infos[3].error


def test_find_packs_default_user_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEFOLD_PACKS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert packmod.user_packs_dir() == tmp_path / ".local/share/edgefold/packs"
    write_standin_pack(tmp_path / ".local/share/edgefold/packs/p1")
    assert [i.path.name for i in find_packs() if i.source == "user"] == ["p1"]
