"""Delta packs in the app: decoders equal quant's, base + delta reconstruction, base resolution and refusals,
the int8 path (DESIGN.md section 3, "Delta packs")."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core import delta_codec
from app.core.delta_pack import manifest_sha256, read_deltas, requantize
from app.core.pack import PackError, load_pack, pack_info
from app.core.runtime import Esm2Runtime

ROOT = Path(__file__).resolve().parents[2]
TOKENS = np.array([[0, 5, 6, 7, 8, 9, 10, 11, 12, 2]], dtype=np.int64)


# --- the app's decoders vs quant's ----------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_app_deltadq_decoder_equals_quant(seed):
    quant_delta = pytest.importorskip("quant.delta")
    rng = np.random.default_rng(seed)
    d = (rng.normal(size=(48, 256)) * 10.0 ** rng.uniform(-5, -2)).astype(np.float32)
    for ratio, kw in ((6, {}), (16, {"bits": 3, "parts": 2}), (32, {"bits": 2, "row_scales": True}),
                      (8, {"bits": 6, "parts": 3, "group_size": 16, "seed": 12345 + seed}),
                      (15, {"bits": 1, "group_size": 64})):                  # k == g: nothing dropped
        code = quant_delta.encode_delta(d, ratio, **kw)
        arrays = quant_delta.code_to_arrays(code, "m")
        if kw.get("group_size") == 64:
            assert code.keep == code.group_size
        np.testing.assert_array_equal(delta_codec.decode("deltadq", arrays, "m"),
                                      quant_delta.decode_arrays(arrays, "m"))


def test_app_mask_equals_quant_group_ranks():
    bits = pytest.importorskip("quant.delta_bits")
    for shape, g, k, seed in (((7, 48), 16, 5, 3), ((3, 512), 512, 100, 2**32 - 1), ((5, 8), 8, 8, 0)):
        np.testing.assert_array_equal(delta_codec.keep_mask(*shape, g, k, seed), bits.group_ranks(shape, g, seed) < k)


@pytest.mark.parametrize("method,codec,ratio", [("magnitude_int8", "magnitude", 3), ("magnitude_int8", "magnitude", 16),
                                                ("bitdelta", "bitdelta", 15), ("uniform4_g64", "uniform", 3.5),
                                                ("lowrank_fp16", "lowrank", 8)])
def test_app_baseline_decoders_equal_quant(method, codec, ratio):
    codecs = pytest.importorskip("quant.delta_codecs")
    rng = np.random.default_rng(7)
    d = (rng.normal(size=(64, 128)) * 1e-3).astype(np.float32)
    code = codecs.CODECS[method].encode(d, ratio)
    arrays = {f"w.{k}": v for k, v in code.arrays.items()}
    np.testing.assert_array_equal(delta_codec.decode(codec, arrays, "w"), codecs.CODECS[method].decode(code))


def test_unknown_codec_and_short_stream_are_refused():
    with pytest.raises(delta_codec.DeltaCodecError, match="unknown codec"):
        delta_codec.decode("zip", {}, "w")
    arrays = {"w.meta": np.array([4, 8, 0, 8, 2, 2, 0, 2, 1, 1], dtype=np.uint32),
              "w.scale": np.ones(1, np.float32), "w.part0": np.zeros(0, np.uint8), "w.part1": np.zeros(1, np.uint8)}
    with pytest.raises(delta_codec.DeltaCodecError, match="'w'"):
        delta_codec.decode("deltadq", arrays, "w")


def test_requantize_keeps_a_sub_step_delta_unbiased():
    """A delta far below an int8 step survives on average (stochastic rounding on the base's grid);
    nearest rounding would put every entry back on its base level."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(512, 8)).astype(np.float32)
    scale = (np.abs(w).max(0) / 127).astype(np.float32)
    q = np.rint(w / scale).astype(np.int8)
    d = (0.1 * scale * rng.choice([-1.0, 1.0], size=w.shape)).astype(np.float32)    # 0.1 step
    q2, s2 = requantize(q, scale, d, seed=3)
    np.testing.assert_array_equal(s2, scale)                                          # grid kept
    moved = (q2.astype(np.float32) - q) * s2
    assert 0.05 < np.mean(q2 != q) < 0.2                                              # ~10% of entries step
    assert np.sum(moved * d) / np.sum(d * d) == pytest.approx(1.0, abs=0.15)          # the delta, on average
    big = np.zeros_like(d)
    big[0] = 2 * np.abs(w).max(0)                                                     # |W| outgrows the grid
    q3, s3 = requantize(q, scale, big, seed=3)
    assert np.all(s3 > scale) and q3.dtype == np.int8 and np.abs(q3).max() <= 127
    np.testing.assert_allclose(s3, np.abs(q * scale + big).max(0) / 127, rtol=1e-6)


# --- packs ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def delta_world(tmp_path_factory):
    """Tiny base packs (fp32, int8, another model), a tiny fine-tune, and delta packs on them."""
    pytest.importorskip("torch")
    from exporter import delta_testing, testing
    from exporter.delta_cli import main

    root = tmp_path_factory.mktemp("delta")
    w = {"root": root}
    w["fp32"] = testing.make_tiny_pack(root / "packs" / "fp32", "fp32", seed=0, contacts=True)
    w["int8"] = testing.make_tiny_pack(root / "packs" / "int8", "int8", seed=0, contacts=False)
    w["other"] = testing.make_tiny_pack(root / "other" / "fp32", "fp32", seed=1, contacts=True)
    w["ft_ckpt"] = delta_testing.finetuned_checkpoint(root / "ft.pt")
    w["base_ckpt"] = delta_testing.base_checkpoint(root / "base.pt")
    w["ft_pack"] = root / "ft_fp32"
    from exporter.loaders import load
    from exporter.pipeline import ExportOptions, export_pack

    export_pack(load(str(w["ft_ckpt"])), "fp32", w["ft_pack"], testing.TINY_CALIBRATION, ExportOptions(contacts=True))
    for key, base, method, ratio, extra in (("d16", "fp32", "deltadq", 16, []), ("dmag", "fp32", "magnitude", 2, []),
                                             ("d_int8", "int8", "deltadq", 16, ["--base-model", str(w["base_ckpt"])]),
                                             ("dmag_int8", "int8", "magnitude", 2,
                                              ["--base-model", str(w["base_ckpt"])])):
        w[key] = root / "deltas" / key
        assert main(["--base", str(w[base]), "--finetuned", str(w["ft_ckpt"]), "--ratio", str(ratio),
                     "--method", method, "--out", str(w[key]), "--sequences", "2", "--threads", "1", *extra]) == 0
    return w


def _logits(pack_dir):
    return Esm2Runtime(load_pack(pack_dir), threads=1).run(TOKENS, ("logits",))["logits"]


def _sqnr(ref, x):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - x).astype(np.float64) ** 2))


def test_fp32_base_plus_delta_reconstructs_the_finetune_within_codec_error(delta_world):
    from onnx import load as onnx_load, numpy_helper
    from quant.delta import decode_arrays

    pack = load_pack(delta_world["d16"])
    assert pack.is_delta and pack.base.path.resolve() == delta_world["fp32"].resolve()
    rt = Esm2Runtime(pack, threads=1)
    graph = {i.name: numpy_helper.to_array(i) for i in onnx_load(str(delta_world["fp32"] / "model.onnx")).graph.initializer}
    ft = {i.name: numpy_helper.to_array(i) for i in onnx_load(str(delta_world["ft_pack"] / "model.onnx")).graph.initializer}
    arrays = dict(np.load(delta_world["d16"] / "delta.npz"))
    spec = pack.manifest["delta"]
    assert spec["matrices"] and spec["dense"]
    rebuilt = rt._replaced["model.onnx"]
    for name in spec["matrices"]:
        want = graph[name] + decode_arrays(arrays, name).T          # base + quant's decode: exact
        np.testing.assert_allclose(rebuilt[name], want, rtol=0, atol=1e-7)
        err = np.linalg.norm(rebuilt[name] - ft[name])              # = the codec's own error
        codec_err = np.linalg.norm(decode_arrays(arrays, name).T - (ft[name] - graph[name]))
        assert err == pytest.approx(codec_err, rel=1e-3, abs=1e-6)
    for name in spec["dense"]:
        np.testing.assert_allclose(rebuilt[name], ft[name], rtol=0, atol=2e-3 * np.abs(ft[name] - graph[name]).max() + 1e-7)
    # a near-lossless code (magnitude int8 at 2x keeps every entry) gives the fine-tune's logits
    ft_logits = _logits(delta_world["ft_pack"])
    assert _sqnr(ft_logits, _logits(delta_world["dmag"])) > 40
    assert _sqnr(ft_logits, _logits(delta_world["d16"])) > _sqnr(ft_logits, _logits(delta_world["fp32"]))


def test_contacts_graph_gets_the_same_reconstruction(delta_world):
    rt = Esm2Runtime(load_pack(delta_world["dmag"]), threads=1)
    out = rt.run(TOKENS, ("logits", "contacts"))
    assert out["contacts"].shape == (1, TOKENS.shape[1] - 2, TOKENS.shape[1] - 2)
    np.testing.assert_allclose(out["logits"], rt.run(TOKENS, ("logits",))["logits"], atol=1e-4)


def test_missing_base_is_refused_naming_it(delta_world, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "delta"
    shutil.copytree(delta_world["d16"], moved)
    monkeypatch.setenv("EDGEFOLD_PACKS", str(tmp_path / "no-packs"))
    with pytest.raises(PackError, match=r"base pack 'tiny_esm2_seed0' \(fp32, manifest sha256 [0-9a-f]{12}") as e:
        load_pack(moved)
    assert e.value.path == moved


def test_base_is_found_among_installed_packs(delta_world, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "delta"
    shutil.copytree(delta_world["d16"], moved)
    monkeypatch.setenv("EDGEFOLD_PACKS", str(delta_world["root"] / "packs"))
    assert load_pack(moved).base.path.resolve() == delta_world["fp32"].resolve()


def test_wrong_base_is_refused(delta_world, tmp_path, monkeypatch):
    """Another pack where the base should be (same layout, other weights): its manifest hash differs."""
    layout = tmp_path / "w"
    shutil.copytree(delta_world["d16"], layout / "deltas" / "d16")
    shutil.copytree(delta_world["other"], layout / "packs" / "fp32")
    monkeypatch.setenv("EDGEFOLD_PACKS", str(tmp_path / "no-packs"))
    with pytest.raises(PackError, match="is a different pack"):
        load_pack(layout / "deltas" / "d16")


def _edited(delta_world, tmp_path, edit) -> Path:
    from packbuild.pack import write_manifest

    bad = tmp_path / "bad"
    shutil.copytree(delta_world["d16"], bad)
    m = json.loads((bad / "manifest.json").read_text())
    edit(m["delta"])
    write_manifest(bad, m)
    return bad


def test_a_delta_of_the_wrong_shape_is_refused(delta_world, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEFOLD_PACKS", str(delta_world["root"] / "packs"))
    bad = _edited(delta_world, tmp_path, lambda d: d["matrices"]["layers.0.fc1.weight_t"].update(shape=[7, 32]))
    with pytest.raises(PackError, match="decodes to"):
        Esm2Runtime(load_pack(bad), threads=1)


def test_a_delta_for_a_weight_the_base_lacks_is_refused(delta_world, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEFOLD_PACKS", str(delta_world["root"] / "packs"))

    def rename(d):
        d["dense"] = {("layers.9.fc1.bias" if i == 0 else k): v for i, (k, v) in enumerate(d["dense"].items())}
    with pytest.raises(PackError, match="'layers.9.fc1.bias' matches no initializer of base pack"):
        Esm2Runtime(load_pack(_edited(delta_world, tmp_path, rename)), threads=1)


def test_tampered_delta_file_is_refused(delta_world, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(delta_world["d16"], bad)
    data = bytearray((bad / "delta.npz").read_bytes())
    data[-200] ^= 0xFF
    (bad / "delta.npz").write_bytes(bytes(data))
    with pytest.raises(PackError, match="sha256 mismatch"):
        load_pack(bad)


def test_int8_base_plus_delta_runs_as_int8(delta_world):
    pack = load_pack(delta_world["d_int8"])
    assert pack.scheme == "int8" and pack.base.scheme == "int8"
    rt = Esm2Runtime(pack, threads=1)
    replaced = rt._replaced["model.onnx"]
    coded = pack.manifest["delta"]["matrices"]
    for name in coded:  # each Linear: new int8 values + new per-channel scales, no float weight
        assert name not in replaced
        assert replaced[name + "_quantized"].dtype == np.int8
        assert replaced[name + "_scale"].shape == (replaced[name + "_quantized"].shape[1],)
    assert rt.pack.model_path == delta_world["int8"] / "model.onnx"
    ft_logits = _logits(delta_world["ft_pack"])
    base = _sqnr(ft_logits, _logits(delta_world["int8"]))
    near_lossless = _sqnr(ft_logits, _logits(delta_world["dmag_int8"]))
    assert near_lossless > base
    # the near-lossless delta on int8 costs about what int8 costs the fine-tune itself
    ft_int8 = _sqnr(_logits(delta_world["fp32"]), _logits(delta_world["int8"]))
    assert near_lossless > ft_int8 - 6


def test_pack_info_describes_a_delta_pack(delta_world):
    info = pack_info(delta_world["d16"])
    assert info.ok and info.is_delta
    assert info.delta["base"]["manifest_sha256"] == manifest_sha256(delta_world["fp32"])
    assert info.manifest_sha256 == manifest_sha256(delta_world["d16"])
    assert info.size_bytes < 0.5 * pack_info(delta_world["fp32"]).size_bytes


def test_read_deltas_shapes_match_the_base_graph(delta_world):
    pack = load_pack(delta_world["d16"])
    deltas = read_deltas(pack.path, pack.manifest)
    assert deltas["layers.0.fc1.weight_t"].shape == (32, 128)


_PROBE = r"""
import sys
import numpy as np
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
rt = Esm2Runtime(load_pack(sys.argv[1]), 1)
rt.run(np.array([[0, 5, 6, 2]]), ("logits",))
assert rt._replaced["model.onnx"], "no reconstruction"
print(",".join(m for m in sorted(sys.modules) if m.split(".")[0] in ("torch", "quant", "onnx", "exporter", "esm")))
"""


def test_loading_a_delta_pack_imports_no_torch_quant_or_onnx(delta_world):
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(delta_world["d_int8"])], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""


def test_picker_lists_a_delta_pack_under_its_base_with_size_and_metric(delta_world, tmp_path):
    pytest.importorskip("PySide6")
    from app.ui.model_picker import describe, ordered

    infos = [pack_info(delta_world["other"]), pack_info(delta_world["d16"]), pack_info(delta_world["fp32"]),
             pack_info(delta_world["int8"])]
    rows = ordered(infos)
    paths = [i.path for i, _ in rows]
    assert paths.index(delta_world["d16"]) == paths.index(delta_world["fp32"]) + 1
    info, base = rows[paths.index(delta_world["d16"])]
    assert base is not None and base.path == delta_world["fp32"]
    text, tip = describe(info, base)
    assert text.startswith("\u21b3 ") and "deltadq 16x" in text and "kB" in text
    assert "fidelity to the fine-tune" in text and "not listed" not in text
    assert "manifest sha256" in tip
    orphan = ordered([pack_info(delta_world["d16"])])
    assert orphan[0][1] is None and "not listed" in describe(*orphan[0])[0]


def test_picker_shows_the_assay_metric_when_recorded():
    pytest.importorskip("PySide6")
    from app.ui.model_picker import delta_metric

    v = {"verification": {"logits_sqnr_db": 39.8, "assay": {"name": "RASH", "base": 0.4026, "finetune": 0.4131,
                                                             "base+delta": 0.4202}}}
    assert delta_metric(v) == "RASH Spearman 0.420 (fine-tune 0.413, base 0.403)"
    assert delta_metric({}) == "no task metric recorded"


def test_app_cli_scores_with_a_delta_pack(delta_world, tmp_path, capsys):
    from app.__main__ import main

    fasta = tmp_path / "in.fasta"
    fasta.write_text(">p\nMKTAYIAKQRQISFVKSHFSRQ\n")
    out, out_ft = tmp_path / "delta.csv", tmp_path / "ft.csv"
    assert main(["score", "--model", str(delta_world["dmag"]), "--fasta", str(fasta), "--out", str(out),
                 "--threads", "1"]) == 0
    assert main(["score", "--model", str(delta_world["ft_pack"]), "--fasta", str(fasta), "--out", str(out_ft),
                 "--threads", "1"]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    ft_rows = [line.split(",") for line in out_ft.read_text().splitlines()[1:]]
    assert len(rows) == 22 * 19 and [r[1] for r in rows] == [r[1] for r in ft_rows]
    np.testing.assert_allclose([float(r[2]) for r in rows], [float(r[2]) for r in ft_rows], atol=2e-2)
