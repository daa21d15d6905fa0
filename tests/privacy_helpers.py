"""Run scripts/privacy_check.py from a test and read its JSON verdict."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "privacy_check.py"


def run_check(tmp_path: Path, *args: str) -> tuple[int, list[dict], str]:
    if not shutil.which("strace") and not os.environ.get("CI"):
        pytest.skip("strace is not installed (scripts/setup.sh test installs it)")
    out = tmp_path / "privacy.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    results = json.loads(out.read_text()) if out.exists() else []
    return done.returncode, results, done.stdout + done.stderr
