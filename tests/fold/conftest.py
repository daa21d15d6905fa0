"""Fixtures for the folding tests: one tiny random ESMFold and its exported pack per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model():
    from exporter.esmfold.model import tiny_esmfold

    return tiny_esmfold(seed=0)


@pytest.fixture(scope="session")
def tiny_pack(tiny_model, tmp_path_factory):
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_model, tmp_path_factory.mktemp("fold") / "tiny_esmfold", "tiny_esmfold")


@pytest.fixture(scope="session")
def tiny_parts(tiny_pack):
    from app.core.fold.parts import open_parts

    return open_parts(tiny_pack, threads=1)
