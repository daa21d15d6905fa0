"""The whole build runs in an interpreter where torch, esm, transformers and safetensors cannot be
imported, through `python -m packbuild`, as on a user's machine with only the app installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Blocks the packages, shrinks the calibration (same code path), runs the CLI, reports sys.modules.
_RUN = r"""
import importlib.abc, json, runpy, sys
BLOCKED = {"torch", "esm", "transformers", "safetensors"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import packbuild.build as build
build.CALIBRATION_SIZE, build.VERIFY_SIZE, build.MAX_VERIFY_RESIDUES = 8, 4, 120
sys.argv = ["packbuild"] + sys.argv[1:]
try:
    runpy.run_module("packbuild", run_name="__main__")
except SystemExit as exc:
    code = exc.code
hits = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED | {"exporter", "PySide6"})
print("MODULES " + json.dumps(hits), file=sys.stderr)
sys.exit(code)
"""


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEFOLD_PACKS=str(tmp_path / "packs"))
    return subprocess.run([sys.executable, "-c", _RUN, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


def _modules(stderr: str) -> list[str]:
    line = [ln for ln in stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return json.loads(line[len("MODULES "):])


@pytest.mark.parametrize("source", ["fair_esm_pt", "hf_safetensors_dir", "hf_bin_dir"])
def test_cli_builds_without_torch(source, request, tmp_path):
    path = request.getfixturevalue(source)
    proc = _run([str(path), "--scheme", "int8"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _modules(proc.stderr) == []
    pack = Path(proc.stdout.strip().splitlines()[-1])
    assert pack.parent == tmp_path / "packs" and pack.name.endswith("-int8")
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["accuracy"]["logits_sqnr_db"] > 15
    assert "calibrating" in proc.stderr and "verifying" in proc.stderr  # the progress line


def test_cli_refuses_a_malicious_checkpoint_without_torch(tmp_path):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    bad = tmp_path / "evil.bin"
    bad.write_bytes(pickle.dumps({"model": Exploit()}, protocol=2))
    proc = _run([str(bad)], tmp_path)
    assert proc.returncode == 1
    assert "error: " in proc.stderr and "evil.bin" in proc.stderr and "system" in proc.stderr
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "packs").exists() or list((tmp_path / "packs").iterdir()) == []
