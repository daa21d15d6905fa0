"""`python -m exporter --benchmark`: ProteinGym Spearman of the pack, recorded in its manifest."""
from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pytest

from exporter.benchmark import BenchmarkError, proteingym_benchmark
from packbuild.metrics import STANDARD, spearman, wt_marginal
from packbuild.sequences import TOKEN_IDS, encode
from exporter.testing import make_tiny_pack, tiny_loaded_model

from test_cli import SEQS, run, tiny_checkpoint, write_fasta

WILD_TYPES = {"ASSAY_ONE": "MKTAYIAKQRQISFVKSHFSRQLEERLG", "ASSAY_TWO": "GSHMLEDPVDAFQEMLQKLLE"}


def write_assays(directory, seed=0):
    """Two ProteinGym-format assays (one gzipped) with random DMS scores and a double mutant."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    for k, (name, wt) in enumerate(WILD_TYPES.items()):
        rows = []
        for pos in range(1, len(wt) + 1, 2):
            for mt in "ADKW":
                if mt != wt[pos - 1]:
                    seq = wt[:pos - 1] + mt + wt[pos:]
                    rows.append((f"{wt[pos - 1]}{pos}{mt}", seq, float(rng.normal())))
        m1, m2 = rows[0][0], rows[-1][0]
        double = list(wt)
        for m in (m1, m2):
            double[int(m[1:-1]) - 1] = m[-1]
        rows.append((f"{m1}:{m2}", "".join(double), 0.5))
        path = directory / (f"{name}.csv.gz" if k else f"{name}.csv")
        opener = gzip.open if k else open
        with opener(path, "wt", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["mutant", "mutated_sequence", "DMS_score"])
            w.writerows(rows)
    return directory


def expected_rho(assay_path) -> float:
    """The same Spearman, computed from the torch reference model (not the app's runtime)."""
    from exporter.proteingym import read_assay

    assay = read_assay(assay_path)
    logits = tiny_loaded_model(0).reference(encode(assay.wild_type), False)["logits"][0]
    matrix = wt_marginal(logits, assay.wild_type, TOKEN_IDS)
    scores = [sum(matrix[int(s[1:-1]) - 1, STANDARD.index(s[-1])] for s in code.split(":"))
              for code in assay.mutants]
    return spearman(np.array(scores), assay.scores)


def test_benchmark_matches_the_torch_model(tmp_path):
    assays = write_assays(tmp_path / "assays")
    pack = make_tiny_pack(tmp_path / "pack", "fp32", seed=0)
    result = proteingym_benchmark(pack, assays)
    assert result["n_assays"] == 2 and result["method"] == "wt-marginal"
    for name in WILD_TYPES:
        path = next(assays.glob(f"{name}.csv*"))
        assert result["assays"][name] == pytest.approx(expected_rho(path), abs=2e-4)
    assert result["mean_spearman"] == pytest.approx(np.mean(list(result["assays"].values())), abs=1e-4)
    assert len(result["assays_sha256"]) == 64


def test_benchmark_refuses_an_empty_directory(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(BenchmarkError, match="no ProteinGym assay files"):
        proteingym_benchmark(tmp_path, tmp_path / "none")


def test_cli_records_the_benchmark_beside_fidelity(tmp_path):
    assays = write_assays(tmp_path / "assays")
    fasta = write_fasta(tmp_path / "cal.fasta", SEQS)
    res = run(tiny_checkpoint(tmp_path), "--schemes", "fp32,int8", "--out", tmp_path / "packs", "--calibration",
              fasta, "--verify", fasta, "--calibration-size", "4", "--benchmark", assays)
    assert res.returncode == 0, res.stderr
    for scheme in ("fp32", "int8"):
        manifest = json.loads((tmp_path / "packs" / scheme / "manifest.json").read_text())
        assert manifest["benchmark"]["n_assays"] == 2 and "logits_sqnr_db" in manifest["accuracy"]
        # provenance names files, never the exporting machine's absolute paths
        assert str(tmp_path) not in json.dumps(manifest)


def test_cli_refuses_a_bad_benchmark_directory_before_exporting(tmp_path):
    res = run(tiny_checkpoint(tmp_path), "--schemes", "fp32", "--out", tmp_path / "packs",
              "--benchmark", tmp_path / "missing")
    assert res.returncode == 2 and "--benchmark" in res.stderr and not (tmp_path / "packs").exists()
