"""evaluate-fold on the tiny model against its own fp32 prediction written as an 'experimental' structure dir."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.fold.driver import fold
from app.core.fold.pdb import to_pdb
from exporter.cli import main
from exporter.esmfold.evaluate import read_target

SEQS = {"t1": "MKTAYIAKQRQISFVKSHFSRQLEERLG", "t2": "GSHMLEDPVDAFQEMLQWAGCRKH", "long": "M" * 60}


@pytest.fixture(scope="module")
def setup(tiny_model, tiny_parts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    tiny_model.save_pretrained(tmp / "weights")
    (tmp / "structures").mkdir()
    for name, seq in SEQS.items():
        (tmp / "structures" / f"{name}.pdb").write_text(to_pdb(fold(tiny_parts, seq, num_recycles=1)))
    (tmp / "cal.fasta").write_text("".join(f">{k}\n{v}\n" for k, v in SEQS.items()))
    return tmp


def test_read_target_gets_sequence_and_ca(setup, tiny_parts) -> None:
    target = read_target(setup / "structures" / "t2.pdb")
    assert target.sequence == SEQS["t2"]
    ref = fold(tiny_parts, SEQS["t2"], num_recycles=1)
    np.testing.assert_allclose(target.ca, ref.atom37[:, 1], atol=1e-3)


def test_evaluate_fold_reports_tm_per_scheme(setup, capsys) -> None:
    out = setup / "report.json"
    assert main(["evaluate-fold", str(setup / "weights"), "--structures", str(setup / "structures"),
                 "--schemes", "fp32,int8", "--max-length", "40", "--recycles", "1", "--calibration",
                 str(setup / "cal.fasta"), "--calibration-size", "2", "--chunk-size", "8", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "TM vs experiment" in table and "int8" in table
    report = json.loads(out.read_text())
    assert report["n_targets"] == 2 and [t["name"] for t in report["targets"]] == ["t1", "t2"]  # 'long' skipped
    s = report["schemes"]
    # the "experiment" is the fp32 prediction itself: fp32 recovers it, int8 is measurably off
    assert s["fp32_torch"]["tm_vs_experiment"] > 0.99 and s["fp32"]["tm_vs_experiment"] > 0.99
    assert s["fp32"]["tm_vs_fp32"] > 0.99
    assert 0.0 < s["int8"]["tm_vs_fp32"] < 0.999
    assert s["int8"]["tm_vs_experiment"] == pytest.approx(s["int8"]["tm_vs_fp32"], abs=0.02)


def test_empty_structure_dir_is_an_error(setup, tmp_path, capsys) -> None:
    assert main(["evaluate-fold", str(setup / "weights"), "--structures", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
