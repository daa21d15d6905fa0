"""bench.packs: the calibration runner for models past 2 GB, the PWLQ split override and the pack cache."""
from __future__ import annotations

import numpy as np

import bench.packs as packs
from exporter.sequences import encode
from exporter.testing import TINY_CALIBRATION, tiny_loaded_model


def test_external_data_runner_matches_in_memory(monkeypatch):
    from exporter.esm2_graph import build_esm2

    model = build_esm2(tiny_loaded_model().weights)
    feed = {"tokens": encode(TINY_CALIBRATION[0])}
    in_memory = packs._external_data_runner(model, ["logits"])(feed)[0]
    monkeypatch.setattr(packs, "PROTOBUF_LIMIT", 0)  # force the save-to-file path
    from_file = packs._external_data_runner(model, ["logits"])(feed)[0]
    np.testing.assert_array_equal(in_memory, from_file)


def test_forced_split_and_cache(tmp_path):
    loaded = tiny_loaded_model()
    args = dict(calibration=TINY_CALIBRATION, calibration_size=4)
    built = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="always", **args)
    n_linears = sum(v for k, v in built[0].counts.items() if k.startswith("linear/"))
    assert built[0].counts.get("linear/pwlq/split") == n_linears > 0 and not built[0].cached
    from quant.schemes import SCHEMES
    assert SCHEMES["pwlq8"].split == "auto"  # the override is undone
    again = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="always", **args)
    assert again[0].cached and again[0].onnx_bytes == built[0].onnx_bytes
    never = packs.build_packs(loaded, "tiny", ["pwlq8"], tmp_path, split_policy="never", **args)
    assert not never[0].cached and "linear/pwlq/split" not in never[0].counts
