"""The folding job the fold panel runs in a worker: verify and open the pack (cached), fold, write files."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core import pack as core_pack
from app.core.fasta import Record
from app.core.fold.driver import FoldResult, fold
from app.core.fold.memory import FoldMemoryError
from app.core.fold.mmcif import to_mmcif
from app.core.fold.outputs import fold_method, with_provenance
from app.core.fold.parts import FoldingParts, FoldPackError, open_parts
from app.core.fold.pdb import to_pdb
from app.core.fold.residues import SequenceError
from app.core.jobs import CancelToken, Progress, check, report
from app.core.provenance import Provenance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldOutcome:
    """A folded record: the core result plus its PDB and mmCIF texts (pLDDT 0-100 in B-factors)."""

    record: Record
    pack_name: str
    scheme: str
    result: FoldResult = field(repr=False)
    pdb: str = field(repr=False)
    cif: str = field(repr=False)
    seconds: float

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.result.residue_plddt))

    @property
    def ptm(self) -> float:
        return float(self.result.ptm)

    def summary(self) -> str:
        r = self.result
        return (f"{self.record.id}: {len(r.sequence)} residues, mean pLDDT {self.mean_plddt:.1f}, "
                f"pTM {self.ptm:.3f}, {r.passes} passes, {self.seconds:.1f} s with {self.pack_name} ({self.scheme})")


class PartsCache:
    """Keeps the last folding pack's sessions; the pack's hashes are checked once, when it is opened."""

    def __init__(self, threads: int | None = None) -> None:
        self._lock = threading.Lock()
        self._threads = threads
        self._key: tuple[str, float] | None = None
        self._parts: FoldingParts | None = None
        self._manifest: dict = {}

    def get(self, pack_path: Path) -> tuple[FoldingParts, dict]:
        """(parts, manifest) of the pack at pack_path; raises PackError / FoldPackError naming it."""
        manifest_path = Path(pack_path) / core_pack.MANIFEST
        key = (str(Path(pack_path).resolve()), manifest_path.stat().st_mtime if manifest_path.exists() else 0.0)
        with self._lock:
            if self._key != key or self._parts is None:
                self._parts, self._key = None, None  # drop the old sessions first (memory)
                try:
                    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as e:
                    raise core_pack.PackError(f"{manifest_path}: cannot read ({e})", pack_path) from None
                core_pack.verify_files(Path(pack_path), manifest.get("files") or {}, hashes=True)
                self._parts, self._manifest = open_parts(pack_path, self._threads), manifest
                self._key = key
            return self._parts, self._manifest

    def clear(self) -> None:
        with self._lock:
            self._parts, self._key, self._manifest = None, None, {}


def make_fold_job(pack_path: Path, record: Record, cache: PartsCache, num_recycles: int | None = None):
    """A worker job (progress, cancel) -> FoldOutcome folding record.sequence with the pack at pack_path."""
    def job(progress: Progress, cancel: CancelToken) -> FoldOutcome:
        t0 = time.perf_counter()
        report(progress, 0, 0, f"Verifying and loading folding pack {Path(pack_path).name}\u2026")
        parts, manifest = cache.get(pack_path)
        check(cancel)

        def stage(done: int, total: int, message: str) -> None:  # the driver's recycle / confidence steps
            report(progress, done, total, f"Folding {record.id}: {message}")

        result = fold(parts, record.sequence, num_recycles=num_recycles, progress=stage, cancel=cancel,
                      record=record.id)
        check(cancel)
        report(progress, 0, 0, "Writing PDB and mmCIF\u2026")
        name, scheme = str(manifest.get("name", Path(pack_path).name)), str(manifest.get("scheme", "unknown"))
        provenance = Provenance.of_pack(pack_path, fold_method(result), name, scheme)
        pdb, cif = with_provenance(to_pdb(result), to_mmcif(result, name=record.id), provenance)
        return FoldOutcome(record, name, scheme, result, pdb, cif, time.perf_counter() - t0)

    return job


def fold_error_message(exc: BaseException) -> tuple[str, str, bool]:
    """(title, text, is_user_error) for a failed fold; user errors need no traceback."""
    if isinstance(exc, FoldMemoryError):
        return "Sequence too long to fold here", str(exc), True
    if isinstance(exc, SequenceError):
        return "Invalid sequence", str(exc), True
    if isinstance(exc, (FoldPackError, core_pack.PackError)):
        return "Folding pack cannot be used", str(exc), True
    if isinstance(exc, MemoryError):
        return "Out of memory", "Folding ran out of memory. Try a shorter sequence or an int8 pack.", True
    return "Folding failed", f"{type(exc).__name__}: {exc}", False
