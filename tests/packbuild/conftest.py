"""Fixtures for packbuild tests: tiny ESM-2 checkpoints as fair-esm and HuggingFace save them, and a
loopback HTTP server that honours Range requests. torch is used here only to write the checkpoints
(and as the reference); packbuild itself never imports it."""
from __future__ import annotations

from pathlib import Path

import pytest

from exporter.testing import save_fair_esm
from packbuild_helpers import RangeServer

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny_model():
    from exporter.testing import tiny_torch_model

    model, _ = tiny_torch_model(seed=0)
    return model


@pytest.fixture(scope="session")
def fair_esm_pt(tiny_model, tmp_path_factory) -> Path:
    return save_fair_esm(tiny_model, tmp_path_factory.mktemp("fair_esm"))


@pytest.fixture(scope="session")
def hf_model():
    from exporter.testing import tiny_hf_model

    return tiny_hf_model(seed=1)


@pytest.fixture(scope="session")
def hf_safetensors_dir(hf_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hf_safetensors") / "esm2_hf_tiny"
    hf_model.save_pretrained(path)
    assert (path / "model.safetensors").is_file()
    return path


@pytest.fixture(scope="session")
def hf_bin_dir(hf_model, tmp_path_factory) -> Path:
    """The older HuggingFace layout: config.json and `pytorch_model.bin`, a torch.save'd state dict
    (transformers 5 writes only safetensors, so the .bin is written as transformers 4 did)."""
    path = tmp_path_factory.mktemp("hf_bin") / "esm2_hf_tiny_bin"
    hf_model.config.save_pretrained(path)
    torch.save(hf_model.state_dict(), path / "pytorch_model.bin")
    return path


@pytest.fixture
def fast_build(monkeypatch):
    """Fewer calibration and verification sequences: the same code path, seconds instead of tens."""
    import packbuild.build as build

    monkeypatch.setattr(build, "CALIBRATION_SIZE", 8)
    monkeypatch.setattr(build, "VERIFY_SIZE", 4)
    monkeypatch.setattr(build, "MAX_VERIFY_RESIDUES", 120)
    return build


@pytest.fixture
def http_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    server = RangeServer(root)
    yield server
    server.close()
