"""Model manager logic (app.core.pack_admin, no Qt): list with provenance, verify through the loader,
remove (atomic, never the embedded pack), import (validated, atomic, no duplicates)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from app.core import pack_admin
from app.core.jobs import Cancelled, CancelToken
from app.core.pack import PackError, find_packs, load_pack, pack_info
from app.core.pack_admin import (PackAdminError, check_not_installed, dependents, find_installed, import_pack,
                                 list_packs, remove_pack, sweep_leftovers, verify_pack)
from standin import write_standin_pack


@pytest.fixture
def packs(tmp_path, monkeypatch) -> Path:
    """An empty $EDGEFOLD_PACKS, and an embedded default pack of our own (a real stand-in)."""
    root = tmp_path / "packs"
    root.mkdir()
    default = write_standin_pack(tmp_path / "embedded" / "default", seed=9, name="embedded-default")
    monkeypatch.setenv("EDGEFOLD_PACKS", str(root))
    monkeypatch.setattr("app.core.pack.default_pack_dir", lambda: default)
    return root


def with_source(pack: Path, name: str = "esm2_t6_8M_UR50D.pt", sha: str = "ab" * 32) -> Path:
    """Record a source checkpoint in a v1 manifest (as the exporter's `source`), keeping it valid."""
    m = json.loads((pack / "manifest.json").read_text())
    m["source"] = {"name": name, "sha256": sha}
    m["license"] = "MIT (ESM-2 weights)"
    (pack / "manifest.json").write_text(json.dumps(m))
    return pack


def test_list_shows_what_made_each_pack(packs, tmp_path):
    with_source(write_standin_pack(packs / "a", seed=1, name="alpha", scheme="int8"))
    rows = {r.info.name: r for r in list_packs()}
    assert list(rows) == ["embedded-default", "alpha"]
    a = rows["alpha"].as_dict()
    assert a["task"] == "masked-lm" and a["scheme"] == "int8" and a["license"] == "MIT (ESM-2 weights)"
    assert a["source_checkpoint"] == "esm2_t6_8M_UR50D.pt" and a["source_sha256"] == "ab" * 32
    assert a["fidelity"] == "fidelity to fp32: top-1 100.0%" and a["benchmark"] == "no benchmark recorded"
    assert a["size_bytes"] == pack_info(packs / "a").size_bytes > 0 and a["location"] == "user"
    cells = rows["alpha"].cells()
    assert cells[:3] == ["alpha", "masked-lm", "int8"] and cells[5] == "esm2_t6_8M_UR50D.pt"
    assert not rows["embedded-default"].removable and rows["alpha"].removable


def test_verify_uses_the_loader_and_names_the_damaged_file(packs):
    pack = write_standin_pack(packs / "a", seed=1, name="alpha")
    report = verify_pack(pack)
    assert report.files == 1 and report.bytes == (pack / "model.onnx").stat().st_size
    assert "alpha: OK, 1 files" in report.summary()
    data = bytearray((pack / "model.onnx").read_bytes())
    data[-5] ^= 0xFF  # same size, different bytes: only a hash sees it
    (pack / "model.onnx").write_bytes(bytes(data))
    assert pack_info(pack).ok  # listing does not hash ...
    with pytest.raises(PackError, match="model.onnx"):  # ... verify does
        verify_pack(pack)


def test_remove_renames_away_then_deletes(packs, monkeypatch):
    pack = write_standin_pack(packs / "a", seed=1, name="alpha")
    seen = []
    real_rmtree = shutil.rmtree

    def rmtree(path, *a, **k):  # at deletion time the pack is already gone from the listing
        seen.append((Path(path).name, [i.name for i in find_packs()], pack.exists()))
        real_rmtree(path, *a, **k)

    monkeypatch.setattr(pack_admin.shutil, "rmtree", rmtree)
    assert remove_pack(pack) == pack
    assert not pack.exists() and list(packs.iterdir()) == []
    assert seen[0][0].startswith(".removing-a-") and seen[0][1:] == (["embedded-default"], False)


def test_a_killed_removal_leaves_nothing_listed_and_is_swept(packs, monkeypatch):
    pack = write_standin_pack(packs / "a", seed=1, name="alpha")

    def killed(path, *a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pack_admin.shutil, "rmtree", killed)
        with pytest.raises(KeyboardInterrupt):
            remove_pack(pack)
    assert [p.name[:11] for p in packs.iterdir()] == [".removing-a"]
    assert "alpha" not in [i.name for i in find_packs()]
    assert len(sweep_leftovers(packs)) == 1 and list(packs.iterdir()) == []


def test_remove_refuses_the_embedded_pack_and_folders_outside_the_packs_folder(packs, tmp_path):
    default = find_installed("embedded-default").path
    with pytest.raises(PackAdminError, match="embedded default pack"):
        remove_pack(default)
    assert (default / "manifest.json").is_file()
    elsewhere = write_standin_pack(tmp_path / "mine" / "p", seed=2)
    with pytest.raises(PackAdminError, match="not a pack folder in the packs folder"):
        remove_pack(elsewhere)
    assert elsewhere.is_dir()


def test_import_copies_a_checked_pack_in_atomically(packs, tmp_path):
    src = with_source(write_standin_pack(tmp_path / "downloads" / "x", seed=4, name="my-pack"))
    (src / "notes.txt").write_text("not part of the pack")
    progress = []
    target = import_pack(src, progress=lambda d, t, m: progress.append((d, t)))
    assert target == packs / "my-pack"
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "model.onnx"]  # listed files only
    assert load_pack(target).name == "my-pack" and progress[-1][0] == progress[-1][1] > 0
    assert [p.name for p in packs.iterdir()] == ["my-pack"]  # no temporary left


def test_import_refuses_duplicates_by_hash_and_by_name(packs, tmp_path):
    src = write_standin_pack(tmp_path / "src" / "x", seed=4, name="my-pack")
    import_pack(src)
    with pytest.raises(PackAdminError, match="already installed as 'my-pack'.*same manifest sha256"):
        import_pack(src)
    other = write_standin_pack(tmp_path / "src" / "y", seed=5, name="my-pack")  # same name, other weights
    with pytest.raises(PackAdminError, match=r"a pack named 'my-pack' \(fp32\) is already installed"):
        import_pack(other)
    with pytest.raises(PackAdminError, match="already installed as 'embedded-default'"):
        import_pack(find_installed("embedded-default").path)
    assert [p.name for p in packs.iterdir()] == ["my-pack"]
    int8 = write_standin_pack(tmp_path / "src" / "z", seed=5, name="my-pack", scheme="int8")  # the same model,
    assert import_pack(int8) == packs / "my-pack-int8"  # another scheme: another pack


def test_import_validates_before_copying(packs, tmp_path):
    src = write_standin_pack(tmp_path / "src" / "x", seed=4, name="bad")
    with open(src / "model.onnx", "ab") as f:
        f.write(b"junk")
    with pytest.raises(PackError, match="model.onnx"):
        import_pack(src)
    assert list(packs.iterdir()) == []


def test_a_cancelled_or_failed_import_leaves_nothing(packs, tmp_path, monkeypatch):
    src = write_standin_pack(tmp_path / "src" / "x", seed=4, name="p")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        import_pack(src, cancel=token)
    assert list(packs.iterdir()) == []

    def short_copy(a, b):  # a copy that loses bytes (disk full, a flaky share): the check of the copy sees it
        Path(b).write_bytes(Path(a).read_bytes()[:-1])

    monkeypatch.setattr(pack_admin.shutil, "copyfile", short_copy)
    with pytest.raises(PackError, match="truncated"):
        import_pack(src)
    assert list(packs.iterdir()) == []


def test_leftover_imports_of_live_processes_are_kept(packs):
    live = packs / f".importing-x-{os.getpid()}-00"
    dead = packs / ".importing-x-999999999-00"
    for p in (live, dead):
        p.mkdir()
    assert sweep_leftovers(packs) == [dead]
    assert live.is_dir()


def test_find_installed_by_name_folder_or_path_and_says_what_exists(packs, tmp_path):
    write_standin_pack(packs / "folder-a", seed=1, name="alpha")
    assert find_installed("alpha").path == packs / "folder-a"
    assert find_installed("folder-a").name == "alpha"
    assert find_installed(str(packs / "folder-a")).name == "alpha"
    with pytest.raises(PackAdminError, match=r"no installed pack is called 'beta' \(installed: alpha, "
                                             r"embedded-default"):
        find_installed("beta")


def test_dependents_are_the_delta_packs_on_a_base(packs):
    base = pack_info(write_standin_pack(packs / "a", seed=1, name="alpha"))
    infos = find_packs()
    assert dependents(base, infos) == []
    fake_delta = type(base)(base.path, "d", "x", 1, {}, "user",
                            delta={"base": {"name": "alpha", "manifest_sha256": base.manifest_sha256}})
    assert dependents(base, infos + [fake_delta]) == [fake_delta]
    check_not_installed("new", "fp32", "0" * 64, infos)  # neither name nor hash installed: no error
