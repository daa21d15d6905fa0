"""Per-scheme accuracy on ProteinGym assays (Spearman to DMS_score) and CASP contact precision."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from packbuild.metrics import spearman
from packbuild.sequences import encode

from .contacts import precision_at, read_structure, true_contacts
from exporter.proteingym import read_assay
from .scoring import app_matrix, masked_marginal_matrix, score_mutants, wt_marginal_matrix

log = logging.getLogger(__name__)
MAX_RESIDUES = 1022


def matrix(runner, seq: str, method: str, batch: int = 16) -> np.ndarray:
    """(L, 20) scores: the app's score_matrix when the runner goes through app.core, else bench.scoring."""
    if runner.app_runtime is not None:
        return app_matrix(runner.app_runtime, seq, method, batch)
    logits: Callable = lambda t: runner.run(t, ("logits",))["logits"]
    if method == "wt-marginal":
        return wt_marginal_matrix(logits, seq, MAX_RESIDUES)
    return masked_marginal_matrix(logits, seq, MAX_RESIDUES, batch)


def score_assays(runner, paths: Sequence[Path], methods: Sequence[str], batch: int = 16) -> dict:
    """{assay: {"length", "n", method: {"rho": Spearman to DMS, "scores": model scores}, "seconds"}}."""
    out = {}
    for path in paths:
        assay = read_assay(path)
        row: dict = {"length": len(assay.wild_type), "n": len(assay.mutants)}
        for method in methods:
            t0 = time.perf_counter()
            scores = score_mutants(matrix(runner, assay.wild_type, method, batch), assay.wild_type, assay.mutants)
            row[method] = {"rho": spearman(scores, assay.scores), "scores": scores,
                           "seconds": time.perf_counter() - t0}
        log.info("%s %s: %s", runner.scheme, assay.name,
                 ", ".join(f"{m} {row[m]['rho']:.3f}" for m in methods))
        out[assay.name] = row
    return out


def score_contacts(runner, paths: Sequence[Path], min_sep: int = 24, fraction: float = 0.2) -> dict:
    """{target: {"length", "precision"}} for structures of at most 1022 observed residues; longer ones
    are listed with "skipped"."""
    out = {}
    for path in paths:
        st = read_structure(path)
        if len(st.sequence) > MAX_RESIDUES:
            out[st.name] = {"length": len(st.sequence), "skipped": f"longer than {MAX_RESIDUES} residues"}
            continue
        pred = runner.run(encode(st.sequence), ("contacts",))["contacts"][0]  # (L, L)
        out[st.name] = {"length": len(st.sequence),
                        "precision": precision_at(pred, true_contacts(st.coords), min_sep, fraction),
                        "top_pairs": top_pairs(pred, min_sep, fraction)}
    return out


def top_pairs(pred: np.ndarray, min_sep: int = 24, fraction: float = 0.2) -> list[tuple[int, int]]:
    """The top `fraction * L` predicted pairs (i < j, j - i >= min_sep), as (i, j)."""
    i, j = np.triu_indices(pred.shape[0], k=min_sep)
    order = np.argsort(-pred[i, j], kind="stable")[:max(1, int(pred.shape[0] * fraction))]
    return [(int(a), int(b)) for a, b in zip(i[order], j[order])]


def contact_overlap(contacts: dict, reference: dict) -> dict[str, float]:
    """Per target, the fraction of the reference scheme's top long-range pairs this scheme also predicts."""
    out = {}
    for t, c in contacts.items():
        ref = reference.get(t, {}).get("top_pairs")
        if ref and "top_pairs" in c:
            out[t] = len(set(c["top_pairs"]) & set(ref)) / len(ref)
    return out


def fidelity(assays: dict, reference: dict, method: str) -> dict[str, float]:
    """Per assay, Spearman between this scheme's and the reference (fp32) scheme's variant scores."""
    return {a: spearman(row[method]["scores"], reference[a][method]["scores"])
            for a, row in assays.items() if method in row and a in reference}
