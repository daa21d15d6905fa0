"""Export one ESMFold model into one folding pack per scheme: parts, calibrate, quantize, write, verify.

Verification folds held-out sequences with the pack read back from disk through the app's own
driver (app.core.fold) and compares with the float torch model folding the same sequences:
CA RMSD and max all-atom deviation after superposition, TM-score, pLDDT and pTM deltas.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from app.core.jobs import Progress

from ..pack import write_manifest, write_pack
from .calibration import FoldCalibration
from .lm_graph import AF2_RESTYPES_WITH_X
from .metrics import superposed_deviation, tm_score
from .pack import architecture_manifest
from .parts import PARTS, export_parts
from .quantize import quantize_parts, softmax_placed

log = logging.getLogger(__name__)
FOLD_SCHEMES = ("fp32", "int8", "pwlq8", "dynamic-int8")


@dataclass(frozen=True)
class FoldExportOptions:
    calibration_size: int = 16       # sequences, spread uniformly over lengths
    max_residues: int = 256          # calibration sequences are cropped to this
    verify_sequences: Sequence[str] = ()
    num_recycles: int | None = None  # None: the model's max_recycles, as ESMFold's default
    threads: int | None = None
    observer: str | None = None
    chunk_size: int | None = None    # rows per triangle-attention chunk (None: unchunked, as the reference)
    pwlq_split: str | None = None    # pwlq8's Linear split policy (None: the scheme's "auto")
    placement: tuple[str, ...] | None = None  # e.g. ("linear",); None: Linear, LayerNorm, Softmax (PTQ4Protein)
    calibration_source: str = ""
    license: str = ""
    credits: str = ""
    extra_manifest: dict = field(default_factory=dict)


@dataclass
class FoldPackResult:
    scheme: str
    path: Path
    accuracy: dict
    size_bytes: int


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

    def export(self, scheme: str, out_dir: Path) -> FoldPackResult:
        if scheme not in FOLD_SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(FOLD_SCHEMES)}")
        needs_calibration = scheme in ("int8", "pwlq8")
        models, reports = quantize_parts(self.float_models, scheme, self.calibration if needs_calibration else None,
                                         self.options.observer, self.options.pwlq_split, self.options.placement)
        manifest = self._manifest(scheme, reports, needs_calibration)
        path = write_pack(Path(out_dir), models, manifest)
        accuracy = self.verify(path) if self.verify_sequences else {}
        write_manifest_field(path, "accuracy", accuracy)
        size = sum(p.stat().st_size for p in path.iterdir())
        log.info("wrote %s folding pack to %s (%.2f MB)", scheme, path, size / 1e6)
        return FoldPackResult(scheme, path, accuracy, size)

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

    def _manifest(self, scheme: str, reports: dict, calibrated: bool) -> dict:
        config = {p: {"counts": r.get("counts", {}), "normalized": r.get("normalized", {}),
                      "config": r.get("config")} for p, r in reports.items()}
        return {"name": self.name, "task": "folding", "architecture": self.architecture,
                "residues": {"aatype_order": AF2_RESTYPES_WITH_X, "unknown": "X"}, "scheme": scheme,
                "scheme_config": {"parts": config, "softmax_inputs": softmax_placed(self.options.placement),
                                  "pwlq_split": self.options.pwlq_split or "auto",
                                  "float_parts": [p for p, r in reports.items() if not r.get("counts")]},
                "onnx": {"parts": {p: spec.file for p, spec in PARTS.items()},
                         "inputs": {p: list(spec.inputs) for p, spec in PARTS.items()},
                         "outputs": {p: list(spec.outputs) for p, spec in PARTS.items()}},
                "calibration": self.calibration.summary(self.options.calibration_source) if calibrated else None,
                "accuracy": {}, "license": self.options.license, "credits": self.options.credits,
                **self.options.extra_manifest}


def write_manifest_field(pack: Path, key: str, value) -> None:
    """Set one manifest key, atomically, and rewrite manifest.sha256 to match (exporter.pack.write_manifest)."""
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest[key] = value
    write_manifest(pack, manifest)
