"""Verification of a delta pack through the app runtime: logits SQNR vs the full fine-tune, assay Spearman.

    logits SQNR (dB), pooled over residue positions of held-out sequences, against the torch
    fine-tune: of the base pack (how far the fine-tune moved) and of base + delta (what is left).
    With an assay: zero-shot wt-marginal Spearman of the base pack, a full fp32 fine-tune pack and
    base + delta, each scored by app.core.scoring on the pack as the app loads it.
"""
from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from packbuild.metrics import sqnr_db, spearman
from packbuild.sequences import encode

log = logging.getLogger(__name__)


def runtime(pack_dir: Path, threads: Optional[int] = None):
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime

    return Esm2Runtime(load_pack(pack_dir), threads=threads)


def logits_sqnr(rt, sequences: Sequence[str], references: Sequence[np.ndarray]) -> float:
    """SQNR of the runtime's residue logits against reference logits (B=1 each), pooled."""
    ref, got = [], []
    for seq, r in zip(sequences, references):
        out = rt.run(encode(seq), ("logits",))["logits"]
        ref.append(r[0, 1:-1].ravel())
        got.append(out[0, 1:-1].ravel())
    return round(sqnr_db(np.concatenate(ref), np.concatenate(got)), 2)


def assay_spearman(rt, assay) -> Optional[float]:
    from app.core.scoring import score_matrix, score_mutants

    rho = spearman(score_mutants(score_matrix(rt, assay.wild_type, "wt-marginal"), assay.mutants), assay.scores)
    return round(float(rho), 4) if math.isfinite(rho) else None


def finetune_pack(finetuned, out_dir: Path) -> Path:
    """A full fp32 pack of the fine-tune (no verification), for the comparison."""
    from .pipeline import ExportOptions, Exporter

    return Exporter(finetuned, [], ExportOptions()).export("fp32", out_dir).path


def verify_delta(staged: Path, base_dir: Path, finetuned, sequences: Sequence[str], assay=None,
                 threads: Optional[int] = None, cache: Optional[dict] = None) -> dict:
    """The `delta.verification` of a staged delta pack; `cache` keeps base / fine-tune results
    between calls for the same (base, fine-tune) (bench: many ratios and methods)."""
    cache = {} if cache is None else cache
    if "references" not in cache:
        cache["references"] = [finetuned.reference(encode(s), False)["logits"] for s in sequences]
    refs = cache["references"]
    if "base_sqnr" not in cache:
        base_rt = runtime(base_dir, threads)
        cache["base_sqnr"] = logits_sqnr(base_rt, sequences, refs)
        if assay is not None:
            cache["base_spearman"] = assay_spearman(base_rt, assay)
    delta_rt = runtime(staged, threads)
    out = {"reference": "full fine-tune (torch fp32)", "n_sequences": len(sequences),
           "logits_sqnr_db": logits_sqnr(delta_rt, sequences, refs), "base_logits_sqnr_db": cache["base_sqnr"]}
    if assay is not None:
        if "ft_spearman" not in cache:
            with tempfile.TemporaryDirectory() as tmp:
                cache["ft_spearman"] = assay_spearman(runtime(finetune_pack(finetuned, Path(tmp) / "ft"), threads),
                                                      assay)
        rho = assay_spearman(delta_rt, assay)
        out["assay"] = {"name": assay.name, "metric": "spearman", "method": "wt-marginal",
                        "base": cache["base_spearman"], "finetune": cache["ft_spearman"], "base+delta": rho}
    return out


def table(v: dict) -> str:
    """The verification as a small markdown table (printed by the CLI)."""
    rows = [("logits SQNR vs full fine-tune (dB)", v.get("base_logits_sqnr_db"), "-", v.get("logits_sqnr_db"))]
    a = v.get("assay")
    if a:
        rows.append((f"{a['name']} Spearman ({a['method']})", a["base"], a["finetune"], a["base+delta"]))
    lines = ["| measure | base | full fine-tune | base + delta |", "|---|---|---|---|"]
    lines += [f"| {m} | {b} | {f} | {d} |" for m, b, f, d in rows]
    return "\n".join(lines)
