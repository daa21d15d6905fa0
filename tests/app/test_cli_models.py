"""`python -m app models list|verify|remove|import|get` and app.core.pack_get (packbuild faked in
sys.modules: the builder is another package, loaded only when a model is requested)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import fake_packbuild
from app.cli import main
from app.cli_models import cmd_remove
from app.core.exit_codes import USAGE
from app.core.jobs import Cancelled
from app.core.pack import load_pack
from app.core.pack_get import BuilderMissing, get_pack, plan
from standin import write_standin_pack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def builder(monkeypatch):
    mod = fake_packbuild.make_module()
    monkeypatch.setitem(sys.modules, "packbuild", mod)
    return mod


@pytest.fixture
def no_builder(monkeypatch):
    monkeypatch.setitem(sys.modules, "packbuild", None)  # `import packbuild` raises ImportError


def test_list_prints_a_table_and_json(packs_dir, capsys):
    write_standin_pack(packs_dir / "a", seed=1, name="alpha", scheme="int8")
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["Name", "Task", "Scheme", "Size"] and "Source checkpoint" in lines[0]
    assert lines[1].split()[:3] == ["alpha", "masked-lm", "int8"] and "top-1 100.0%" in lines[1]
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["alpha"] and rows[0]["path"] == str(packs_dir / "a")


def test_list_with_nothing_installed_says_where_it_looked(packs_dir, capsys):
    assert main(["models", "list"]) == 0
    assert f"no model pack installed (packs folder: {packs_dir})" in capsys.readouterr().out


def test_verify_ok_and_damaged(packs_dir, capsys):
    pack = write_standin_pack(packs_dir / "a", seed=1, name="alpha")
    assert main(["models", "verify", "alpha"]) == 0
    assert "alpha: OK, 1 files" in capsys.readouterr().out
    data = bytearray((pack / "model.onnx").read_bytes())
    data[-3] ^= 1
    (pack / "model.onnx").write_bytes(bytes(data))
    assert main(["models", "verify", "alpha"]) == USAGE
    assert "model.onnx" in capsys.readouterr().err


def test_remove_asks_first(packs_dir, capsys):
    write_standin_pack(packs_dir / "a", seed=1, name="alpha")
    args = type("A", (), {"name": "alpha", "yes": False})()
    assert cmd_remove(args, stdin=io.StringIO("n\n")) == 0
    assert (packs_dir / "a").is_dir() and "nothing removed" in capsys.readouterr().err
    assert cmd_remove(args, stdin=io.StringIO("y\n")) == 0
    assert not (packs_dir / "a").exists()
    assert main(["models", "remove", "alpha", "--yes"]) == USAGE
    assert "no installed pack is called 'alpha'" in capsys.readouterr().err


def test_import_then_duplicate(packs_dir, tmp_path, capsys):
    src = write_standin_pack(tmp_path / "dl" / "x", seed=2, name="beta")
    assert main(["models", "import", str(src)]) == 0
    assert load_pack(packs_dir / "beta").name == "beta"
    assert main(["models", "import", str(src)]) == USAGE
    assert "already installed as 'beta'" in capsys.readouterr().err


def test_get_builds_installs_and_says_it_uses_the_network(packs_dir, builder, capsys):
    assert main(["models", "get", "esm2_t6_8M_UR50D", "--scheme", "int8"]) == 0
    err = capsys.readouterr().err
    assert "download of about 31.0 MB" in err and "only step in EdgeFold that uses the network" in err
    assert builder.calls[0]["source"] == "esm2_t6_8M_UR50D" and builder.calls[0]["scheme"] == "int8"
    assert builder.calls[0]["packs_dir"] == packs_dir
    pack = load_pack(packs_dir / "esm2_t6_8M_UR50D-int8")
    assert pack.scheme == "int8" and f"installed {pack.path}" in err


def test_get_from_a_local_file_needs_no_network(packs_dir, builder, tmp_path, capsys):
    ckpt = tmp_path / "esm2_local.pt"
    ckpt.write_bytes(b"x" * 1234)
    p = plan(str(ckpt), builder.KNOWN_CHECKPOINTS)
    assert (p.kind, p.network, p.download_bytes) == ("file", False, 1234)
    assert main(["models", "get", str(ckpt)]) == 0
    err = capsys.readouterr().err
    assert "nothing is downloaded" in err and "uses the network" not in err
    assert builder.calls[0]["scheme"] == "pwlq8"  # the default


def test_get_an_unknown_source_names_the_choices(packs_dir, builder, capsys):
    assert main(["models", "get", "esm3_giant"]) == USAGE
    err = capsys.readouterr().err
    assert "'esm3_giant' is not a known checkpoint (esm2_t6_8M_UR50D, esm2_t33_650M_UR50D)" in err
    assert builder.calls == []


def test_get_without_the_builder_says_so(packs_dir, no_builder, capsys):
    assert main(["models", "get", "esm2_t6_8M_UR50D"]) == USAGE
    err = capsys.readouterr().err
    assert "needs EdgeFold's pack builder (the 'packbuild' package)" in err and "Traceback" not in err
    with pytest.raises(BuilderMissing):
        get_pack("esm2_t6_8M_UR50D")


def test_build_errors_and_cancel_are_the_apps(packs_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "packbuild", fake_packbuild.make_module(fail="checksum mismatch"))
    assert main(["models", "get", "esm2_t6_8M_UR50D"]) == USAGE
    assert "esm2_t6_8M_UR50D: checksum mismatch" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "packbuild", fake_packbuild.make_module(gate=threading.Event()))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        get_pack("esm2_t6_8M_UR50D", cancel=cancel)
    assert list(packs_dir.iterdir()) == []


def test_the_app_does_not_import_packbuild_at_startup(tmp_path):
    (tmp_path / "packbuild").mkdir()  # an importable packbuild, so only the app's laziness keeps it out
    (tmp_path / "packbuild" / "__init__.py").write_text("KNOWN_CHECKPOINTS = {}\n")
    code = "import sys, app.cli, app.ui.main_window, app.ui.model_manager; import importlib.util as u; " \
           "print(u.find_spec('packbuild') is not None, 'packbuild' in sys.modules)"
    env = {"PYTHONPATH": f"{ROOT}:{tmp_path}", "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]
