"""Bridge from the exporter to `quant`: calibration feeds, an onnxruntime runner, one quantize call."""
from __future__ import annotations

import hashlib
import logging
from typing import Callable, Sequence

import numpy as np
import onnx

from app.core.jobs import Progress
from quant import StatsCache
from quant import quantize as quant_quantize

from .onnx_io import ort_session
from .sequences import encode, stratified

log = logging.getLogger(__name__)


def ort_runner(model: onnx.ModelProto, names: list[str]) -> Callable[[dict], list[np.ndarray]]:
    """The runner `quant.calibrate` injects: an onnxruntime session fetching `names`."""
    from app.core.session import session_options

    # Keep every intermediate tensor addressable (basic optimisation: fusions may remove the
    # ones being observed), and no pre-packed copies of the weights: a few calibration passes do
    # not pay for a second copy of them in memory (2.7 GB for ESMFold's trunk).
    opts = session_options(optimization="basic", prepack=False)
    opts.inter_op_num_threads = 0
    opts.log_severity_level = 2
    sess = ort_session(model, opts)
    return lambda feed: sess.run(names, feed)


class Calibrator:
    """Calibration feeds of one model and the statistics computed from them, shared by all schemes.

    Sequences are picked uniformly over the length range (PTQ4Protein found that calibration
    must cover lengths evenly) and cropped to the model's window.
    """

    def __init__(self, sequences: Sequence[str], size: int, max_residues: int,
                 progress: Progress | None = None):
        self.all_sequences = list(sequences)
        self.sequences = stratified(self.all_sequences, size, max_residues)
        self.progress = progress
        self.cache = StatsCache()

    def feeds(self):
        for s in self.sequences:
            yield {"tokens": encode(s)}

    def report(self, done: int, _total: int, _message: str) -> None:
        if self.progress:
            self.progress(done, len(self.sequences), "calibrating")

    def summary(self, source: str) -> dict:
        lengths = [len(s) for s in self.sequences]
        return {"source": source, "n_sequences": len(self.sequences),
                "sha256": hashlib.sha256("\n".join(self.sequences).encode()).hexdigest(),
                "length_min": min(lengths), "length_max": max(lengths),
                "length_median": int(np.median(lengths)),
                "length_quartiles": [int(q) for q in np.percentile(lengths, [25, 50, 75])]}


def quantize(model: onnx.ModelProto, config, calibrator: Calibrator | None) -> tuple[onnx.ModelProto, dict]:
    """quant.quantize on the calibrator's feeds and cache; the calibrator may be None for a scheme
    that needs no calibration. Returns the model and the report for the manifest."""
    if calibrator is None:
        return quant_quantize(model, config)
    runner = getattr(calibrator, "runner", ort_runner)
    return quant_quantize(model, config, calibrator.feeds, runner, progress=calibrator.report,
                          cache=calibrator.cache)
