"""ESMFold export: one model into one folding pack per scheme (the ESMFold adapter of exporter.export_loop).

Verification folds held-out sequences with the staged pack read from disk through the app's own
driver (app.core.fold) and compares with the float torch model folding the same sequences:
CA RMSD and max all-atom deviation after superposition, TM-score, pLDDT and pTM deltas.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from app.core.alphabet import AF2_RESTYPES_WITH_X
from app.core.jobs import Progress

from ..export_loop import ExportResult, run_export
from ..scheme_options import scheme_config
from .calibration import FoldCalibration
from .metrics import superposed_deviation, tm_score
from .pack import architecture_manifest
from .parts import PARTS, export_parts
from .quantize import quantize_parts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldExportOptions:
    calibration_size: int = 16       # sequences, spread uniformly over lengths
    max_residues: int = 256          # calibration sequences are cropped to this
    verify_sequences: Sequence[str] = ()
    num_recycles: int | None = None  # None: the model's max_recycles, as ESMFold's default
    threads: int | None = None
    chunk_size: int | None = None    # rows per triangle-attention chunk (None: unchunked, as the reference)
    calibration_source: str = ""
    license: str = ""
    credits: str = ""
    extra_manifest: dict = field(default_factory=dict)


FoldPackResult = ExportResult  # the one result type of exporter.export_loop


def torch_fold(model, sequence: str, num_recycles: int | None) -> dict[str, np.ndarray]:
    """The float torch model's atom37 positions, mask, per-residue pLDDT (0-100) and pTM for one chain."""
    import torch
    from transformers.models.esm.openfold_utils import atom14_to_atom37

    from app.core.fold.residues import encode

    aatype = torch.from_numpy(encode(sequence))[None]
    with torch.no_grad():
        out = model(aatype, torch.ones_like(aatype), num_recycles=num_recycles)
    atom37 = atom14_to_atom37(out.positions[-1], out)[0].numpy()
    return {"atom37": atom37, "mask37": out.atom37_atom_exists[0].numpy(),
            "plddt": 100 * out.plddt[0, :, 1].numpy(), "ptm": float(out.ptm)}


def compare(result, ref: dict, sequence: str) -> dict:
    """Metrics of one app FoldResult against torch_fold's output."""
    rmsd, dev = superposed_deviation(result.atom37, ref["atom37"], ref["mask37"])
    return {"ca_rmsd": rmsd, "max_atom_deviation": dev,
            "tm_score": tm_score(result.atom37[:, 1], sequence, ref["atom37"][:, 1], sequence),
            "plddt_delta": float(np.abs(result.residue_plddt - ref["plddt"]).mean()),
            "ptm_delta": abs(result.ptm - ref["ptm"])}


class FoldExporter:
    """What all schemes of one ESMFold share: float parts, calibration feeds, torch reference folds."""

    def __init__(self, model, name: str, calibration: Sequence[str], options: FoldExportOptions,
                 progress: Progress | None = None) -> None:
        self.model, self.name, self.options, self.progress = model, name, options, progress
        self.architecture = architecture_manifest(model, options.chunk_size)
        self.float_models = export_parts(model, options.chunk_size)
        self.calibration = FoldCalibration(self.float_models, self.architecture, calibration,
                                           options.calibration_size, options.max_residues, options.num_recycles,
                                           progress)
        self.verify_sequences = [s[:options.max_residues] for s in options.verify_sequences]
        self._references: list[dict] | None = None

    @property
    def references(self) -> list[dict]:
        if self._references is None:
            self._references = [torch_fold(self.model, s, self.options.num_recycles) for s in self.verify_sequences]
        return self._references

    family = "esmfold"

    def export(self, scheme, out_dir: Path) -> ExportResult:
        """Write one folding pack; `scheme` is a quant config or a registered name (its ESMFold
        default: PTQ4Protein's Linear, LayerNorm and Softmax inputs for int8/pwlq8)."""
        config = scheme_config(scheme, family="esmfold") if isinstance(scheme, str) else scheme
        return run_export(self, config, out_dir)

    def quantize(self, config):
        return quantize_parts(self.float_models, config, self.calibration if config.needs_calibration else None)

    def side_weights(self, config, models):
        return models, None, {}

    def inspect(self, staged: Path) -> dict:
        return {"accuracy": self.verify(staged) if self.verify_sequences else {}}

    def verify(self, pack: Path) -> dict:
        """Fold the held-out sequences with the pack as the app will and compare with torch fp32."""
        from app.core.fold.driver import fold
        from app.core.fold.parts import open_parts

        parts = open_parts(pack, self.options.threads)
        rows = []
        for i, (seq, ref) in enumerate(zip(self.verify_sequences, self.references)):
            rows.append(compare(fold(parts, seq, self.options.num_recycles, record=f"verify {i}"), ref, seq))
            if self.progress:
                self.progress(i + 1, len(self.verify_sequences), "verifying")
        mean = {k: round(float(np.mean([r[k] for r in rows])), 5) for k in rows[0]}
        return {"reference": "torch fp32", "n_sequences": len(rows),
                "n_residues": int(sum(len(s) for s in self.verify_sequences)),
                "num_recycles": self.options.num_recycles, **mean,
                "max_atom_deviation_max": round(max(r["max_atom_deviation"] for r in rows), 5),
                "ca_rmsd_max": round(max(r["ca_rmsd"] for r in rows), 5)}

    def manifest(self, config, reports: dict) -> dict:
        parts = {p: {"counts": r.get("counts", {}), "normalized": r.get("normalized", {}),
                     "config": r.get("config")} for p, r in reports.items()}
        calibration = (self.calibration.summary(self.options.calibration_source)
                       if config.needs_calibration else None)
        return {"name": self.name, "task": "folding", "architecture": self.architecture,
                "residues": {"aatype_order": AF2_RESTYPES_WITH_X, "unknown": "X"}, "scheme": config.name,
                "scheme_config": {"parts": parts, "config": config.to_dict(),
                                  "softmax_inputs": "softmax" in getattr(config, "placement", ()),
                                  "pwlq_split": getattr(config, "split", "auto"),
                                  "float_parts": [p for p, r in reports.items() if not r.get("counts")]},
                "onnx": {"parts": {p: spec.file for p, spec in PARTS.items()},
                         "inputs": {p: list(spec.inputs) for p, spec in PARTS.items()},
                         "outputs": {p: list(spec.outputs) for p, spec in PARTS.items()}},
                "calibration": calibration, "accuracy": {}, "license": self.options.license,
                "credits": self.options.credits, **self.options.extra_manifest}
