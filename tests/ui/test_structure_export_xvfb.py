"""Runs the WebEngine 3D-view PNG test (test_structure_export_webengine.py), which skips on the
offscreen platform the suite uses, once under Xvfb on the xcb platform with software GL, so the
3D image export is checked in CI too. CI installs Xvfb (`setup.sh test`); elsewhere without it the
test skips, and in CI a missing Xvfb is a failure."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INNER = "tests/ui/test_structure_export_webengine.py"


def test_3d_view_png_under_xvfb() -> None:
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        pytest.skip(f"{INNER} runs directly on this display")
    if shutil.which("xvfb-run") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xvfb-run is missing: `bash scripts/setup.sh test` installs xvfb and xauth")
        pytest.skip("xvfb-run is not installed (apt-get install xvfb xauth)")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24 -nolisten tcp",
         sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", INNER],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "1 passed" in out and "skipped" not in out, out[-4000:]
