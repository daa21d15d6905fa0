"""ESM-2 export: one loaded model into one pack per quantization scheme (exporter.export_loop)."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import onnx

from app.core.jobs import Progress

from packbuild.esm2_graph import build_esm2
from packbuild.pack import alphabet_manifest, architecture_manifest
from packbuild.provenance import file_provenance, provenance_name
from packbuild.quantize import Calibrator, quantize
from packbuild.verify import RuntimeSession, verify

from .export_loop import ExportResult, run_export
from .loaders import LoadedModel
from .scheme_options import scheme_config

from .verify import reference_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """What the export does around the scheme (the scheme itself is one quant config, built by the
    caller: exporter.scheme_options.scheme_config)."""

    contacts: bool = False              # also write contacts.onnx (logits, embeddings, contacts)
    calibration_size: int = 64          # sequences, spread uniformly over lengths
    verify_sequences: Sequence[str] = ()  # held-out sequences for the accuracy check
    max_residues: int = 1022
    threads: int | None = None
    calibration_source: str = "exporter.testing"
    license: str = ""
    credits: str = ""
    extra_manifest: dict = field(default_factory=dict)
    benchmark: Path | None = None       # ProteinGym-format assay directory: record `benchmark` in the manifest
    benchmark_method: str = "wt-marginal"
    fused_attention: bool = False       # model.onnx attention as onnxruntime's MultiHeadAttention (esm2_graph)

    def __post_init__(self) -> None:
        if self.calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1, got {self.calibration_size}")


PackResult = ExportResult  # the one result type of exporter.export_loop


class Exporter:
    """The ESM-2 family adapter of exporter.export_loop: what all schemes of one model share
    (float graphs, calibration statistics, reference outputs)."""

    family = "esm2"

    def __init__(self, loaded: LoadedModel, calibration: Sequence[str], options: ExportOptions,
                 progress: Progress | None = None):
        self.loaded, self.options, self.progress = loaded, options, progress
        self.float_models = {"model.onnx": build_esm2(loaded.weights, contacts=False,
                                                      fused_attention=options.fused_attention)}
        if options.contacts:
            self.float_models["contacts.onnx"] = build_esm2(loaded.weights, contacts=True)
        self.calibrator = Calibrator(list(calibration), options.calibration_size, options.max_residues,
                                     progress=progress)
        verify_seqs = [s[:options.max_residues] for s in options.verify_sequences]
        self.verify_sequences = verify_seqs
        self._references = None
        self.source = file_provenance(loaded.weights.source) if loaded.weights.source else None

    @property
    def references(self):
        if self._references is None:
            self._references = reference_outputs(self.loaded, self.verify_sequences)
        return self._references

    def export(self, scheme, out_dir: Path) -> ExportResult:
        """Write one pack; `scheme` is a quant config or a registered name (its default config)."""
        config = scheme_config(scheme) if isinstance(scheme, str) else scheme
        return run_export(self, config, out_dir)

    def quantize(self, config) -> tuple[dict[str, onnx.ModelProto], dict]:
        calibrator = self.calibrator if config.needs_calibration else None
        models, report = {}, {}
        for name, model in self.float_models.items():
            models[name], report = quantize(model, config, calibrator)
        return models, report

    def side_weights(self, config, models):
        from .side_codecs import side_weights_for

        return side_weights_for(config, models)

    def inspect(self, staged: Path) -> dict:
        keys: dict = {"accuracy": {}}
        if self.verify_sequences:
            from app.core.pack import load_pack
            from app.core.runtime import Esm2Runtime

            runtime = Esm2Runtime(load_pack(staged), self.options.threads)
            keys["accuracy"] = verify(RuntimeSession(runtime), self.verify_sequences, self.references,
                                      self.progress)
        if self.options.benchmark is not None:
            from .benchmark import proteingym_benchmark

            keys["benchmark"] = proteingym_benchmark(staged, self.options.benchmark, self.options.benchmark_method,
                                                     self.options.threads, self.progress)
        return keys

    def manifest(self, config, report: dict) -> dict:
        w = self.loaded.weights
        onnx_info = {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits", "embeddings"]}
        if "contacts.onnx" in self.float_models:
            onnx_info["contacts_model"] = "contacts.onnx"
            onnx_info["contacts_outputs"] = ["logits", "embeddings", "contacts"]
        calibration = (self.calibrator.summary(provenance_name(self.options.calibration_source))
                       if config.needs_calibration else None)
        return {"name": w.name, "task": "masked-lm", "architecture": architecture_manifest(w),
                "alphabet": alphabet_manifest(), "scheme": config.name, "scheme_config": report,
                "onnx": onnx_info, "provenance": {"source": self.source}, "notes": list(w.notes),
                "calibration": calibration, "accuracy": {}, "license": self.options.license,
                "credits": self.options.credits, **self.options.extra_manifest}


def export_pack(loaded: LoadedModel, scheme, out_dir: Path, calibration: Sequence[str],
                options: ExportOptions, progress: Progress | None = None) -> ExportResult:
    return Exporter(loaded, calibration, options, progress).export(scheme, out_dir)


def sequences_digest(sequences: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sequences).encode()).hexdigest()
