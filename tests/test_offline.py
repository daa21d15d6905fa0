"""onnxruntime never initialises with telemetry on: every entry point sets ORT_DISABLE_TELEMETRY=1 first."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Installed before anything else in a child interpreter: importing onnxruntime while the variable is
# not "1" raises, naming the module whose import caused it.
GUARD = """
import importlib.abc, os, sys, traceback
class Guard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime" and os.environ.get("ORT_DISABLE_TELEMETRY") != "1":
            raise ImportError("onnxruntime imported with telemetry on, from: "
                              + traceback.format_stack()[-3].strip())
        return None
sys.meta_path.insert(0, Guard())
"""


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", GUARD + code], cwd=ROOT, env=_child_env(),
                          capture_output=True, text=True, timeout=300)


def test_guard_catches_a_bare_import():
    done = _run("import onnxruntime")
    assert done.returncode != 0 and "telemetry on" in done.stderr


ENTRY_POINTS = ["app.__main__", "app.cli", "app.core.runtime", "app.core.fold.parts", "app.core.session",
                "exporter", "exporter.cli", "exporter.verify", "packbuild.onnx_io",
                "exporter.esmfold.evaluate", "bench.speed", "bench.speed_worker", "bench.fold_worker",
                "bench.runner", "bench.accuracy", "bench.activation_study"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_entry_point_sets_the_variable_before_onnxruntime(module):
    done = _run(f"import {module}; import onnxruntime; "
                "assert os.environ['ORT_DISABLE_TELEMETRY'] == '1'")
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_module_of_app_exporter_and_bench_imports_cleanly_under_the_guard():
    code = """
import pkgutil, importlib
bad = []
for pkg in ("app", "exporter", "bench"):
    base = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(base.__path__, pkg + "."):
        if info.name.endswith("__main__"):  # runs the CLI; its package is imported anyway
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as e:
            if "telemetry on" in str(e):
                bad.append((info.name, str(e)))
print(bad)
assert not bad, bad
"""
    done = _run(code)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_child_processes_inherit_the_variable():
    done = _run("import app, subprocess, sys; "
                "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ[\"ORT_DISABLE_TELEMETRY\"])'],"
                " capture_output=True, text=True).stdout)")
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def test_user_value_cannot_turn_it_back_on():
    env = _child_env()
    env["ORT_DISABLE_TELEMETRY"] = "0"
    done = subprocess.run([sys.executable, "-c", "import app, os; print(os.environ['ORT_DISABLE_TELEMETRY'])"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "1"


def test_session_opener_refuses_when_the_variable_is_gone(monkeypatch, tmp_path):
    from app.core.session import open_session
    from app.offline import TelemetryError

    monkeypatch.delenv("ORT_DISABLE_TELEMETRY")
    with pytest.raises(TelemetryError, match="ORT_DISABLE_TELEMETRY"):
        open_session(tmp_path / "model.onnx")
