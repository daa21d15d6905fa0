"""Import boundaries: app never loads torch/esm/transformers/exporter/quant (nor packbuild at import);
quant is numpy+onnx; packbuild is torch-free (numpy, onnx, onnxruntime, quant, app.core)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

APP_FORBIDDEN = {"torch", "esm", "transformers", "exporter", "quant"}
APP_CORE_FORBIDDEN = APP_FORBIDDEN | {"PySide6", "shiboken6"}
QUANT_ALLOWED = {"numpy", "onnx", "quant"} | STDLIB
QUANT_RUNTIME_FORBIDDEN = {"torch", "esm", "transformers", "onnxruntime", "app", "exporter"}
# packbuild turns checkpoints into packs on the user's machine: no torch, no exporter, no Qt, and no
# safetensors package either (it reads safetensors with numpy).
PACKBUILD_ALLOWED = {"numpy", "onnx", "onnxruntime", "quant", "app", "packbuild"} | STDLIB
PACKBUILD_FORBIDDEN = {"torch", "esm", "transformers", "exporter", "safetensors", "PySide6", "shiboken6"}

# Runs in a fresh interpreter: import every module of the given packages, found with pkgutil
# (`__main__.py` included) so new modules are covered as they appear; report what got loaded.
_PROBE = r"""
import importlib, json, pkgutil, sys
imported = []
for name in json.loads(sys.argv[1]):
    pkg = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(pkg.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
print(json.dumps({"imported": imported, "loaded": sorted(sys.modules)}))
"""


def probe_imports(packages: list[str]) -> dict:
    """Import packages recursively in a fresh interpreter; return imported and loaded module names."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(packages)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"importing {packages} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def top_level_hits(loaded: list[str], names: set[str]) -> list[str]:
    """Loaded modules whose top-level package is one of names."""
    return sorted(m for m in loaded if m.split(".")[0] in names)


def test_importing_the_app_loads_no_torch_exporter_or_quant() -> None:
    result = probe_imports(["app"])
    imported = result["imported"]
    assert {"app", "app.core", "app.ui", "app.__main__"} <= set(imported), imported
    assert top_level_hits(result["loaded"], APP_FORBIDDEN) == []


def test_importing_the_app_does_not_load_packbuild() -> None:
    """The app imports packbuild only inside the function that runs when the user asks for a model."""
    result = probe_imports(["app"])
    assert top_level_hits(result["loaded"], {"packbuild", "onnx"}) == []


def test_importing_packbuild_loads_no_torch_exporter_or_qt() -> None:
    result = probe_imports(["packbuild"])
    assert {"packbuild", "packbuild.build", "packbuild.torch_reader", "packbuild.__main__"} <= set(result["imported"])
    assert top_level_hits(result["loaded"], PACKBUILD_FORBIDDEN) == []


def test_importing_app_core_loads_no_qt() -> None:
    result = probe_imports(["app.core"])
    assert "app.core" in result["imported"]
    assert top_level_hits(result["loaded"], APP_CORE_FORBIDDEN) == []


def test_importing_quant_loads_only_numpy_and_onnx() -> None:
    result = probe_imports(["quant"])
    assert "quant" in result["imported"]
    assert top_level_hits(result["loaded"], QUANT_RUNTIME_FORBIDDEN) == []


def imported_names(source: str, filename: str = "<src>") -> list[tuple[str, int]]:
    """Top-level module names a source file imports, with line numbers (relative imports skipped).

    Catches `import x`, `from x import y`, and `importlib.import_module("x")` / `__import__("x")`
    with a literal name.
    """
    names = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                names.append((node.args[0].value.split(".")[0], node.lineno))
    return names


def violations(
    folder: Path, allowed: set[str] | None = None, forbidden: set[str] = frozenset(), base: Path = ROOT
) -> list[str]:
    """'path:line: name' for each import under folder outside allowed or inside forbidden."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for name, line in imported_names(path.read_text(encoding="utf-8"), str(path)):
            if name in forbidden or (allowed is not None and name not in allowed):
                found.append(f"{path.relative_to(base)}:{line}: {name}")
    return found


def test_checker_flags_forbidden_imports() -> None:
    source = "import os\nfrom torch import nn\nimport esm.pretrained\nfrom . import sibling\n" \
             "import importlib\nm = importlib.import_module('transformers.models')\n"
    assert imported_names(source) == [("os", 1), ("torch", 2), ("esm", 3), ("importlib", 5),
                                      ("transformers", 6)]


def test_no_file_under_app_imports_torch_esm_transformers_exporter_or_quant() -> None:
    assert list((ROOT / "app").rglob("*.py")), "no app sources found"
    assert violations(ROOT / "app", forbidden=APP_FORBIDDEN) == []


def test_no_file_under_app_core_imports_qt() -> None:
    assert violations(ROOT / "app" / "core", forbidden=APP_CORE_FORBIDDEN) == []


def test_quant_imports_only_numpy_onnx_stdlib_and_itself() -> None:
    assert list((ROOT / "quant").rglob("*.py")), "no quant sources found"
    assert violations(ROOT / "quant", allowed=QUANT_ALLOWED) == []


def module_level_imports(source: str, filename: str = "<src>") -> list[tuple[str, int]]:
    """imported_names, but only of statements run at import time (not inside a function body)."""
    tree = ast.parse(source, filename=filename)
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f) if n is not f}
    eager = ast.Module(body=[], type_ignores=[])
    eager.body = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in lazy]
    return imported_names(ast.unparse(eager)) if eager.body else []


def test_app_imports_packbuild_only_inside_functions() -> None:
    found = [f"{path.relative_to(ROOT)}:{name}" for path in sorted((ROOT / "app").rglob("*.py"))
             for name, _ in module_level_imports(path.read_text(encoding="utf-8"), str(path)) if name == "packbuild"]
    assert found == []


def test_module_level_check_skips_function_bodies() -> None:
    source = "import os\ndef f():\n    import packbuild\nclass C:\n    def g(self):\n        from packbuild import x\n" \
             "from packbuild import build_pack\n"
    assert [n for n, _ in module_level_imports(source)] == ["os", "packbuild"]


def test_packbuild_imports_no_torch_exporter_or_qt() -> None:
    assert list((ROOT / "packbuild").rglob("*.py")), "no packbuild sources found"
    assert violations(ROOT / "packbuild", allowed=PACKBUILD_ALLOWED, forbidden=PACKBUILD_FORBIDDEN) == []
    assert app_imports_outside_core(ROOT / "packbuild") == []


@pytest.mark.parametrize("name", sorted(APP_FORBIDDEN))
def test_static_app_check_would_catch(name: str, tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(f"import numpy\nfrom {name} import thing\n")
    assert violations(tmp_path, forbidden=APP_FORBIDDEN, base=tmp_path) == [f"mod.py:2: {name}"]


def test_static_quant_check_rejects_other_packages(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("import json\nimport numpy as np\nimport onnxruntime\nimport scipy.stats\n")
    assert violations(tmp_path, allowed=QUANT_ALLOWED, base=tmp_path) == [
        "mod.py:3: onnxruntime", "mod.py:4: scipy"]


# --- import cycles among our own modules -------------------------------------------------------

PROJECT_PACKAGES = ("app", "exporter", "quant", "bench", "packbuild")


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every .py file under the given packages."""
    mods = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _absolute(module: str | None, current: str, is_pkg: bool, level: int) -> str:
    """The absolute name of `from <level dots><module> import ...` written in `current`."""
    if level == 0:
        return module or ""
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, list[str]]:
    """Module -> the project modules it imports, anywhere in the file (lazy imports included).

    `from a.b import c` depends on `a.b`, and on `a.b.c` when that is a module.
    """
    mods = module_names(root, packages)
    graph = {}
    for name, (path, is_pkg) in mods.items():
        deps: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module, name, is_pkg, node.level)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            deps += [t for t in targets if t in mods and t != name and t not in deps]
        graph[name] = deps
    return graph


def import_cycles(graph: dict[str, list[str]]) -> list[str]:
    """Each cycle found by depth-first search, written 'a -> b -> a' (one per back edge)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_project_modules_import_no_cycle() -> None:
    """No import cycle among app, exporter, quant, bench and packbuild modules.

    Every import statement counts, function-level (lazy) imports included: a lazy import only
    hides a cycle from the interpreter, the two modules still depend on each other, so the shared
    piece belongs in a third module.
    """
    graph = import_graph(ROOT, PROJECT_PACKAGES)
    assert {"app.cli", "exporter.cli", "quant.registry"} <= set(graph)
    assert import_cycles(graph) == []


def test_cycle_check_names_lazy_and_relative_cycles(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import thing\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    assert import_cycles(import_graph(tmp_path, ("pkg",))) == ["pkg.a -> pkg.sub.b -> pkg.a"]


# --- the exporter uses app.core only ----------------------------------------------------------

def _in_app_core(name: str) -> bool:
    return name == "app.core" or name.startswith("app.core.")


def app_imports_outside_core(folder: Path, base: Path = ROOT) -> list[str]:
    """'path:line: module' for each import of `app` under folder that is not app.core (lazy ones too).

    The bare package `app` is allowed: its __init__ only disables onnxruntime telemetry, and every
    `app.core` import runs it anyway (exporter/__init__.py imports it for that).
    """
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "app":
                names = [f"app.{alias.name}" for alias in node.names]  # from app import core / ui
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{path.relative_to(base)}:{node.lineno}: {name}" for name in names
                      if name.split(".")[0] == "app" and name != "app" and not _in_app_core(name)]
    return found


def test_exporter_imports_only_app_core() -> None:
    assert list((ROOT / "exporter").rglob("*.py")), "no exporter sources found"
    assert app_imports_outside_core(ROOT / "exporter") == []


def test_app_core_check_flags_ui_and_bare_app(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("from app.core.fasta import Record\nimport app.core\n"
                                     "from app import core\nfrom app.ui import errors\n"
                                     "import app\ndef f():\n    from app import ui\n    import app.cli\n")
    assert app_imports_outside_core(tmp_path, base=tmp_path) == [
        "mod.py:4: app.ui", "mod.py:7: app.ui", "mod.py:8: app.cli"]


def test_importing_the_exporter_loads_no_app_ui_or_qt() -> None:
    pytest.importorskip("torch")  # the exporter's own dependency
    modules = ["exporter.cli", "exporter.pipeline", "exporter.esmfold.export"]
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(modules) <= set(loaded)
    assert [m for m in loaded if m == "app.ui" or m.startswith("app.ui.")] == []
    assert top_level_hits(loaded, {"PySide6", "shiboken6"}) == []
