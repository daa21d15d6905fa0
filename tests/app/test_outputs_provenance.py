"""Outputs a reviewer can trust: every file records model, scheme, pack sha256, method and
EdgeFold version; files follow the umask; non-standard residues are not scored (and said so)."""
from __future__ import annotations

import csv
import hashlib
import json
import os

import numpy as np
import pytest

from app.cli import main
from app.core.outputs import save_npy, write_scores_csv
from app.core.provenance import Provenance, edgefold_version

KEYS = {"model", "scheme", "pack_sha256", "method", "edgefold_version"}


def _sha(pack_dir):
    return hashlib.sha256((pack_dir / "manifest.json").read_bytes()).hexdigest()


def _check(prov, pack_dir, method):
    assert set(prov) == KEYS
    manifest = json.loads((pack_dir / "manifest.json").read_text())
    assert prov["model"] == manifest["name"] and prov["scheme"] == manifest["scheme"]
    assert prov["pack_sha256"] == _sha(pack_dir) and prov["method"] == method
    assert prov["edgefold_version"] == edgefold_version() and prov["edgefold_version"]


def test_score_csv_has_a_provenance_sidecar_and_stays_plain_csv(standin_pack_dir, tmp_path, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">sp|P0A7V0|RS2_ECOLI\nMKTAYIAKQR\n")
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(out),
                 "--method", "masked-marginal", "--threads", "1"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["record_id", "mutant", "score"] and len(rows) == 1 + 10 * 19  # no comment lines
    side = json.loads((tmp_path / "scores.csv.json").read_text())
    _check(side["provenance"], standin_pack_dir, "masked-marginal")
    assert side["records"] == ["sp|P0A7V0|RS2_ECOLI"] and side["rows"] == 190 and side["not_scored"] == 0
    assert "scores.csv.json" in capsys.readouterr().err


def test_nonstandard_residues_are_not_scored_not_written_and_said(standin_pack_dir, tmp_path, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">x\nMKXAYB\n")
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(out),
                 "--threads", "1"]) == 0
    with open(out, newline="") as f:
        mutants = [r["mutant"] for r in csv.DictReader(f)]
    assert len(mutants) == 4 * 19 and not any(m[0] in "XB" for m in mutants)  # was: X3K = +15.9 etc.
    assert json.loads((tmp_path / "scores.csv.json").read_text())["not_scored"] == 2 * 20
    err = capsys.readouterr().err
    assert "positions 3, 6" in err and "not scored" in err


def test_embed_writes_a_provenance_json_per_record(standin_pack_dir, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">sp|P1|X\nMKTAYIAKQR\n")
    out = tmp_path / "emb"
    assert main(["embed", "--model", str(standin_pack_dir), "--fasta", str(fasta), "--out", str(out),
                 "--threads", "1"]) == 0
    side = json.loads((out / "sp_P1_X.json").read_text())
    _check(side["provenance"], standin_pack_dir, "embedding")
    assert side["id"] == "sp|P1|X" and side["arrays"]["sp_P1_X.per_residue.npy"][0] == 10
    for name, shape in side["arrays"].items():
        assert list(np.load(out / name).shape) == shape


def test_fold_outputs_record_provenance(tmp_path, tmp_path_factory):
    pytest.importorskip("torch")
    gemmi = pytest.importorskip("gemmi")
    from exporter.esmfold.model import tiny_esmfold
    from exporter.esmfold.pack import write_folding_pack

    pack = write_folding_pack(tiny_esmfold(seed=0), tmp_path_factory.mktemp("packs") / "tf", "tiny_fold")
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n")
    out = tmp_path / "out"
    assert main(["fold", "--model", str(pack), "--fasta", str(fasta), "--out", str(out),
                 "--recycles", "0", "--threads", "1"]) == 0
    method = "esmfold (1 recycling pass)"
    _check(json.loads((out / "a.json").read_text())["provenance"], pack, method)
    pdb = (out / "a.pdb").read_text().splitlines()
    remarks = [ln for ln in pdb if ln.startswith("REMARK   2")]
    assert f"REMARK   2 {_sha(pack)}" in remarks and "REMARK   2 MODEL tiny_fold" in remarks
    assert all(len(ln) <= 80 for ln in remarks)
    assert len(gemmi.read_structure(str(out / "a.pdb"))[0]["A"]) == 10
    doc = gemmi.cif.read(str(out / "a.cif"))
    block = doc.sole_block()
    assert gemmi.cif.as_string(block.find_value("_edgefold.pack_sha256")) == _sha(pack)
    assert gemmi.cif.as_string(block.find_value("_edgefold.method")) == method
    assert len(gemmi.read_structure(str(out / "a.cif"))[0]["A"]) == 10


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_follow_the_umask(standin_pack_dir, tmp_path, umask, expected):
    prov = Provenance.of_pack(standin_pack_dir, "wt-marginal")
    old = os.umask(umask)
    try:
        write_scores_csv(tmp_path / "s.csv", [("p", "M1A", 0.5)], prov)
        save_npy(tmp_path / "a.npy", np.zeros(3))
    finally:
        os.umask(old)
    for name in ("s.csv", "s.csv.json", "a.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name
