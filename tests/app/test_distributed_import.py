"""Without dask.distributed, --scheduler says how to get it: pip for a Python install, and for the
frozen app (which leaves Dask out) that it needs a Python install."""
from __future__ import annotations

import sys

import pytest

from app.core.distributed import DASK_PIN, import_distributed


def test_missing_distributed_names_the_pip_pin(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    monkeypatch.delattr(sys, "frozen", raising=False)
    with pytest.raises(ImportError, match=DASK_PIN.replace(".", r"\.")):
        import_distributed()


def test_missing_distributed_in_the_frozen_app_says_it_needs_a_python_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(ImportError, match="installed app does not carry"):
        import_distributed()
