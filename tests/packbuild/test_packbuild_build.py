"""build_pack end to end from local files: the graph equals torch, the pack loads in the app, and a
failed or cancelled build leaves nothing in the packs folder."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import packbuild
from packbuild.checkpoint import read_weights
from packbuild.esm2_graph import build_esm2
from packbuild.sequences import encode
from packbuild.verify import session

torch = pytest.importorskip("torch")

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def _tokens():
    tokens = encode(SEQ)
    tokens[0, 5] = 32  # a <mask>: token dropout rescaling is exercised too
    return tokens


def test_fp32_graph_from_the_no_torch_reader_matches_fair_esm(tiny_model, fair_esm_pt):
    weights = read_weights(fair_esm_pt, "tiny", str(fair_esm_pt),
                           regression=fair_esm_pt.with_name(fair_esm_pt.stem + "-contact-regression.pt"))
    tokens = _tokens()
    with torch.no_grad():
        ref = tiny_model(torch.from_numpy(tokens), repr_layers=[2], return_contacts=True)
    logits, emb, contacts = session(build_esm2(weights, contacts=True)).run(None, {"tokens": tokens})
    np.testing.assert_allclose(logits, ref["logits"].numpy(), atol=1e-4)
    np.testing.assert_allclose(emb, ref["representations"][2].numpy(), atol=1e-4)
    np.testing.assert_allclose(contacts, ref["contacts"].numpy(), atol=1e-5)


@pytest.mark.parametrize("layout", ["safetensors", "bin"])
def test_fp32_graph_from_a_huggingface_folder_matches_transformers(hf_model, hf_safetensors_dir, hf_bin_dir, layout):
    folder = hf_safetensors_dir if layout == "safetensors" else hf_bin_dir
    weights = read_weights(folder, "hf", str(folder))
    tokens = _tokens()
    ids = torch.from_numpy(tokens)
    with torch.no_grad():
        out = hf_model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    logits, emb = session(build_esm2(weights)).run(None, {"tokens": tokens})
    np.testing.assert_allclose(logits, out.logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(emb, out.hidden_states[-1].numpy(), atol=1e-4)


def test_fp32_pack_installed_from_a_fair_esm_file_scores_as_torch(tiny_model, fair_esm_pt, tmp_path, fast_build):
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime
    from app.core.pack_files import sha256_file

    seen = []
    path = packbuild.build_pack(str(fair_esm_pt), tmp_path / "packs", scheme="fp32",
                                progress=lambda d, t, m: seen.append(m))
    assert path == tmp_path / "packs" / "esm2_t2_tiny_UR50D-fp32"
    pack = load_pack(path)
    out = Esm2Runtime(pack).run(_tokens(), ("logits", "contacts"))
    with torch.no_grad():
        ref = tiny_model(torch.from_numpy(_tokens()), return_contacts=True)
    np.testing.assert_allclose(out["logits"], ref["logits"].numpy(), atol=1e-4)
    np.testing.assert_allclose(out["contacts"], ref["contacts"].numpy(), atol=1e-5)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["scheme"] == "fp32"
    assert manifest["architecture"]["num_layers"] == 2 and manifest["architecture"]["attention_heads"] == 4
    source = manifest["provenance"]["source"]
    assert source == {"name": fair_esm_pt.name, "sha256": sha256_file(fair_esm_pt), "bytes": fair_esm_pt.stat().st_size}
    names = [f["name"] for f in manifest["build"]["files"]]
    assert names == [fair_esm_pt.name, "esm2_t2_tiny_UR50D-contact-regression.pt"]
    assert manifest["accuracy"]["reference"] == "fp32 graph" and manifest["accuracy"]["logits_sqnr_db"] > 100
    assert "reading the checkpoint" in seen and "verifying" in seen


def test_pwlq8_pack_from_huggingface_is_verified_against_fp32(hf_safetensors_dir, tmp_path, fast_build):
    from app.core.pack import load_pack

    path = packbuild.build_pack(str(hf_safetensors_dir), tmp_path / "packs")
    assert path.name == "esm2_hf_tiny-pwlq8"
    manifest = load_pack(path).manifest
    assert manifest["scheme"] == "pwlq8" and manifest["scheme_config"]["config"]["placement"] == ["linear"]
    assert manifest["calibration"]["n_sequences"] == 8
    acc = manifest["accuracy"]
    assert acc["n_sequences"] >= 3 and 20 < acc["logits_sqnr_db"] < 100 and acc["top1_agreement"] > 0.9
    assert manifest["onnx"]["contacts_model"] == "contacts.onnx"  # EsmForMaskedLM carries esm.contact_head


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_cancel_stops_the_build_and_leaves_no_pack(fair_esm_pt, tmp_path, fast_build):
    cancel = threading.Event()

    def progress(done, total, message):
        if message.startswith("calibrating"):
            cancel.set()

    with pytest.raises(packbuild.Cancelled):
        packbuild.build_pack(str(fair_esm_pt), tmp_path / "packs", progress=progress, cancel=cancel)
    assert _leftovers(tmp_path / "packs") == []


def test_cancel_during_verification_removes_the_staged_pack(fair_esm_pt, tmp_path, fast_build):
    cancel = threading.Event()

    def progress(done, total, message):
        if message == "verifying":
            cancel.set()

    with pytest.raises(packbuild.Cancelled):
        packbuild.build_pack(str(fair_esm_pt), tmp_path / "packs", progress=progress, cancel=cancel)
    assert _leftovers(tmp_path / "packs") == []


def test_an_incomplete_checkpoint_fails_naming_it_and_leaves_nothing(tiny_model, tmp_path, fast_build):
    state = {k: v for k, v in tiny_model.state_dict().items() if "layers.1.fc2" not in k}
    bad = tmp_path / "broken.pt"
    torch.save({"model": state}, bad)
    with pytest.raises(packbuild.BuildError, match=r"broken\.pt.*layers\.1\.fc2"):
        packbuild.build_pack(str(bad), tmp_path / "packs")
    assert _leftovers(tmp_path / "packs") == []


def test_a_malicious_checkpoint_is_refused_by_build_pack(tmp_path, fast_build):
    import os

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {"embed_tokens.weight": torch.zeros(33, 8)}, "x": Exploit()}, path)
    with pytest.raises(packbuild.BuildError, match=r"evil\.pt.*system"):
        packbuild.build_pack(str(path), tmp_path / "packs")
    assert not (tmp_path / "pwned").exists() and _leftovers(tmp_path / "packs") == []


def test_a_failure_while_verifying_keeps_the_previous_pack(fair_esm_pt, tmp_path, fast_build, monkeypatch):
    first = packbuild.build_pack(str(fair_esm_pt), tmp_path / "packs", scheme="fp32")
    before = (first / "manifest.json").read_bytes()
    import packbuild.verify as verify_mod

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(verify_mod, "verify", broken)
    with pytest.raises(packbuild.BuildError, match=r"esm2_t2_tiny_UR50D\.pt.*disk full"):
        packbuild.build_pack(str(fair_esm_pt), tmp_path / "packs", scheme="fp32")
    assert (first / "manifest.json").read_bytes() == before
    assert _leftovers(tmp_path / "packs") == sorted(p.name for p in first.parent.rglob("*"))
    assert [p.name for p in (tmp_path / "packs").iterdir()] == [first.name]


def test_unknown_source_and_scheme_are_named(tmp_path):
    with pytest.raises(packbuild.BuildError, match="'esm2_t99_nope'.*esm2_t33_650M_UR50D"):
        packbuild.build_pack("esm2_t99_nope", tmp_path)
    with pytest.raises(packbuild.BuildError, match="scheme 'int3'"):
        packbuild.build_pack("esm2_t6_8M_UR50D", tmp_path, scheme="int3")
    assert _leftovers(tmp_path) == []


def test_known_checkpoints_are_fair_esms_urls():
    known = packbuild.KNOWN_CHECKPOINTS
    assert list(known) == ["esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D", "esm2_t30_150M_UR50D", "esm2_t33_650M_UR50D"]
    big = known["esm2_t33_650M_UR50D"]
    assert big.url == "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t33_650M_UR50D.pt"
    assert big.contact_url == ("https://dl.fbaipublicfiles.com/fair-esm/regression/"
                               "esm2_t33_650M_UR50D-contact-regression.pt")
    assert (big.layers, big.dim, big.name) == (33, 1280, "esm2_t33_650M_UR50D") and big.approx_bytes > 2e9
