"""Calibration feeds for the four folding parts, recorded while the float parts fold real sequences.

Each part is calibrated on the inputs it actually sees: `lm` on aatype, `trunk` and `structure`
on every recycling pass's inputs, `heads` on the last pass. Sequences are picked uniformly over
lengths (PTQ4Protein: calibration must cover lengths evenly; `packbuild.sequences.stratified`).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import onnx

from app.core.jobs import Progress

from quant import StatsCache

from packbuild.quantize import ort_runner
from packbuild.sequences import stratified
from .chunking import expand_chunked_attention

log = logging.getLogger(__name__)


class RecordingParts:
    """Wraps app.core.fold's FoldingParts and keeps a copy of every feed, per part."""

    def __init__(self, parts) -> None:
        self.parts = parts
        self.architecture, self.weight_bytes = parts.architecture, parts.weight_bytes
        self.feeds: dict[str, list[dict[str, np.ndarray]]] = {}

    def run(self, part: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.feeds.setdefault(part, []).append({k: np.array(v) for k, v in feeds.items()})
        return self.parts.run(part, feeds)

    def dim(self, part: str, tensor: str) -> int:
        return self.parts.dim(part, tensor)


class PartCalibrator:
    """One part's recorded feeds and the statistics computed from them (quant.StatsCache): the
    `feeds` / `cache` / `report` that packbuild.quantize.quantize hands to quant.quantize. Graphs
    are calibrated with their chunked triangle attention expanded (chunking.py)."""

    def __init__(self, part: str, feeds: list[dict[str, np.ndarray]]) -> None:
        self.part, self.recorded = part, feeds
        self.cache = StatsCache()
        self.derived: dict[str, PartCalibrator] = {}  # e.g. the structure Loop body's, built once

    def derive(self, name: str, make) -> "PartCalibrator":
        """The calibrator of a graph derived from this part (`make()` -> its feeds), made once and kept,
        so its statistics are shared by every scheme as this part's are."""
        if name not in self.derived:
            self.derived[name] = PartCalibrator(name, make())
        return self.derived[name]

    def feeds(self):
        return iter(self.recorded)

    @staticmethod
    def runner(model: onnx.ModelProto, names: list[str]):
        return ort_runner(expand_chunked_attention(model), names)

    def report(self, done: int, total: int, message: str) -> None:
        if done == 1:
            log.info("calibrating %s on %d feeds", self.part, len(self.recorded))


class FoldCalibration:
    """Length-uniform calibration sequences folded once by the float parts; one PartCalibrator per part."""

    def __init__(self, float_models: dict[str, onnx.ModelProto], architecture: dict, sequences: Sequence[str],
                 size: int, max_residues: int, num_recycles: int | None = None,
                 progress: Progress | None = None) -> None:
        self.sequences = stratified(list(sequences), size, max_residues)
        self.float_models, self.architecture = float_models, architecture
        # at least one recycle: on the first pass recycle_s / recycle_z are all zeros, a range quant
        # rejects for the recycling LayerNorms' inputs
        self.num_recycles = None if num_recycles is None else max(1, num_recycles)
        self.progress = progress
        self._calibrators: dict[str, PartCalibrator] | None = None

    def part(self, name: str) -> PartCalibrator:
        if self._calibrators is None:
            self._calibrators = self._record()
        return self._calibrators[name]

    def _record(self) -> dict[str, PartCalibrator]:
        from app.core.fold.driver import fold

        from .parts_runtime import in_memory_parts

        rec = RecordingParts(in_memory_parts(self.float_models, self.architecture))
        for i, seq in enumerate(self.sequences):
            fold(rec, seq, num_recycles=self.num_recycles, record=f"calibration {i}", memory_limit=1 << 62)
            if self.progress:
                self.progress(i + 1, len(self.sequences), "folding calibration sequences")
        return {p: PartCalibrator(p, f) for p, f in rec.feeds.items()}

    def summary(self, source: str) -> dict:
        import hashlib

        lengths = [len(s) for s in self.sequences]
        return {"source": source, "n_sequences": len(self.sequences), "num_recycles": self.num_recycles,
                "sha256": hashlib.sha256("\n".join(self.sequences).encode()).hexdigest(),
                "length_min": min(lengths), "length_max": max(lengths), "length_median": int(np.median(lengths))}
