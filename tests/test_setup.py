"""Set-up, CI and packaging files: scripts parse, commands agree, shipped assets match their records."""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_COMMAND = "bash scripts/setup.sh test"
STANDARD_AA = set("ACDEFGHIKLMNPQRSTVWY")


def load_script(path: Path) -> types.ModuleType:
    """Import a file that is not part of a package (scripts/*.py)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def read_fasta(path: Path) -> list[tuple[str, str]]:
    text = path.read_text()
    return [(chunk.split("\n", 1)[0], "".join(chunk.split("\n")[1:]))
            for chunk in text.split(">")[1:]]


@pytest.mark.parametrize("script", ["scripts/setup.sh", ".ci/run"])
def test_shell_scripts_parse(script: str) -> None:
    proc = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_setup_without_mode_prints_usage_and_fails() -> None:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2
    assert "usage: bash scripts/setup.sh app|test" in proc.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.split("||")[0].split("<")[0].strip() for line in ci.splitlines()
                if line.strip().startswith("bash ")]
    assert commands == [TEST_COMMAND]
    assert f"`{TEST_COMMAND}`" in (ROOT / "README.md").read_text()


def run_spec_with_stubs(spec_path: Path) -> dict:
    """Execute build_installer.spec with PyInstaller's names stubbed; return what it passed."""
    calls: dict = {}

    def recorder(kind: str):
        def record(*args, **kwargs):
            calls[kind] = (args, kwargs)
            return types.SimpleNamespace(pure=[], scripts=[], binaries=[], datas=[])
        return record

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda name: [f"{name}.stub"]
    fake = {"PyInstaller": types.ModuleType("PyInstaller"),
            "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
            "PyInstaller.utils.hooks": hooks}
    saved = {k: sys.modules.get(k) for k in fake}
    sys.modules.update(fake)
    try:
        namespace = {"SPECPATH": str(spec_path.parent), "__file__": str(spec_path)}
        namespace.update({k: recorder(k) for k in ("Analysis", "PYZ", "EXE", "COLLECT")})
        exec(compile(spec_path.read_text(), str(spec_path), "exec"), namespace)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return calls


def test_installer_spec_bundles_the_app_without_torch() -> None:
    spec_path = ROOT / "build_installer.spec"
    ast.parse(spec_path.read_text())
    calls = run_spec_with_stubs(spec_path)
    assert set(calls) == {"Analysis", "PYZ", "EXE", "COLLECT"}
    (scripts,), kwargs = calls["Analysis"]
    assert [Path(s) for s in scripts] == [ROOT / "app" / "__main__.py"]
    assert {"torch", "esm", "transformers", "exporter"} <= set(kwargs["excludes"])
    assert not {"quant", "onnx", "packbuild"} & set(kwargs["excludes"])  # Get ESM-2 builds packs
    dests = {dest for _, dest in kwargs["datas"]}
    assert "assets/3dmol" in dests
    for src, _ in kwargs["datas"]:
        assert Path(src).exists(), src


def test_3dmol_matches_its_attribution_record() -> None:
    attribution = (ROOT / "assets" / "ATTRIBUTION.md").read_text()
    js = ROOT / "assets" / "3dmol" / "3Dmol-min.js"
    digest = hashlib.sha256(js.read_bytes()).hexdigest()
    assert f"`3dmol/3Dmol-min.js` | {js.stat().st_size} | `{digest}`" in attribution
    assert "3dmol v2.5.5" in (ROOT / "assets" / "3dmol" / "3Dmol-min.js.LICENSE.txt").read_text()
    assert "BSD-3-Clause" in (ROOT / "assets" / "3dmol" / "LICENSE").read_text()


def test_calibration_sets_are_length_stratified_and_disjoint() -> None:
    folder = ROOT / "assets" / "calibration"
    calibration = read_fasta(folder / "swissprot_calibration_256.fasta")
    heldout = read_fasta(folder / "swissprot_heldout_32.fasta")
    edges = load_script(ROOT / "scripts" / "make_calibration_set.py").SamplingConfig().edges()
    for records, per_bin in ((calibration, 32), (heldout, 4)):
        lengths = [len(seq) for _, seq in records]
        assert np.histogram(lengths, bins=edges)[0].tolist() == [per_bin] * 8
        assert all(set(seq) <= STANDARD_AA for _, seq in records)
        assert len({h for h, _ in records}) == len(records)
    assert not {s for _, s in calibration} & {s for _, s in heldout}
    readme = (folder / "README.md").read_text()
    for name in ("swissprot_calibration_256.fasta", "swissprot_heldout_32.fasta"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert re.search(rf"`{name}` \| `{digest}`", readme), name


def test_stratified_split_is_deterministic_and_checks_bins() -> None:
    mod = load_script(ROOT / "scripts" / "make_calibration_set.py")
    rng = np.random.default_rng(0)
    letters = np.array(sorted(STANDARD_AA))
    records = [(f"s{i}", "".join(rng.choice(letters, size=int(n))))
               for i, n in enumerate(rng.integers(50, 1001, size=2000))]
    cfg = mod.SamplingConfig(n_bins=4, n_calibration=40, n_heldout=8, seed=3)
    cal, held = mod.stratified_split(records, cfg)
    assert (cal, held) == mod.stratified_split(records, cfg)
    assert len(cal) == 40 and len(held) == 8 and not {h for h, _ in cal} & {h for h, _ in held}
    counts = np.histogram([len(s) for _, s in cal], bins=cfg.edges())[0]
    assert counts.tolist() == [10, 10, 10, 10]
    with pytest.raises(ValueError, match=r"length bin \[\d+, \d+\) has \d+ sequences"):
        mod.stratified_split(records[:30], cfg)
