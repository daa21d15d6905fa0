"""The exporter replaces packs only: `--out DIR` where DIR/fp32/ holds the user's files is refused, untouched.

Before, write_pack renamed DIR/fp32 away and deleted it without a word.
"""
from __future__ import annotations

import json
import os

import pytest
from onnx import TensorProto, helper

from exporter.cli import main
from packbuild.pack import NotAPackError, check_out_dirs, check_replaceable, write_pack


def identity_model():
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph)


@pytest.fixture
def user_dir(tmp_path):
    d = tmp_path / "out" / "fp32"
    d.mkdir(parents=True)
    (d / "thesis.tex").write_text("months of work\n")
    return d


def test_write_pack_refuses_a_directory_that_is_not_a_pack(user_dir):
    with pytest.raises(NotAPackError, match=rf"{user_dir}: is a directory with other files, not an EdgeFold "
                                            r"pack .*refusing to replace it") as info:
        write_pack(user_dir, {"model.onnx": identity_model()}, {"name": "new"})
    assert isinstance(info.value, ValueError) and info.value.path == user_dir
    assert (user_dir / "thesis.tex").read_text() == "months of work\n"
    assert sorted(p.name for p in user_dir.parent.iterdir()) == ["fp32"]  # no temporary left either


def test_cli_refuses_before_loading_anything(user_dir, tmp_path, capsys):
    rc = main([str(tmp_path / "no-such-checkpoint.pt"), "--schemes", "int8, fp32", "--out", str(user_dir.parent)])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {user_dir}: is a directory with other files" in err, err
    assert "no-such-checkpoint" not in err  # refused before the model was looked at
    assert (user_dir / "thesis.tex").read_text() == "months of work\n"


def test_what_may_be_replaced(tmp_path):
    write_pack(tmp_path / "pack", {"model.onnx": identity_model()}, {"name": "old"})
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "pack")
    check_replaceable(tmp_path / "empty")
    check_replaceable(tmp_path / "absent")
    check_out_dirs(tmp_path, "pack,empty,absent")
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    os.symlink(tmp_path / "pack", tmp_path / "link")
    for name, what in [("file", "is a file"), ("other", "other files"), ("bad", "other files"),
                       ("link", "is a symbolic link")]:
        with pytest.raises(NotAPackError, match=what):
            check_replaceable(tmp_path / name)
    with pytest.raises(NotAPackError, match="other"):
        check_out_dirs(tmp_path, ["pack", "other"])
    write_pack(tmp_path / "empty", {"model.onnx": identity_model()}, {"name": "new"})
    write_pack(tmp_path / "pack", {"model.onnx": identity_model()}, {"name": "new"})
    assert json.loads((tmp_path / "pack" / "manifest.json").read_text())["name"] == "new"
