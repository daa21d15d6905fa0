"""Fixtures for bench tests: tiny random packs from exporter.testing (no ../shared needed)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_pack(tmp_path_factory):
    pytest.importorskip("torch")  # the tiny model is torch; any other ImportError is a failure
    from exporter.testing import make_tiny_pack

    return make_tiny_pack(tmp_path_factory.mktemp("bench_pack") / "fp32", "fp32", contacts=True)
