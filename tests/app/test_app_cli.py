"""The headless CLI end to end on the stand-in pack; error paths; GUI branch; no torch."""
import csv
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from app.__main__ import main
from app.core import pack as packmod
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
from app.core.scoring import score_matrix

REPO = Path(__file__).resolve().parents[2]
FASTA = ">p1 first\nMKTAYIAKQR\n>p2\nacdefg*\n"


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_text(FASTA)
    return p


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_score_all_singles(standin_pack_dir, fasta, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    rc = main(["score", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(out),
               "--method", "masked-marginal", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    rows = _rows(out)
    assert list(rows[0]) == ["record_id", "mutant", "score"]
    assert len(rows) == (10 + 6) * 19
    assert rows[0]["mutant"] == "M1A" and rows[-1] == {**rows[-1], "record_id": "p2",
                                                       "mutant": "G6Y"}
    m = score_matrix(Esm2Runtime(load_pack(standin_pack_dir), 1), "MKTAYIAKQR", "masked-marginal")
    got = {r["mutant"]: float(r["score"]) for r in rows if r["record_id"] == "p1"}
    assert got["K2R"] == pytest.approx(m.score(2, "R"), abs=1e-5)
    assert "masked-marginal" in capsys.readouterr().err  # progress line


def test_score_mutant_list_and_file(standin_pack_dir, tmp_path):
    fa = tmp_path / "one.fasta"
    fa.write_text(">p1\nMKTAYIAKQR\n")
    out = tmp_path / "m.csv"
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fa), "--out", str(out),
                 "--mutants", "K2R,M1A:K2R"]) == 0
    rows = _rows(out)
    assert [r["mutant"] for r in rows] == ["K2R", "M1A:K2R"]
    mf = tmp_path / "muts.csv"
    mf.write_text("mutant,DMS_score\nT3S,1\n")
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fa), "--out", str(out),
                 "--mutants", str(mf)]) == 0
    assert [r["mutant"] for r in _rows(out)] == ["T3S"]


@pytest.mark.parametrize("setup,needle", [
    (lambda d: (d / "f.fasta").write_text(">bad\nAJ\n"), "'bad'"),
    (lambda d: None, "no such FASTA"),
])
def test_errors(standin_pack_dir, tmp_path, capsys, setup, needle):
    setup(tmp_path)
    out = tmp_path / "o.csv"
    rc = main(["score", "--model", str(standin_pack_dir), "--fasta", str(tmp_path / "f.fasta"),
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0 and err.startswith("error: ") and needle in err
    assert not out.exists()


def test_bad_pack_and_wrong_mutant(fresh_pack, fasta, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert main(["score", "--model", str(fresh_pack), "--fasta", str(fasta), "--out", str(out),
                 "--mutants", "A2G"]) == 2
    assert "record 'p1'" in capsys.readouterr().err
    (fresh_pack / "model.onnx").write_bytes(b"x")
    assert main(["score", "--model", str(fresh_pack), "--fasta", str(fasta), "--out", str(out)]) == 2
    assert "truncated" in capsys.readouterr().err and not out.exists()


def test_missing_default_pack(fasta, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("app.cli.default_pack_dir", lambda: tmp_path / "nope")
    assert main(["embed", "--fasta", str(fasta), "--out", str(tmp_path / "e")]) == 2
    assert "default pack is not installed" in capsys.readouterr().err


def test_embed(standin_pack_dir, tmp_path):
    fa = tmp_path / "e.fasta"
    fa.write_text(">sp|P1|X\nMKTAYIAKQR\n>two\nACD\n")
    out = tmp_path / "emb"
    assert main(["embed", "--model", str(standin_pack_dir), "--fasta", str(fa), "--out", str(out),
                 "--contacts"]) == 0
    assert np.load(out / "sp_P1_X.per_residue.npy").shape == (10, 8)
    assert np.load(out / "sp_P1_X.mean.npy").shape == (8,)
    assert np.load(out / "two.contacts.npy").shape == (3, 3)


def test_interrupt_leaves_no_csv(standin_pack_dir, fasta, tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr("app.core.batch_jobs.compute", boom)
    out = tmp_path / "o.csv"
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fasta),
                 "--out", str(out)]) == 130
    assert not out.exists() and list(tmp_path.iterdir()) == [fasta]


def test_gui_branch_missing_and_present(monkeypatch, capsys):
    import app.ui
    monkeypatch.delattr(app.ui, "main_window", raising=False)  # in case tests/ui imported it
    monkeypatch.setitem(sys.modules, "app.ui.main_window", None)  # import raises ImportError
    assert main([]) == 1
    assert "desktop app is not available" in capsys.readouterr().err
    fake = types.ModuleType("app.ui.main_window")
    fake.main = lambda: 7
    monkeypatch.setitem(sys.modules, "app.ui.main_window", fake)
    monkeypatch.setattr(app.ui, "main_window", fake, raising=False)
    assert main([]) == 7


def test_subprocess_cli_never_imports_torch(standin_pack_dir, fasta, tmp_path):
    out = tmp_path / "s.csv"
    code = ("import sys, runpy; sys.argv = ['app', 'score', '--model', sys.argv[1], '--fasta', "
            "sys.argv[2], '--out', sys.argv[3]]\n"
            "try:\n    runpy.run_module('app', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "bad = [m for m in ('torch', 'esm', 'transformers', 'exporter', 'quant', 'PySide6')"
            " if m in sys.modules]\nassert not bad, bad\nprint('clean')")
    r = subprocess.run([sys.executable, "-c", code, str(standin_pack_dir), str(fasta), str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "clean" in r.stdout, r.stderr
    assert len(_rows(out)) == 16 * 19
