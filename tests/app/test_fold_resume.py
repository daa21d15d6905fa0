"""`python -m app fold --resume`: a batch interrupted or killed goes on where it stopped; the summary CSV
holds each record's pLDDT / pTM (app.core.batch_queue, shared with the GUI's batch queue)."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil

import pytest

import app.core.fold.driver as driver
from app.cli import main
from app.core.batch_queue import STATE_FILE, SUMMARY_FILE
from test_fold_cli import folding_pack  # noqa: F401 - the module's tiny folding pack fixture, shared

SEQS = {"sp|P0A7V0|RS2_ECOLI": "MKTAYIAKQRQISFVKSHFSRQ", "second": "GSHMLEDPVDAFQEMLQWAXCRKH",
        "third": "MSTNPKPQRKTKRNTNRRPQD"}


@pytest.fixture()
def fasta(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text("".join(f">{k}\n{v}\n" for k, v in SEQS.items()))
    return path


class Calls(list):
    """The sequences driver.fold was called with; `stop_at = n` raises Ctrl-C on the n-th call."""

    stop_at = None


@pytest.fixture()
def folded(monkeypatch):
    real, calls = driver.fold, Calls()

    def counting(parts, sequence, **kw):
        calls.append(sequence)
        if calls.stop_at == len(calls):
            raise KeyboardInterrupt
        return real(parts, sequence, **kw)

    monkeypatch.setattr(driver, "fold", counting)
    return calls


def summary(out):
    with open(out / SUMMARY_FILE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run(pack, fasta, out, *extra):
    return main(["fold", "--model", str(pack), "--fasta", str(fasta), "--out", str(out), "--recycles", "0",
                 "--threads", "1", *extra])


def test_resume_skips_the_records_folded_before_the_interrupt(folding_pack, fasta, tmp_path, folded, capsys):
    out = tmp_path / "out"
    folded.stop_at = 2
    assert run(folding_pack, fasta, out) == 130
    assert "add --resume" in capsys.readouterr().err
    state = json.loads((out / STATE_FILE).read_text())
    assert [i["status"] for i in state["items"]] == ["done", "waiting", "waiting"]
    before = (out / "sp_P0A7V0_RS2_ECOLI.pdb").read_bytes()
    folded.stop_at = None
    folded.clear()
    assert run(folding_pack, fasta, out, "--resume") == 0
    assert "resuming: 1 of 3 record(s)" in capsys.readouterr().err
    assert folded == [SEQS["second"], SEQS["third"]]  # the first record is not folded again
    assert (out / "sp_P0A7V0_RS2_ECOLI.pdb").read_bytes() == before
    rows = summary(out)
    assert [(r["record"], r["status"], r["length"]) for r in rows] == [(k, "done", str(len(v))) for k, v in SEQS.items()]
    manifest_sha = hashlib.sha256((folding_pack / "manifest.json").read_bytes()).hexdigest()
    for row in rows:
        conf = json.loads((out / f"{row['outputs'].split(';')[0].rsplit('.', 1)[0]}.json").read_text())
        assert conf["id"] == row["record"]
        assert float(row["mean_plddt"]) == pytest.approx(conf["mean_plddt"], abs=1e-3)
        assert float(row["ptm"]) == pytest.approx(conf["ptm"], abs=1e-5)
        assert row["model"] == "tiny_fold" and row["pack_sha256"] == manifest_sha == conf["provenance"]["pack_sha256"]
        assert row["method"] == conf["provenance"]["method"] == "esmfold (1 recycling pass)"
        assert all((out / name).is_file() for name in row["outputs"].split(";"))
    assert rows[0]["outputs"].split(";") == [f"sp_P0A7V0_RS2_ECOLI{x}" for x in (".pdb", ".cif", ".json", ".pae.json")]


def test_resume_refolds_a_record_whose_files_are_gone_and_new_records(folding_pack, fasta, tmp_path, folded):
    out = tmp_path / "out"
    assert run(folding_pack, fasta, out) == 0
    (out / "second.cif").unlink()
    fasta.write_text(fasta.read_text() + ">fourth\nMKKLLPT\n")
    folded.clear()
    assert run(folding_pack, fasta, out, "--resume") == 0
    assert folded == [SEQS["second"], "MKKLLPT"]
    assert [r["status"] for r in summary(out)] == ["done"] * 4 and (out / "second.cif").is_file()


def test_without_resume_every_record_is_folded_again(folding_pack, fasta, tmp_path, folded):
    out = tmp_path / "out"
    assert run(folding_pack, fasta, out) == 0
    folded.clear()
    assert run(folding_pack, fasta, out) == 0
    assert folded == list(SEQS.values())


def test_resume_with_another_pack_or_other_recycles_is_refused(folding_pack, fasta, tmp_path, folded, capsys):
    out = tmp_path / "out"
    folded.stop_at = 2
    assert run(folding_pack, fasta, out) == 130
    other = tmp_path / "other_fold"
    shutil.copytree(folding_pack, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["name"] = "other_fold"
    (other / "manifest.json").write_text(json.dumps(manifest))
    (other / "manifest.sha256").unlink(missing_ok=True)
    capsys.readouterr()
    folded.stop_at = None
    assert run(other, fasta, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "tiny_fold" in err and "other_fold" in err and "another output folder" in err
    assert main(["fold", "--model", str(folding_pack), "--fasta", str(fasta), "--out", str(out),
                 "--recycles", "1", "--resume"]) == 2
    assert "recycles" in capsys.readouterr().err
    assert json.loads((out / STATE_FILE).read_text())["packs"]["fold"]["model"] == "tiny_fold"  # untouched


def test_resume_in_an_empty_folder_folds_everything(folding_pack, fasta, tmp_path, folded, capsys):
    assert run(folding_pack, fasta, tmp_path / "new", "--resume") == 0
    assert f"no batch state ({STATE_FILE})" in capsys.readouterr().err and len(folded) == 3
