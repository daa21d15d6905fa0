"""Quantized folding parts: every Linear/LayerNorm/Softmax site is rewritten and each part stays close to float."""
from __future__ import annotations

import numpy as np
import pytest

from app.core.fold.driver import fold
from exporter.esmfold.calibration import FoldCalibration, RecordingParts
from exporter.esmfold.normalize import normalize_linears
from exporter.esmfold.pack import architecture_manifest
from exporter.esmfold.parts import PARTS, export_parts
from exporter.esmfold.parts_runtime import in_memory_parts
from exporter.esmfold.quantize import quantize_parts
from exporter.esmfold.structure_loop import graphs
from exporter.scheme_options import scheme_config
from packbuild.metrics import sqnr_db
from quant.sites import layernorm_sites, linear_sites, softmax_sites

CALIBRATION = ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMLEDPVDAFQEMLQ", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNASQWERPSG")
HELDOUT = "MSEKIRVLLVDDHPVVRQGLRALLEGEPDF"


def n_sites(find, model, normalized: bool = False) -> int:
    """Sites `find` returns over a part's graphs (the structure Loop's body included)."""
    return sum(len(find(normalize_linears(g)[0] if normalized else g)) for g in graphs(model))


@pytest.fixture(scope="module")
def setup(tiny_model):
    float_models = export_parts(tiny_model)
    arch = architecture_manifest(tiny_model)
    calibration = FoldCalibration(float_models, arch, CALIBRATION, 3, 64, num_recycles=1)
    rec = RecordingParts(in_memory_parts(float_models, arch))
    fold(rec, HELDOUT, num_recycles=1)
    return float_models, arch, calibration, rec.feeds


def test_calibration_is_length_uniform_and_records_every_pass(setup) -> None:
    _, _, calibration, _ = setup
    assert sorted(len(s) for s in calibration.sequences) == sorted(len(s) for s in CALIBRATION)
    assert len(calibration.part("lm").recorded) == 3
    assert len(calibration.part("trunk").recorded) == 6  # 3 sequences x 2 passes
    lengths = {f["s_s_0"].shape[1] for f in calibration.part("trunk").recorded}
    assert lengths == {len(s) for s in CALIBRATION}


@pytest.mark.parametrize("scheme", ["int8", "pwlq8", "dynamic-int8"])
def test_parts_are_quantized_and_close_to_float(setup, scheme: str) -> None:
    float_models, arch, calibration, feeds = setup
    models, reports = quantize_parts(float_models, scheme_config(scheme, family="esmfold"), calibration)
    for part in ("lm", "trunk", "structure"):
        counts = reports[part]["counts"]
        f = float_models[PARTS[part].file]
        linears = sum(v for k, v in counts.items() if k.startswith("linear/"))
        assert linears == n_sites(linear_sites, f, normalized=True), part
        if scheme != "dynamic-int8":
            assert counts.get(f"layernorm/{'pwlq' if scheme == 'pwlq8' else 'uniform'}/fake_quant") == \
                n_sites(layernorm_sites, f), part
            if part != "lm":
                assert sum(v for k, v in counts.items() if k.startswith("softmax_input/")) == n_sites(softmax_sites, f)
    assert reports["heads"]["counts"] == {}
    float_parts, quant_parts = in_memory_parts(float_models, arch), in_memory_parts(models, arch)
    for part in ("lm", "trunk", "structure"):
        a, b = float_parts.run(part, feeds[part][-1]), quant_parts.run(part, feeds[part][-1])
        sqnr = min(sqnr_db(a[k], b[k]) for k in a if a[k].dtype == np.float32)
        assert 20.0 < sqnr < 80.0, (part, sqnr)  # quantized (not exact), yet close


def test_calibration_recycles_at_least_once(setup) -> None:
    float_models, arch, _, _ = setup
    # one pass only would leave recycle_s / recycle_z all zero: no range for the recycling LayerNorms
    assert FoldCalibration(float_models, arch, CALIBRATION, 2, 64, num_recycles=0).num_recycles == 1
    assert FoldCalibration(float_models, arch, CALIBRATION, 2, 64, num_recycles=None).num_recycles is None


def test_pwlq_split_policy_reaches_the_linears(setup) -> None:
    float_models, _, calibration, _ = setup
    _, never = quantize_parts(float_models, scheme_config("pwlq8", split="never", family="esmfold"), calibration)
    _, always = quantize_parts(float_models, scheme_config("pwlq8", split="always", family="esmfold"), calibration)
    for part in ("trunk", "structure"):
        assert not any(k.startswith("linear/pwlq") for k in never[part]["counts"]), never[part]["counts"]
        linears = n_sites(linear_sites, float_models[PARTS[part].file], normalized=True)
        assert always[part]["counts"].get("linear/pwlq/split") == linears, always[part]["counts"]


def test_linear_only_placement_drops_layernorm_and_softmax_quantizers(setup) -> None:
    float_models, _, calibration, _ = setup
    _, reports = quantize_parts(float_models, scheme_config("int8", placement=("linear",), family="esmfold"),
                                calibration)
    for part in ("lm", "trunk", "structure"):
        counts = reports[part]["counts"]
        assert counts.get("linear/uniform/qdq", 0) > 0, counts
        assert not any(k.startswith(("layernorm/", "softmax_input/")) for k in counts), counts
    _, with_softmax = quantize_parts(
        float_models, scheme_config("int8", placement=("linear", "softmax"), family="esmfold"), calibration)
    trunk = with_softmax["trunk"]["counts"]
    assert trunk.get("softmax_input/uniform/fake_quant", 0) > 0 and not any(k.startswith("layernorm/") for k in trunk)
