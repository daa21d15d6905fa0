"""Every scheme exports, verifies and records what it did; PWLQ helps where activations are wide."""
from __future__ import annotations

import json

import numpy as np
import pytest

from exporter.pipeline import ExportOptions, Exporter
from exporter.scheme_options import scheme_config
from exporter.testing import TINY_CALIBRATION


@pytest.fixture(scope="module")
def exporter(tiny):
    return Exporter(tiny, TINY_CALIBRATION, ExportOptions(verify_sequences=TINY_CALIBRATION[:4]))


@pytest.mark.parametrize("scheme, min_sqnr", [("int8", 15.0), ("pwlq8", 15.0), ("dynamic-int8", 20.0)])
def test_quantized_schemes_write_verified_packs(exporter, tmp_path, scheme, min_sqnr):
    result = exporter.export(scheme, tmp_path / scheme)
    manifest = json.loads((result.path / "manifest.json").read_text())
    acc = manifest["accuracy"]
    assert acc["logits_sqnr_db"] > min_sqnr, acc
    assert acc["top1_agreement"] > 0.8 and acc["variant_spearman_vs_fp32"] > 0.8, acc
    assert acc["logits_sqnr_db"] < 100  # really quantized: not the float graph
    assert manifest["scheme"] == scheme and manifest["scheme_config"]["scheme"] == scheme
    assert manifest["scheme_config"]["sites"], "the report lists the rewritten sites"
    if scheme != "dynamic-int8":
        cal = manifest["calibration"]
        assert cal["n_sequences"] == len(TINY_CALIBRATION)
        assert cal["length_min"] == min(map(len, TINY_CALIBRATION))


def test_quantized_pack_is_smaller_and_holds_int8_weights(exporter, tmp_path):
    import onnx

    fp32 = exporter.export("fp32", tmp_path / "fp32")
    int8 = exporter.export("int8", tmp_path / "int8")
    model = onnx.load(str(int8.path / "model.onnx"))
    int8_weights = [t for t in model.graph.initializer
                    if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(int8_weights) == 2 * 6 + 2  # every Linear of the tiny model
    assert int8.size_bytes < fp32.size_bytes


def test_calibration_is_computed_once_for_all_schemes(tiny, monkeypatch):
    import packbuild.quantize as q
    import quant.api

    calls = []
    real = quant.api.calibrate

    def counting(model, names, *a, **k):
        calls.append(len(names))
        return real(model, names, *a, **k)

    monkeypatch.setattr(quant.api, "calibrate", counting)
    ex = Exporter(tiny, TINY_CALIBRATION, ExportOptions())
    for scheme in ("int8", "pwlq8"):
        q.quantize(ex.float_models["model.onnx"], scheme_config(scheme), ex.calibrator)
    assert len(calls) == 1 and calls[0] > 0


def test_observer_override_reaches_the_manifest(tiny, tmp_path):
    options = ExportOptions(verify_sequences=TINY_CALIBRATION[:2])
    config = scheme_config("pwlq8", observer="ptq4protein")
    result = Exporter(tiny, TINY_CALIBRATION, options).export(config, tmp_path / "p")
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["scheme_config"]["config"]["observer"]["kind"] == "ptq4protein"


@pytest.mark.parametrize("split, pwlq_form, form", [("never", None, "qdq"), ("always", None, "tokens"),
                                                   ("always", "exact", "split")])
def test_pwlq_split_override_decides_the_linear_form(tiny, tmp_path, split, pwlq_form, form):
    options = ExportOptions(verify_sequences=TINY_CALIBRATION[:2])
    config = scheme_config("pwlq8", split=split, form=pwlq_form)
    result = Exporter(tiny, TINY_CALIBRATION, options).export(config, tmp_path / split)
    sites = json.loads((result.path / "manifest.json").read_text())["scheme_config"]["sites"]
    assert {s["form"] for s in sites if s["kind"] == "linear"} == {form}
