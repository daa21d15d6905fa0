"""Activation study: fake-quantize only the encoder LayerNorm inputs (weights float) at b bits, uniform
vs PWLQ, and measure the wild-type-marginal Spearman on ProteinGym assays (the model README's table)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from packbuild.metrics import spearman

from .activation_rewrite import fake_quant_layernorm_inputs, layernorm_targets
from exporter.proteingym import read_assay
from .scoring import score_mutants, wt_marginal_matrix

log = logging.getLogger(__name__)


def layernorm_stats(model: onnx.ModelProto, calibration: Sequence[str], size: int) -> dict:
    """min/max ('minmax' observer: range = max |x|) of every LayerNorm input over `size` sequences."""
    from quant.observers import ObserverConfig
    from quant.sites import layernorm_sites

    from packbuild.quantize import Calibrator

    cal = Calibrator(list(calibration), size, 1022)
    return cal.stats(model, [s.activation for s in layernorm_sites(model)], ObserverConfig(kind="minmax"))


def _session(model: onnx.ModelProto, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def mean_spearman(model: onnx.ModelProto, assays: list, threads: int) -> tuple[float, dict[str, float]]:
    sess = _session(model, threads)
    logits = lambda t: sess.run(["logits"], {"tokens": t})[0]
    rhos = {a.name: spearman(score_mutants(wt_marginal_matrix(logits, a.wild_type), a.wild_type, a.mutants),
                             a.scores) for a in assays}
    return float(np.mean(list(rhos.values()))), rhos


def run_study(weights, calibration: Sequence[str], assay_paths: Sequence[Path], bits: Sequence[int] = (8, 6, 4),
              calibration_size: int = 64, threads: int = 2) -> dict:
    """{"float": {...}, "uniform": {bits: {...}}, "pwlq": {bits: {...}}, "sites": [...]}: mean and per-assay rho."""
    from packbuild.esm2_graph import build_esm2

    model = build_esm2(weights, contacts=False)
    stats = layernorm_stats(model, calibration, calibration_size)
    assays = [read_assay(p) for p in assay_paths]
    mean, per = mean_spearman(model, assays, threads)
    result: dict = {"float": {"mean": mean, "per_assay": per}, "uniform": {}, "pwlq": {}}
    for b in bits:
        targets = layernorm_targets(model, stats, b)
        for method in ("uniform", "pwlq"):
            mean, per = mean_spearman(fake_quant_layernorm_inputs(model, targets, method, b), assays, threads)
            result[method][b] = {"mean": mean, "per_assay": per}
            log.info("activation study %d-bit %s: mean rho %.4f", b, method, mean)
    result["sites"] = [{"node": t.node, "tensor": t.tensor, "bound": t.bound, "bp_8bit": t.bp,
                        "std": stats[t.tensor].std, "min": stats[t.tensor].min, "max": stats[t.tensor].max}
                       for t in layernorm_targets(model, stats, 8)]
    result["calibration_size"] = calibration_size
    result["assays"] = [a.name for a in assays]
    return result
