"""The CLI as a new user meets it: fold finds an installed folding pack, every option has help,
usage names the real program, a missing --out directory is refused and never created."""
from __future__ import annotations

import shutil
import sys

import pytest

from app.cli import build_parser, main, program_name
from app.core.outputs import OutputError, atomic_open


@pytest.fixture(scope="module")
def folding_pack(tmp_path_factory):
    pytest.importorskip("torch")
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    return write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("packs") / "tiny_fold", "tiny_fold")


def test_fold_without_model_uses_an_installed_folding_pack(folding_pack, tmp_path, monkeypatch, capsys):
    root = tmp_path / "packs"
    root.mkdir()
    shutil.copytree(folding_pack, root / "esmfold-tiny")
    monkeypatch.setenv("EDGEFOLD_PACKS", str(root))
    monkeypatch.setattr("app.core.pack.default_pack_dir", lambda: tmp_path / "no_default")
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n")
    assert main(["fold", "--fasta", str(fasta), "--out", str(tmp_path / "out"), "--recycles", "0",
                 "--threads", "1"]) == 0  # was: "fold needs --model PACK"
    assert "tiny_fold" in capsys.readouterr().err
    assert (tmp_path / "out" / "a.pdb").is_file()


def test_fold_without_any_folding_pack_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEFOLD_PACKS", str(tmp_path))
    monkeypatch.setattr("app.core.pack.default_pack_dir", lambda: tmp_path / "no_default")
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKT\n")
    assert main(["fold", "--fasta", str(fasta), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no folding pack" in err and str(tmp_path) in err and "--model" in err


def _subparser(name):
    p = build_parser()
    return next(a for a in p._actions if a.dest == "command").choices[name]


@pytest.mark.parametrize("command", ["score", "embed", "fold"])
def test_every_option_has_help(command):
    for action in _subparser(command)._actions:
        assert action.help, f"{command} {action.option_strings}: no help"
    fold_model = next(a for a in _subparser("fold")._actions if a.dest == "model")
    assert "folding pack" in fold_model.help  # was: "(default: the embedded default pack)"


def test_usage_names_the_frozen_binary(monkeypatch):
    assert program_name("/usr/lib/python3/site-packages/app/__main__.py") == "python -m app"
    assert program_name("/usr/local/bin/edgefold") == "edgefold"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "argv", ["/opt/EdgeFold/EdgeFold"])
    assert program_name() == "EdgeFold"
    assert build_parser().format_usage().startswith("usage: EdgeFold")  # was: python -m app


def test_out_in_a_missing_directory_is_refused_not_created(standin_pack_dir, tmp_path, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKT\n")
    missing = tmp_path / "nonexistent"
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fasta),
                 "--out", str(missing / "x.csv")]) == 2
    assert str(missing) in capsys.readouterr().err and not missing.exists()
    with pytest.raises(OutputError, match="nonexistent"):  # the writer itself: was mkdir(parents=True)
        with atomic_open(missing / "deeper" / "x.csv") as f:
            f.write("x")
    assert not missing.exists()
