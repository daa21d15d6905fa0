"""Run one batch item (score or fold one record) and write the files the CLI writes for it (no Qt).

Shared by the GUI's batch queue and `python -m app fold`, so that both write the same files with
the same provenance: scores as `<stem>.csv` + `<stem>.csv.json` (app.core.outputs), structures as
`<stem>.pdb/.cif/.json/.pae.json` (app.core.fold.outputs).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .batch_queue import BatchError, BatchItem, PackRef
from .fasta import MAX_SCORE_RESIDUES, check_lengths
from .jobs import CancelToken, Progress, check
from .mutants import all_single_mutants
from .outputs import sidecar_path, write_scores_csv
from .provenance import Provenance

if TYPE_CHECKING:  # heavy imports stay lazy: a score-only batch never loads the folding code
    from .fold.parts import FoldingParts
    from .runtime import Esm2Runtime


@dataclass(frozen=True)
class ItemOutcome:
    """What one finished item wrote and measured."""

    outputs: list[Path]
    method: str
    seconds: float
    mean_plddt: Optional[float] = None
    ptm: Optional[float] = None


def pack_ref(pack_dir: Union[str, Path], name: Optional[str] = None, scheme: Optional[str] = None) -> PackRef:
    """The PackRef of a pack directory (name, scheme and sha256 from its manifest.json)."""
    prov = Provenance.of_pack(pack_dir, "", name, scheme)
    return PackRef(str(Path(pack_dir)), prov.model, prov.scheme, prov.pack_sha256)


def check_pack(ref: PackRef) -> None:
    """BatchError unless the pack at ref.path is still the one the batch started with (its
    manifest's sha256): a batch's records must all come from one model."""
    try:
        now = pack_ref(ref.path).sha256
    except OSError as e:
        raise BatchError(f"{ref.path}: the batch's pack {ref.model} cannot be read ({e.strerror or e})") from None
    if now != ref.sha256:
        raise BatchError(f"{ref.path}: the pack changed since the batch started (manifest sha256 "
                         f"{now[:12]}..., the batch used {ref.sha256[:12]}...); use a new output folder")


def score_item(runtime: "Esm2Runtime", item: BatchItem, out_dir: Union[str, Path], method: str,
               progress: Optional[Progress] = None, cancel: Optional[CancelToken] = None) -> ItemOutcome:
    """Every single substitution of the record, as `python -m app score` writes them."""
    from .scoring import score_matrix, score_mutants

    t0 = time.perf_counter()
    check_lengths([item.record()], MAX_SCORE_RESIDUES, "score")
    matrix = score_matrix(runtime, item.sequence, method, progress=progress, cancel=cancel)
    check(cancel)
    names = list(all_single_mutants(item.sequence))
    rows = [(item.record_id, n, float(s)) for n, s in zip(names, score_mutants(matrix, names))]
    provenance = Provenance.of_pack(runtime.pack.path, method, runtime.pack.name, runtime.pack.scheme)
    path = Path(out_dir) / f"{item.stem}.csv"
    write_scores_csv(path, rows, provenance)
    return ItemOutcome([path, sidecar_path(path)], method, time.perf_counter() - t0)


def fold_item(parts: "FoldingParts", pack: PackRef, item: BatchItem, out_dir: Union[str, Path],
              recycles: Optional[int] = None, progress: Optional[Progress] = None,
              cancel: Optional[CancelToken] = None) -> ItemOutcome:
    """Fold the record and write PDB, mmCIF, confidence JSON and PAE JSON, as `python -m app fold`."""
    from .fold.driver import fold
    from .fold.outputs import fold_method, write_fold_outputs

    t0 = time.perf_counter()
    result = fold(parts, item.sequence, num_recycles=recycles, progress=progress, cancel=cancel,
                  record=item.record_id)
    check(cancel)
    method = fold_method(result)
    provenance = Provenance.of_pack(pack.path, method, pack.model, pack.scheme)
    paths = write_fold_outputs(result, out_dir, item.stem, item.record_id, provenance)
    return ItemOutcome(paths, method, time.perf_counter() - t0, float(np.mean(result.residue_plddt)),
                       float(result.ptm))


def failure_reason(exc: BaseException) -> str:
    """The text a failed record keeps: the message of an error about the input, else its type too."""
    if isinstance(exc, (ValueError, MemoryError, OSError)) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def load_scores(path: Union[str, Path], item: BatchItem) -> np.ndarray:
    """(L, 20) scores of `item` read back from the scores CSV it wrote (columns in STANDARD_AA order):
    0 at the wild type, NaN where nothing was written (a non-standard residue is not scored)."""
    import csv

    from .fasta import STANDARD_AA

    scores = np.full((item.length, len(STANDARD_AA)), np.nan)
    for i, wt in enumerate(item.sequence):
        if wt in STANDARD_AA:
            scores[i, STANDARD_AA.index(wt)] = 0.0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = row.get("mutant") or ""
            if row.get("record_id") != item.record_id or len(code) < 3 or ":" in code:
                continue
            pos, mt = int(code[1:-1]), code[-1]
            if not (1 <= pos <= item.length and mt in STANDARD_AA):
                raise BatchError(f"{path}: mutant {code!r} does not fit record {item.record_id!r}")
            scores[pos - 1, STANDARD_AA.index(mt)] = float(row["score"])
    return scores
