"""bench.packs: the PWLQ split override and the pack cache."""
from __future__ import annotations

import bench.packs as packs
from exporter.testing import TINY_CALIBRATION, tiny_loaded_model


def test_forced_split_and_cache(tmp_path):
    loaded = tiny_loaded_model()
    args = dict(calibration=TINY_CALIBRATION, calibration_size=4)
    built = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="always", **args)
    n_linears = sum(v for k, v in built[0].counts.items() if k.startswith("linear/"))
    assert built[0].counts.get("linear/pwlq/tokens") == n_linears > 0 and not built[0].cached  # ESM-2's form
    again = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="always", **args)
    assert again[0].cached and again[0].onnx_bytes == built[0].onnx_bytes
    never = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="never", **args)
    assert not never[0].cached and not any(k.startswith("linear/pwlq/") for k in never[0].counts)


def test_bench_labels_for_the_pwlq_forms_and_fused_attention():
    from bench.packs import bench_config

    assert bench_config("pwlq8-channels", None, "always", None).linear_form == "channels"
    assert bench_config("pwlq8-channels-mha", None, None, None).linear_form == "channels"
    assert bench_config("pwlq8", None, None, None).linear_form == "tokens"
    assert bench_config("pwlq8-exact", None, "always", None).linear_form == "exact"
    assert bench_config("pwlq8-tokens", None, None, None).linear_form == "tokens"
    assert bench_config("int8-mha", None, None, None).name == "int8"
