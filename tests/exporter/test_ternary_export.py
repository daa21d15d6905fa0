"""`--schemes ternary`: 2-bit packed encoder weights outside the graph, decoded by the app at load."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from app.core.pack import PackError, load_pack
from app.core.runtime import Esm2Runtime
from app.core.scoring import score_matrix
from packbuild.onnx_io import ort_session
from exporter.pipeline import ExportOptions, Exporter
from packbuild.sequences import encode
from exporter.testing import TINY_CALIBRATION
from quant import make_config


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    ex = Exporter(tiny, TINY_CALIBRATION, ExportOptions(contacts=True, verify_sequences=TINY_CALIBRATION[:2]))
    out = tmp_path_factory.mktemp("ternary")
    return ex, ex.export("ternary", out / "ternary"), ex.export("fp32", out / "fp32")


def test_ternary_pack_stores_encoder_linears_2_bit_outside_the_graph(exported):
    _, result, fp32 = exported
    manifest = json.loads((result.path / "manifest.json").read_text())
    codecs = manifest["onnx"]["side_codecs"]
    assert manifest["scheme"] == "ternary" and manifest["onnx"]["external_weights"]["file"] == "weights.npz"
    # 2 layers x (q, k, v, out, fc1, fc2); the LM head stays float
    assert len(codecs) == 12 and all(c["codec"] == "ternary2" for c in codecs.values())
    assert not any("lm_head" in name for name in codecs)
    with np.load(result.path / "weights.npz") as npz:
        for name, spec in codecs.items():
            assert npz[name].dtype == np.uint8 and npz[name].size == (np.prod(spec["dims"]) + 3) // 4
    assert manifest["scheme_config"]["config"]["weights"]["codec"] == "ternary"
    assert manifest["calibration"] is None  # run-time activations: nothing calibrated
    assert result.size_bytes < fp32.size_bytes


def test_app_decodes_the_pack_to_exactly_the_quantized_graph(exported):
    ex, result, _ = exported
    models, _ = ex.quantize(make_config("ternary"))  # the same graph with its int8 weights inside
    tokens = encode(TINY_CALIBRATION[0])
    expected = ort_session(models["model.onnx"]).run(["logits"], {"tokens": tokens})[0]
    runtime = Esm2Runtime(load_pack(result.path))
    np.testing.assert_array_equal(runtime.run(tokens)["logits"], expected)
    contacts = runtime.run(tokens, ("contacts",))["contacts"]
    assert contacts.shape == (1, len(TINY_CALIBRATION[0]), len(TINY_CALIBRATION[0]))
    matrix = score_matrix(runtime, TINY_CALIBRATION[0][:30], "wt-marginal")
    assert matrix.scores.shape == (30, 20) and np.isfinite(matrix.scores).all()


def test_ternary_pack_is_verified_against_fp32(exported):
    _, result, _ = exported
    acc = result.accuracy
    assert acc["reference"] == "torch fp32" and acc["n_sequences"] == 2
    assert np.isfinite(acc["logits_sqnr_db"]) and acc["logits_sqnr_db"] < 60  # really ternary


def test_a_tampered_side_file_is_refused(exported, tmp_path):
    import shutil

    _, result, _ = exported
    copy = tmp_path / "pack"
    shutil.copytree(result.path, copy)
    data = bytearray((copy / "weights.npz").read_bytes())
    data[-5] ^= 0xFF
    (copy / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(PackError, match="weights.npz"):
        load_pack(copy)


def test_graph_declares_int8_placeholders_for_the_coded_arrays(exported):
    _, result, _ = exported
    model = onnx.load(str(result.path / "model.onnx"), load_external_data=False)
    codecs = json.loads((result.path / "manifest.json").read_text())["onnx"]["side_codecs"]
    declared = {t.name: t for t in model.graph.initializer if t.name in codecs}
    assert set(declared) == set(codecs)
    assert all(t.data_type == onnx.TensorProto.INT8 and list(t.dims) == codecs[n]["dims"]
               for n, t in declared.items())


def test_the_app_cli_scores_and_embeds_with_a_ternary_pack(exported, tmp_path, capsys):
    from app.__main__ import main

    _, result, _ = exported
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">p1\n" + TINY_CALIBRATION[0][:24] + "\n")
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(result.path), "--fasta", str(fasta), "--out", str(out),
                 "--threads", "1"]) == 0, capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + 24 * 19
    assert main(["embed", "--model", str(result.path), "--fasta", str(fasta), "--out", str(tmp_path / "emb"),
                 "--contacts", "--threads", "1"]) == 0, capsys.readouterr().err
    assert any(p.suffix == ".npy" for p in (tmp_path / "emb").rglob("*"))


def test_the_model_picker_lists_the_ternary_pack_with_scheme_and_size(exported, tmp_path, monkeypatch):
    import shutil

    from app.core.pack import find_packs

    _, result, _ = exported
    packs = tmp_path / "packs"
    shutil.copytree(result.path, packs / "tiny-ternary")
    monkeypatch.setenv("EDGEFOLD_PACKS", str(packs))
    info = next(p for p in find_packs() if p.path.name == "tiny-ternary")
    assert info.ok and info.scheme == "ternary"
    assert 0.99 * result.size_bytes < info.size_bytes <= result.size_bytes  # listed files (+ manifest)
    from app.ui.model_picker import describe, human_size

    label, _ = describe(info)
    assert "ternary" in label and human_size(info.size_bytes) in label



def test_cli_ternary_granularity_and_a_qat_checkpoints_own(tmp_path):
    from exporter.cli import with_ternary_granularity

    config = make_config("ternary")
    assert with_ternary_granularity(config, None, None).weights.granularity == "tensor"
    assert with_ternary_granularity(config, "channel", None).weights.granularity == "channel"
    assert with_ternary_granularity(config, None, {"per_channel": True}).weights.granularity == "channel"
    with pytest.raises(ValueError, match="trained with tensor scales"):
        with_ternary_granularity(config, "channel", {"per_channel": False})
    assert with_ternary_granularity(make_config("int8"), "channel", None) == make_config("int8")


def test_a_qat_checkpoint_is_verified_against_its_ternary_forward(tmp_path):
    """`exporter.train --ternary` writes latent float weights; the exporter verifies the ternary
    pack against the torch ternary forward (not the float model) and picks the trained granularity."""
    import torch

    from exporter.loaders import load
    from exporter.train import build_model

    model, _ = build_model(2, 32, 4)
    ckpt = tmp_path / "qat.pt"
    torch.save({"format": "edgefold-esm2-checkpoint", "model": model.state_dict(),
                "cfg": {"model": {"encoder_layers": 2, "encoder_embed_dim": 32, "encoder_attention_heads": 4,
                                  "token_dropout": True}},
                "training": {"ternary": True, "ternary_per_channel": True}}, ckpt)
    loaded = load(str(ckpt))
    assert loaded.ternary_qat == {"per_channel": True}
    assert any("ternary QAT" in n for n in loaded.weights.notes)
    ex = Exporter(loaded, TINY_CALIBRATION, ExportOptions(verify_sequences=TINY_CALIBRATION[:2]))
    from exporter.cli import with_ternary_granularity

    result = ex.export(with_ternary_granularity(make_config("ternary"), None, loaded.ternary_qat), tmp_path / "t")
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["scheme_config"]["config"]["weights"]["granularity"] == "channel"
    # the reference is the ternary forward, so the pack is close to it (a float reference would not be)
    assert result.accuracy["logits_sqnr_db"] > 25, result.accuracy
