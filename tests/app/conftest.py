"""Shared fixtures for the app tests: stand-in packs (onnx.helper) and runtimes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make `standin` importable from test modules

from standin import standin_weights, write_standin_pack  # noqa: E402

from app.core.pack import load_pack  # noqa: E402
from app.core.runtime import Esm2Runtime  # noqa: E402


@pytest.fixture(scope="session")
def standin_pack_dir(tmp_path_factory) -> Path:
    return write_standin_pack(tmp_path_factory.mktemp("packs") / "standin", seed=0)


@pytest.fixture(scope="session")
def standin_weights0() -> dict:
    return standin_weights(0)


@pytest.fixture(scope="session")
def standin_runtime(standin_pack_dir) -> Esm2Runtime:
    return Esm2Runtime(load_pack(standin_pack_dir), threads=1)


@pytest.fixture
def fresh_pack(tmp_path) -> Path:
    """A pack a test may damage."""
    return write_standin_pack(tmp_path / "pack", seed=1)


@pytest.fixture(scope="session")
def tiny_pack_dir(tmp_path_factory) -> Path:
    """A real pack of the exporter's tiny random ESM-2 (fp32, with contacts.onnx)."""
    pytest.importorskip("torch")  # the one optional piece: exporter.testing itself must import
    from exporter import testing

    return testing.make_tiny_pack(tmp_path_factory.mktemp("tiny") / "fp32", "fp32", seed=0)


@pytest.fixture(scope="session")
def tiny_torch():
    """The same tiny fair-esm model and its alphabet."""
    pytest.importorskip("torch")
    from exporter import testing

    return testing.tiny_torch_model(seed=0)
