"""The scoring job the window runs in a worker: load pack (cached runtime), score one record."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.fasta import Record
from app.core.jobs import CancelToken, Progress, check, report
from app.core.pack import load_pack
from app.core.provenance import Provenance
from app.core.runtime import Esm2Runtime
from app.core.scoring import score_matrix

log = logging.getLogger(__name__)

# (label shown in the UI, core method name, explanation)
METHODS = (
    ("Wild-type marginal", "wt-marginal",
     "One forward pass on the unmasked sequence: log P(mt) - log P(wt) at each position. Fast."),
    ("Masked marginal", "masked-marginal",
     "Masks each position in turn (L forward passes): slower, usually a little more accurate."),
)


@dataclass(frozen=True)
class ScoreResult:
    """What the window shows: scores (L, 20) in ACDEFGHIKLMNPQRSTVWY order for a record."""

    record: Record
    method: str
    pack_name: str
    scores: np.ndarray = field(repr=False)
    seconds: float
    provenance: Provenance | None = None  # what the exported CSV's sidecar records


class RuntimeCache:
    """Keeps the last pack's runtime so scoring twice does not re-verify and reload it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, float] | None = None
        self._runtime: Esm2Runtime | None = None

    def get(self, pack_path: Path) -> Esm2Runtime:
        manifest = Path(pack_path) / "manifest.json"
        key = (str(Path(pack_path).resolve()), manifest.stat().st_mtime if manifest.exists() else 0.0)
        with self._lock:
            if self._key != key or self._runtime is None:
                self._runtime, self._key = None, None  # drop the old session first (memory)
                self._runtime = Esm2Runtime(load_pack(pack_path, verify=True))
                self._key = key
            return self._runtime

    def clear(self) -> None:
        with self._lock:
            self._runtime, self._key = None, None


def make_score_job(pack_path: Path, record: Record, method: str, cache: RuntimeCache):
    """A worker job (progress, cancel) -> ScoreResult scoring every substitution of record."""
    def job(progress: Progress, cancel: CancelToken) -> ScoreResult:
        t0 = time.perf_counter()
        report(progress, 0, 0, f"loading model pack {Path(pack_path).name}")
        runtime = cache.get(pack_path)
        check(cancel)
        matrix = score_matrix(runtime, record.sequence, method, progress=progress, cancel=cancel)
        scores = np.asarray(matrix.scores, dtype=np.float64)  # (L, 20)
        provenance = Provenance.of_pack(runtime.pack.path, method, runtime.pack.name, runtime.pack.scheme)
        return ScoreResult(record, method, runtime.pack.name, scores, time.perf_counter() - t0, provenance)

    return job
