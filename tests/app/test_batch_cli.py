"""`python -m app score|embed` over many records: length-sorted packed batches give the outputs of
one record per pass, shards + summary.csv + merged scores.csv in --out DIR, and --resume skips
what a killed or failed run finished (issue 13 section 2, issue 12 section 2 CLI)."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.__main__ import main
from app.core import batch_jobs
from app.core.batch_jobs import Meter
from app.core.batching import Batch, batching_is_exact, padding_fraction, plan_batches
from app.core.embedding import embed_sequence
from app.core.fasta import read_fasta
from app.core.mutants import all_single_mutants
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime, InferenceError
from app.core.scoring import score_matrix, score_mutants

AA = "ACDEFGHIKLMNPQRSTVWY"
REPO = Path(__file__).resolve().parents[2]


def _fasta(path: Path, n: int = 40, seed: int = 1, lo: int = 4, hi: int = 70) -> Path:
    rng = np.random.default_rng(seed)
    path.write_text("".join(f">sp|P{i:05d}|R{i}\n{''.join(rng.choice(list(AA), int(rng.integers(lo, hi))))}\n"
                            for i in range(n)))
    return path


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="") as f:
        return {r["record"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def int8_pack(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from exporter import testing

    return testing.make_tiny_pack(tmp_path_factory.mktemp("tiny8") / "int8", "int8", seed=0, contacts=False)


@pytest.fixture
def passes(monkeypatch) -> list[tuple[int, int]]:
    """(rows, width) of every onnxruntime pass."""
    shapes = []
    real = Esm2Runtime.run

    def spy(self, tokens, outputs=("logits",)):
        shapes.append(tuple(np.asarray(tokens).shape))
        return real(self, tokens, outputs)
    monkeypatch.setattr(Esm2Runtime, "run", spy)
    return shapes


def test_plan_batches_sorted_within_budget_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(50, 1000, 500)]
    batches = plan_batches(lengths, token_budget=4096, max_rows=64)
    assert sorted(i for b in batches for i in b.indices) == list(range(500))
    for b in batches:
        assert b.width == max(lengths[i] for i in b.indices) + 2
        assert b.tokens <= 4096 or len(b.indices) == 1
        assert [lengths[i] for i in b.indices] == sorted(lengths[i] for i in b.indices)
    assert padding_fraction(batches, lengths) < 0.03
    assert len(batches) < 250  # it does pack: 500 records in fewer passes
    assert plan_batches([3000, 5], token_budget=100) == [Batch((1,), 7), Batch((0,), 3002)]  # too long: alone
    same = plan_batches([5, 5, 6, 6, 6], token_budget=100, equal_lengths=True)
    assert [b.indices for b in same] == [(0, 1), (2, 3, 4)]


@pytest.mark.parametrize("which", ["fp32", "int8"])
def test_packed_scores_equal_one_record_per_pass(which, tiny_pack_dir, int8_pack, tmp_path, passes):
    pack = tiny_pack_dir if which == "fp32" else int8_pack
    fa = _fasta(tmp_path / "in.fa")
    assert main(["score", "--model", str(pack), "--fasta", str(fa), "--out", str(tmp_path / "out"),
                 "--threads", "1", "--chunk", "7"]) == 0
    assert max(rows for rows, _ in passes) > 4  # records shared passes
    packed = _rows(tmp_path / "out" / "scores.csv")
    rt = Esm2Runtime(load_pack(pack), threads=1)
    expected = [["record_id", "mutant", "score"]]
    for rec in read_fasta(fa):  # what `score` computed before packing: one record per pass
        names = list(all_single_mutants(rec.sequence))
        expected += [[rec.id, n, s] for n, s in zip(names, score_mutants(score_matrix(rt, rec.sequence), names))]
    assert [r[:2] for r in packed] == [r[:2] for r in expected]
    got = np.array([float(r[2]) for r in packed[1:]])
    want = np.array([r[2] for r in expected[1:]])
    assert np.max(np.abs(got - want)) < 2e-5 * max(1.0, np.max(np.abs(want)))
    single = tmp_path / "single.csv"  # the file form and --token-budget 1 (batch 1) agree too
    assert main(["score", "--model", str(pack), "--fasta", str(fa), "--out", str(single), "--threads", "1",
                 "--token-budget", "1"]) == 0
    one = _rows(single)
    assert [r[:2] for r in one] == [r[:2] for r in packed]
    assert np.max(np.abs(np.array([float(r[2]) for r in one[1:]]) - got)) < 2e-5 * max(1.0, np.max(np.abs(want)))
    sidecar = json.loads((tmp_path / "out" / "scores.csv.json").read_text())
    assert sidecar["rows"] == len(packed) - 1 and sidecar["provenance"]["scheme"] == which


@pytest.mark.parametrize("contacts", [False, True])
def test_packed_embeddings_equal_one_record_per_pass(contacts, tiny_pack_dir, tmp_path, passes):
    fa = tmp_path / "in.fa"
    # pairs of equal lengths, so that even the contact head (equal lengths only) gets to pack
    fa.write_text("".join(f">r{i}\n{'MKTAYIAKQRGWLC'[: 5 + i // 2]}{AA[i % 20] * 3}\n" for i in range(12)))
    argv = ["embed", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--out", str(tmp_path / "e"), "--threads", "1"]
    assert main(argv + (["--contacts"] if contacts else [])) == 0
    assert max(rows for rows, _ in passes) >= 2
    rt = Esm2Runtime(load_pack(tiny_pack_dir), threads=1)
    for rec in read_fasta(fa):
        ref = embed_sequence(rt, rec.sequence, contacts=contacts)
        got = np.load(tmp_path / "e" / f"{rec.id}.per_residue.npy")
        np.testing.assert_allclose(got, ref.per_residue, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.load(tmp_path / "e" / f"{rec.id}.mean.npy"), ref.mean, rtol=1e-5, atol=1e-5)
        if contacts:
            np.testing.assert_allclose(np.load(tmp_path / "e" / f"{rec.id}.contacts.npy"), ref.contacts,
                                       rtol=1e-5, atol=1e-6)
    summary = _summary(tmp_path / "e")
    assert {r["status"] for r in summary.values()} == {"done"} and summary["r0"]["shard"] == "r0.json"


def test_a_pack_whose_rows_interact_runs_one_record_per_pass(standin_pack_dir, tmp_path, passes, capsys):
    """The stand-in graph averages over every token (padding too): the probe sees it, and no
    pass packs two records."""
    assert not batching_is_exact(Esm2Runtime(load_pack(standin_pack_dir), threads=1))
    fa = _fasta(tmp_path / "in.fa", n=6)
    del passes[:]
    assert main(["score", "--model", str(standin_pack_dir), "--fasta", str(fa), "--out", str(tmp_path / "o"),
                 "--threads", "1"]) == 0
    assert "one record per pass" in capsys.readouterr().err
    assert [rows for rows, _ in passes[-6:]] == [1] * 6 and max(r for r, _ in passes) == 2  # 2: the probe


def test_interrupted_run_resumes_to_the_same_outputs(tiny_pack_dir, tmp_path, monkeypatch, capsys):
    fa = _fasta(tmp_path / "in.fa", n=30)
    full, part = tmp_path / "full", tmp_path / "part"
    argv = ["score", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--threads", "1", "--chunk", "5",
            "--token-budget", "300"]
    assert main(argv + ["--out", str(full)]) == 0
    real, calls = batch_jobs.compute, []

    def stop_on_fourth(planner, batch):
        calls.append(len(batch))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(planner, batch)
    monkeypatch.setattr(batch_jobs, "compute", stop_on_fourth)
    assert main(argv + ["--out", str(part)]) == 130
    first = _summary(part)
    done_before = sum(r["status"] == "done" for r in first.values())
    assert 0 < done_before < 30 and not (part / "scores.csv").exists()
    assert {r["status"] for r in first.values()} == {"done", "not run"}
    assert main(argv + ["--out", str(part)]) == 2  # without --resume: refused, nothing overwritten
    assert "--resume" in capsys.readouterr().err
    calls.clear()
    monkeypatch.setattr(batch_jobs, "compute", lambda p, b: calls.append(len(b)) or real(p, b))
    assert main(argv + ["--out", str(part), "--resume"]) == 0
    assert sum(calls) == 30 - done_before  # only the rest was computed
    assert (part / "scores.csv").read_bytes() == (full / "scores.csv").read_bytes()
    assert {r["status"] for r in _summary(part).values()} == {"done"}
    assert f"skipped {done_before} already done" in capsys.readouterr().err


def test_killed_process_resumes_to_the_same_outputs(tiny_pack_dir, tmp_path):
    """SIGKILL (no cleanup at all) after the first shard is committed; --resume finishes it."""
    fa = _fasta(tmp_path / "in.fa", n=120, lo=80, hi=200)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "app", "score", "--model", str(tiny_pack_dir), "--fasta", str(fa),
            "--threads", "1", "--chunk", "8", "--out"]
    out = tmp_path / "out"
    proc = subprocess.Popen(argv + [str(out)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "shards").glob("*.json")) if (out / "shards").is_dir() else True:
            assert proc.poll() is None and time.monotonic() < deadline, "no shard was committed"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    committed = len(list((out / "shards").glob("*.json")))
    assert committed < 15
    res = subprocess.run(argv + [str(out), "--resume"], env=env, stderr=subprocess.PIPE, text=True)
    assert res.returncode == 0, res.stderr
    skipped = int(res.stderr.split("resume: ")[1].split(" of ")[0])
    assert skipped >= 8 * committed - 8 and skipped < 120
    fresh = tmp_path / "fresh.csv"
    assert subprocess.run(argv + [str(fresh)], env=env).returncode == 0
    assert (out / "scores.csv").read_bytes() == fresh.read_bytes()


def test_a_failing_record_is_reported_and_retried_on_resume(tiny_pack_dir, tmp_path, monkeypatch, capsys):
    fa = tmp_path / "in.fa"
    fa.write_text(">ok1\nMKTAYIAKQR\n>bad\nMKTAYWWWWW\n>ok2\nMKTAYIAKQE\n")
    real = Esm2Runtime.run
    bad_id = load_pack(tiny_pack_dir).alphabet["tokens"].index("W")

    def fail_on_w(self, tokens, outputs=("logits",)):
        if (np.asarray(tokens) == bad_id).sum() >= 5:
            raise InferenceError("output 'logits' has NaN")
        return real(self, tokens, outputs)
    monkeypatch.setattr(Esm2Runtime, "run", fail_on_w)
    out = tmp_path / "out"
    argv = ["score", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--out", str(out), "--threads", "1"]
    assert main(argv) == 1
    assert "1 failed" in capsys.readouterr().err
    summary = _summary(out)
    assert [summary[r]["status"] for r in ("ok1", "bad", "ok2")] == ["done", "failed", "done"]
    assert "record 'bad'" in summary["bad"]["error"] and "NaN" in summary["bad"]["error"]
    assert summary["bad"]["shard"] == "" and summary["ok1"]["shard"].startswith("shards/score-")
    assert {r[0] for r in _rows(out / "scores.csv")[1:]} == {"ok1", "ok2"}
    assert json.loads((out / "scores.csv.json").read_text())["missing"] == ["bad"]
    monkeypatch.setattr(Esm2Runtime, "run", real)
    assert main(argv + ["--resume"]) == 0
    assert "resume: 2 of 3" in capsys.readouterr().err
    assert [r[0] for r in _rows(out / "scores.csv")[1:]][::19][:3] == ["ok1"] * 3
    assert {r["status"] for r in _summary(out).values()} == {"done"}


def test_resume_with_other_settings_or_a_file_is_refused(tiny_pack_dir, tmp_path, capsys):
    fa = _fasta(tmp_path / "in.fa", n=3)
    out = tmp_path / "out"
    base = ["score", "--model", str(tiny_pack_dir), "--fasta", str(fa), "--threads", "1"]
    assert main(base + ["--out", str(out)]) == 0
    assert main(base + ["--out", str(out), "--resume", "--method", "masked-marginal"]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "method" in err
    assert main(base + ["--out", str(tmp_path / "x.csv"), "--resume"]) == 2
    assert "--resume needs --out DIR" in capsys.readouterr().err


def test_meter_reports_rates_and_eta():
    now = [0.0]
    m = Meter(records=100, residues=10_000, clock=lambda: now[0])
    now[0] = 10.0
    m.add(20, 2_000)
    assert m.rates() == (2.0, 200.0)
    assert m.line() == "[20/100 records, 2.0 seq/s, 200 residues/s, ETA 0m40s]"


def test_a_pwlq8_tokens_pack_packs_exactly(tmp_path):
    """pwlq8's tokens form gives every token row its own grid, so rows of a batch stay
    independent: the probe allows packing and packed scores equal one record per pass."""
    pytest.importorskip("torch")
    from exporter.pipeline import ExportOptions, export_pack
    from exporter.scheme_options import scheme_config
    from exporter.testing import TINY_CALIBRATION, tiny_loaded_model

    config = scheme_config("pwlq8", split="always")
    assert config.linear_form == "tokens"
    result = export_pack(tiny_loaded_model(0), config, tmp_path / "pwlq8", TINY_CALIBRATION,
                         ExportOptions(contacts=False, verify_sequences=TINY_CALIBRATION[:2]))
    sites = json.loads((result.path / "manifest.json").read_text())["scheme_config"]["sites"]
    assert {s["form"] for s in sites if s["kind"] == "linear"} == {"tokens"}
    runtime = Esm2Runtime(load_pack(result.path), threads=1)
    assert batching_is_exact(runtime)
    from app.core.batching import run_packed

    seqs = ["MKTAYIAKQR", "GSHMLEDPVA", "MVLSPADKTNVKAAWGKVGAHAGE"]
    packed = run_packed(runtime, seqs, ("logits",))
    for seq, out in zip(seqs, packed):
        single = run_packed(runtime, [seq], ("logits",))[0]
        np.testing.assert_allclose(out["logits"], single["logits"], rtol=1e-5, atol=1e-5)
