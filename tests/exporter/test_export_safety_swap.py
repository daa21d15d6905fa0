"""write_pack replaces a pack atomically, even when the process is killed (os._exit, no cleanup) mid-swap.

    before: out/p (old)   .p.tmp-PID (new, complete)
    Linux:  renameat2(RENAME_EXCHANGE) swaps them in one step: out/p is always a whole pack
    else:   p -> .p.old-PID, .p.tmp-PID -> p; killed in between, the next write_pack restores .p.old-PID

Before, a kill between the two renames left the old pack only as `.p.old-PID`, `p` gone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from packbuild import pack as pack_mod
from packbuild.pack import write_pack

REPO = Path(__file__).resolve().parents[2]

# Runs write_pack(out, ..., {"name": "new"}) and dies (os._exit: no finally, no atexit) right after
# the first rename or exchange of a directory; MODE "fallback" disables the exchange first.
_KILLED_SWAP = r"""
import os, sys
from pathlib import Path
from onnx import TensorProto, helper
import packbuild.pack as pack

mode, out = sys.argv[1], Path(sys.argv[2])
real_rename, real_exchange = os.rename, getattr(pack, "exchange", None)

def rename_then_die(src, dst, *args, **kwargs):
    real_rename(src, dst, *args, **kwargs)
    os._exit(9)

def exchange_then_die(a, b):
    if real_exchange(a, b):
        os._exit(9)
    return False

os.rename = rename_then_die
if mode == "fallback":
    pack.exchange = lambda a, b: False
elif real_exchange is not None:
    pack.exchange = exchange_then_die
graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
pack.write_pack(out, {"model.onnx": helper.make_model(graph)}, {"name": "new"})
os._exit(0)
"""


def identity_model() -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph)


def name_of(pack: Path) -> str:
    return json.loads((pack / "manifest.json").read_text())["name"]


def killed_swap(out: Path, mode: str) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", _KILLED_SWAP, mode, str(out)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode in (0, 9), proc.stderr[-2000:]
    return proc.returncode


def exchange_works(where: Path) -> bool:
    a, b = where / "xa", where / "xb"
    a.mkdir(), b.mkdir()
    try:
        return pack_mod.exchange(a, b)
    finally:
        a.rmdir(), b.rmdir()


def interrupting_save(model, path):
    raise KeyboardInterrupt  # the next run is interrupted too, before its own swap


def test_killed_at_the_swap_leaves_a_whole_pack(tmp_path):
    out = tmp_path / "p"
    write_pack(out, {"model.onnx": identity_model()}, {"name": "old"})
    assert killed_swap(out, "default") == 9
    assert (out / "manifest.json").is_file() and name_of(out) in ("old", "new")
    if exchange_works(tmp_path):  # renameat2 works here: the swap was the one step, so it is done
        assert name_of(out) == "new"
    write_pack(out, {"model.onnx": identity_model()}, {"name": "next"})
    assert name_of(out) == "next" and [p.name for p in tmp_path.iterdir()] == ["p"]


def test_killed_between_the_fallback_renames_the_next_run_restores_the_old_pack(tmp_path, monkeypatch):
    out = tmp_path / "p"
    write_pack(out, {"model.onnx": identity_model()}, {"name": "old"})
    assert killed_swap(out, "fallback") == 9
    assert not out.exists()  # the state a kill leaves: only .p.old-PID (and the new .p.tmp-PID)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == [".p.old", ".p.tmp"]
    monkeypatch.setattr(pack_mod, "save_onnx", interrupting_save)
    with pytest.raises(KeyboardInterrupt):
        write_pack(out, {"model.onnx": identity_model()}, {"name": "newer"})
    assert name_of(out) == "old" and [p.name for p in tmp_path.iterdir()] == ["p"]
    monkeypatch.undo()
    write_pack(out, {"model.onnx": identity_model()}, {"name": "newer"})
    assert name_of(out) == "newer" and [p.name for p in tmp_path.iterdir()] == ["p"]


def test_fallback_swap_without_a_kill(tmp_path, monkeypatch):
    monkeypatch.setattr(pack_mod, "exchange", lambda a, b: False)
    out = tmp_path / "p"
    write_pack(out, {"model.onnx": identity_model()}, {"name": "old"})
    write_pack(out, {"model.onnx": identity_model()}, {"name": "new"})
    assert name_of(out) == "new" and [p.name for p in tmp_path.iterdir()] == ["p"]


def test_stale_siblings_of_dead_processes_are_removed(tmp_path):
    out = tmp_path / "p"
    write_pack(out, {"model.onnx": identity_model()}, {"name": "old"})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    live = os.getppid()  # the process that started pytest is running
    for name in (f".p.tmp-{dead}", f".p.old-{dead}", ".p.tmp-99999999999999999999", f".p.tmp-{live}",
                 ".p.tmp-notapid", ".q.tmp-1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.onnx").write_bytes(b"partial")
    write_pack(out, {"model.onnx": identity_model()}, {"name": "new"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["p", f".p.tmp-{live}", ".p.tmp-notapid", ".q.tmp-1"])  # another live run, not ours, other packs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_exchange_swaps_two_directories(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from_a").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "from_b").write_text("b")
    if not pack_mod.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this filesystem has no RENAME_EXCHANGE")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["from_b"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["from_a"]
    with pytest.raises(FileNotFoundError):
        pack_mod.exchange(tmp_path / "a", tmp_path / "missing")
