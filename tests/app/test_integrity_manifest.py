"""The manifest is checked, not trusted: key types, the ESM-2 alphabet, max_tokens and mask_idx.

Each edit below used to load (and score with the wrong alphabet or window) or crash with a
TypeError / AttributeError / ValueError naming no pack; now it is a PackError naming the pack
directory and the manifest key.
"""
import json

import pytest

from app.core.alphabet import ESM2_SPECIAL, ESM2_TOKENS
from app.core.pack import PackError, default_pack_dir, load_pack, pack_info
from app.core.pack_checks import ManifestError, check_alphabet, check_manifest
from app.core.runtime import Esm2Runtime


def edit_manifest(pack, edit) -> None:
    path = pack / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def swap_tokens(m: dict) -> None:
    tokens = m["alphabet"]["tokens"]
    tokens[4], tokens[5] = tokens[5], tokens[4]  # 'L' <-> 'A': every L/A score silently swapped


CASES = [
    (swap_tokens, "alphabet.tokens", "index 4"),
    (lambda m: m["alphabet"]["tokens"].append("J"), "alphabet.tokens", "34 tokens"),
    (lambda m: m["architecture"].update(max_tokens=5), "architecture.max_tokens", "outside 8..1026"),
    (lambda m: m["architecture"].update(max_tokens=100000), "architecture.max_tokens", "outside 8..1026"),
    (lambda m: m["architecture"].update(max_tokens="1024"), "architecture.max_tokens", "an integer"),
    (lambda m: m["architecture"].update(vocab_size=34), "architecture.vocab_size", "34 differs"),
    (lambda m: m["architecture"].update(embed_dim=0), "architecture.embed_dim", "not a valid size"),
    (lambda m: m["alphabet"].update(mask_idx=40), "alphabet.mask_idx", "out of range"),
    (lambda m: m["alphabet"].update(mask_idx=5), "alphabet.mask_idx", "not '<mask>'"),
    (lambda m: m["alphabet"].update(mask_idx=True), "alphabet.mask_idx", "an integer"),
    (lambda m: m["alphabet"].update(cls_idx=2), "alphabet.cls_idx", "not '<cls>'"),
    (lambda m: m["alphabet"].update(prepend_bos=False), "alphabet.prepend_bos", "must be true"),
    (lambda m: m["alphabet"].pop("unk_idx"), "alphabet.unk_idx", "missing"),
    (lambda m: m["onnx"].update(model=["model.onnx"]), "onnx.model", "a string"),
    (lambda m: m["onnx"].pop("model"), "onnx.model", "missing"),
    (lambda m: m["onnx"].update(outputs="logits"), "onnx.outputs", "a list"),
    (lambda m: m["files"].update({"model.onnx": "abc"}), "files.model.onnx", "an object"),
    (lambda m: m["files"]["model.onnx"].update(bytes="many"), "files.model.onnx.bytes", "an integer"),
    (lambda m: m["files"]["model.onnx"].update(bytes=-1), "files.model.onnx.bytes", "negative"),
    (lambda m: m["files"]["model.onnx"].update(sha256=None), "files.model.onnx.sha256", "a string"),
    (lambda m: m["files"]["model.onnx"].update(sha256="xyz"), "files.model.onnx.sha256", "64 hex"),
    (lambda m: m.update(accuracy=[1, 2]), "accuracy", "an object or null"),
    (lambda m: m.update(name=7), "name", "a string"),
    (lambda m: m.update(architecture=[]), "architecture", "an object"),
]


@pytest.mark.parametrize("edit,key,needle", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_bad_manifest_value_is_a_pack_error_naming_pack_and_key(fresh_pack, edit, key, needle):
    edit_manifest(fresh_pack, edit)
    with pytest.raises(PackError) as info:
        load_pack(fresh_pack)
    message = str(info.value)
    assert str(fresh_pack) in message and f"'{key}'" in message and needle in message, message
    assert info.value.path == fresh_pack
    listed = pack_info(fresh_pack)  # the picker shows the same reason instead of crashing
    assert not listed.ok and f"'{key}'" in listed.error


def test_swapped_tokens_used_to_change_scores_silently(fresh_pack):
    """Why the alphabet check matters: with L and A swapped, 'L' is encoded as A's id."""
    before = Esm2Runtime(load_pack(fresh_pack), threads=1).tokenizer.encode("LA").tolist()
    edit_manifest(fresh_pack, swap_tokens)
    with pytest.raises(PackError, match="differs from the ESM-2 alphabet at index 4: 'A' where ESM-2 has 'L'"):
        load_pack(fresh_pack)
    assert before == [0, 4, 5, 2]


def test_max_tokens_bounds_are_inclusive(fresh_pack):
    for value in (8, 1026):
        edit_manifest(fresh_pack, lambda m: m["architecture"].update(max_tokens=value))
        assert load_pack(fresh_pack).max_tokens == value


def test_verify_files_names_the_manifest_for_a_bad_entry(fresh_pack):
    """app/ui/fold_job.py hands `files` straight to verify_files: a bad entry names the manifest."""
    from app.core.pack import verify_files

    with pytest.raises(PackError, match=r"manifest\.json: manifest key 'files\.model\.onnx' must be an object"):
        verify_files(fresh_pack, {"model.onnx": "abc"})


def test_the_esm2_alphabet_passes_and_every_single_change_fails():
    alphabet = {"tokens": list(ESM2_TOKENS), **ESM2_SPECIAL, "prepend_bos": True, "append_eos": True}
    check_alphabet(alphabet)
    for i in range(len(ESM2_TOKENS) - 1):
        tokens = list(ESM2_TOKENS)
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        with pytest.raises(ManifestError, match=f"index {i}:"):
            check_alphabet({**alphabet, "tokens": tokens})


def test_folding_manifest_types_are_checked_too():
    manifest = {"onnx": {"parts": {"lm": ["lm.onnx"]}}, "files": {}}
    with pytest.raises(ManifestError, match="'onnx.parts.lm' must be a string"):
        check_manifest(manifest, "folding")


def test_shipped_and_exported_packs_pass(tiny_pack_dir, standin_pack_dir):
    """The embedded default pack, an exporter pack and the stand-in all load and open."""
    packs = [tiny_pack_dir, standin_pack_dir] + ([default_pack_dir()] if default_pack_dir().is_dir() else [])
    for path in packs:
        runtime = Esm2Runtime(load_pack(path), threads=1)
        out = runtime.run(runtime.tokenizer.batch_encode(["MKTAYIAK"]), ("logits",))
        assert out["logits"].shape == (1, 10, 33)
