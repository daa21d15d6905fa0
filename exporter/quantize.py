"""Bridge from the exporter to `quant/`: calibration feeds, an onnxruntime runner, scheme application."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import onnx

from app.core.jobs import Progress

from .onnx_io import ort_session
from .sequences import encode, stratified

log = logging.getLogger(__name__)
SCHEMES = ("fp32", "int8", "pwlq8", "dynamic-int8")


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
    """Calibration statistics of one model's tensors, computed once and shared by all schemes.

    Sequences are picked uniformly over the length range (PTQ4Protein found that calibration
    must cover lengths evenly) and cropped to the model's window.
    """

    def __init__(self, sequences: Sequence[str], size: int, max_residues: int,
                 progress: Progress | None = None):
        self.all_sequences = list(sequences)
        self.sequences = stratified(self.all_sequences, size, max_residues)
        self.progress = progress
        self._stats: dict[tuple[str, str], object] = {}

    def feeds(self):
        for s in self.sequences:
            yield {"tokens": encode(s)}

    def stats(self, model: onnx.ModelProto, names: list[str], observer) -> dict:
        key = repr(observer)
        missing = [n for n in names if (key, n) not in self._stats]
        if missing:
            from quant.calibrate import calibrate

            log.info("calibrating %d tensors on %d sequences", len(missing), len(self.sequences))
            total = len(self.sequences)
            report = (lambda done, _t, _m: self.progress(done, total, "calibrating")) if self.progress else None
            new = calibrate(model, missing, self.feeds(), ort_runner, observer, progress=report)
            self._stats.update({(key, n): s for n, s in new.items()})
        return {n: self._stats[(key, n)] for n in names}

    def summary(self, source: str) -> dict:
        lengths = [len(s) for s in self.sequences]
        import hashlib

        return {"source": source, "n_sequences": len(self.sequences),
                "sha256": hashlib.sha256("\n".join(self.sequences).encode()).hexdigest(),
                "length_min": min(lengths), "length_max": max(lengths),
                "length_median": int(np.median(lengths)),
                "length_quartiles": [int(q) for q in np.percentile(lengths, [25, 50, 75])]}


OBSERVERS = ("minmax", "percentile", "ptq4protein")


SPLITS = ("auto", "never", "always")


def quantize(model: onnx.ModelProto, scheme: str, calibrator: Calibrator,
             observer: str | None = None, split: str | None = None,
             placement: tuple[str, ...] | None = None) -> tuple[onnx.ModelProto, dict]:
    """Apply `scheme` to a float model; returns the model and the per-site report for the manifest.

    `observer` overrides the scheme's range observer ("minmax", "percentile" or PTQ4Protein's
    top-k clipping "ptq4protein"); None keeps quant's default for the scheme. `split` overrides
    pwlq8's policy for Linear inputs: "auto" (the Gaussian error model decides per tensor),
    "never" (uniform Linear inputs, int8 speed) or "always" (exact two-grid split everywhere).
    `placement` overrides where activations are quantized for int8 / pwlq8: ("linear",) or
    ("linear", "layernorm") (the default: PTQ4Protein's Linear and LayerNorm inputs).
    """
    if scheme == "fp32":
        return model, {"scheme": "fp32", "sites": {}}
    from quant.schemes import SCHEMES as QUANT_SCHEMES
    from quant.schemes import apply_scheme, calibration_sites

    config = QUANT_SCHEMES[scheme]
    if observer is not None:
        from dataclasses import replace

        from quant.observers import ObserverConfig

        config = replace(config, observer=ObserverConfig(observer))
    if split is not None and scheme == "pwlq8":
        from dataclasses import replace

        config = replace(config, split=split)
    if placement is not None and scheme in ("int8", "pwlq8"):
        from dataclasses import replace

        config = replace(config, placement=tuple(placement))
    sites = calibration_sites(model, config)
    stats = calibrator.stats(model, sites, config.observer) if sites else {}
    return apply_scheme(model, config, stats)
