"""What a pack is good for: ProteinGym zero-shot Spearman, measured through the app's own runtime.

`python -m exporter MODEL --benchmark ASSAY_DIR` records the result in each pack's manifest under
`benchmark`, beside `accuracy` (which is only the quantized graph's fidelity to the float model):

    "benchmark": {"suite": "ProteinGym DMS substitutions", "metric": "spearman", "method": "wt-marginal",
                  "n_assays": 44, "mean_spearman": 0.139, "assays": {"<assay>": 0.21, ...},
                  "assays_sha256": "<hash of the assay files' names and bytes>"}
"""
from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import Optional

import numpy as np

from app.core.jobs import Progress

from packbuild.metrics import spearman
from .proteingym import assay_paths, read_assay

log = logging.getLogger(__name__)
SUITE = "ProteinGym DMS substitutions"
METHODS = ("wt-marginal", "masked-marginal")


class BenchmarkError(ValueError):
    """A benchmark that cannot run: names the assay directory or the assay."""


def assays_digest(paths: list[Path]) -> str:
    """sha256 over the assay files' names and contents (which data the benchmark saw)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def proteingym_benchmark(pack_dir: Path, assay_dir: Path, method: str = "wt-marginal",
                         threads: Optional[int] = None, progress: Optional[Progress] = None) -> dict:
    """Mean Spearman (model score vs DMS_score) over the ProteinGym-format assays of `assay_dir`,
    scoring through app.core (the pack as the app loads it)."""
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime
    from app.core.scoring import score_matrix, score_mutants

    if method not in METHODS:
        raise BenchmarkError(f"benchmark method {method!r}: expected one of {', '.join(METHODS)}")
    paths = assay_paths(Path(assay_dir)) if Path(assay_dir).is_dir() else []
    if not paths:
        raise BenchmarkError(f"{assay_dir}: no ProteinGym assay files (*.csv, *.csv.gz)")
    runtime = Esm2Runtime(load_pack(pack_dir), threads=threads)
    per_assay: dict[str, float] = {}
    for k, path in enumerate(paths):
        assay = read_assay(path)
        if progress:
            progress(k, len(paths), f"benchmark {assay.name}")
        matrix = score_matrix(runtime, assay.wild_type, method)
        rho = spearman(score_mutants(matrix, assay.mutants), assay.scores)
        per_assay[assay.name] = round(rho, 4) if math.isfinite(rho) else None
        log.info("benchmark %s: %s", assay.name, per_assay[assay.name])
    if progress:
        progress(len(paths), len(paths), "benchmark done")
    values = [v for v in per_assay.values() if v is not None]
    return {"suite": SUITE, "metric": "spearman", "method": method, "n_assays": len(values),
            "mean_spearman": round(float(np.mean(values)), 4) if values else None,
            "assays": per_assay, "assays_sha256": assays_digest(paths)}
