"""Fixtures for exporter tests: tiny random models (fair-esm and HuggingFace), no downloads."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny():
    from exporter.testing import tiny_loaded_model
    return tiny_loaded_model(seed=0)


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory):
    from exporter.testing import tiny_hf_model

    model = tiny_hf_model(seed=0)
    path = tmp_path_factory.mktemp("hf_esm")
    model.save_pretrained(path)
    return path
