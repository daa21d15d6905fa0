"""manifest.sha256: a `sha256sum` line for manifest.json, verified when present (v1 packs may lack it).

It catches accidental or naive edits and truncation; a deliberate editor can recompute it.
"""
import hashlib
import json

import pytest

from app.core.pack import MANIFEST_HASH, PackError, load_pack, read_manifest


def write_hash(pack) -> None:
    digest = hashlib.sha256((pack / "manifest.json").read_bytes()).hexdigest()
    (pack / MANIFEST_HASH).write_text(f"{digest}  manifest.json\n")


def test_matching_hash_loads_and_a_pack_without_one_still_loads(fresh_pack):
    assert load_pack(fresh_pack).name == "standin"  # no manifest.sha256 (older v1 pack)
    write_hash(fresh_pack)
    assert load_pack(fresh_pack).name == "standin"
    (fresh_pack / MANIFEST_HASH).write_text((fresh_pack / MANIFEST_HASH).read_text().split()[0].upper())
    assert load_pack(fresh_pack).name == "standin"  # a bare hex digest, any case, is accepted


@pytest.mark.parametrize("damage", [
    lambda text: text.replace('"max_tokens": 1024', '"max_tokens": 1000'),  # a plausible edit
    lambda text: text.replace('"name": "standin"', '"name": "standin2"'),
    lambda text: text[: len(text) // 2],  # truncated
    lambda text: text + "\n",  # even whitespace
])
def test_edited_or_truncated_manifest_is_refused(fresh_pack, damage):
    write_hash(fresh_pack)
    mpath = fresh_pack / "manifest.json"
    mpath.write_text(damage(mpath.read_text()))
    with pytest.raises(PackError, match=r"manifest\.json: sha256 does not match manifest\.sha256") as info:
        load_pack(fresh_pack)
    assert info.value.path == fresh_pack
    with pytest.raises(PackError, match="does not match"):
        read_manifest(fresh_pack)  # the picker and About read it through the same check


@pytest.mark.parametrize("content", ["", "not-a-hash  manifest.json\n", "ab" * 31 + "\n"])
def test_malformed_hash_file_is_refused(fresh_pack, content):
    (fresh_pack / MANIFEST_HASH).write_text(content)
    with pytest.raises(PackError, match=r"manifest\.sha256: not a sha256 line"):
        load_pack(fresh_pack)
