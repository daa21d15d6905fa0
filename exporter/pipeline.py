"""Export one loaded model into one pack per quantization scheme: build, calibrate, quantize, verify, write."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import onnx

from app.core.jobs import Progress

from .esm2_graph import build_esm2
from .loaders import LoadedModel
from .pack import alphabet_manifest, architecture_manifest, write_pack
from .quantize import SCHEMES, Calibrator, quantize
from .verify import reference_outputs, session, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    contacts: bool = False              # also write contacts.onnx (logits, embeddings, contacts)
    calibration_size: int = 64          # sequences, spread uniformly over lengths
    verify_sequences: Sequence[str] = ()  # held-out sequences for the accuracy check
    max_residues: int = 1022
    threads: int | None = None
    observer: str | None = None         # override the schemes' range observer (see quantize.OBSERVERS)
    pwlq_split: str | None = None       # override pwlq8's Linear split policy (see quantize.SPLITS)
    placement: tuple[str, ...] | None = None  # activation quantizers: ("linear",) or ("linear", "layernorm")
    calibration_source: str = "exporter.testing"
    license: str = ""
    credits: str = ""
    extra_manifest: dict = field(default_factory=dict)
    benchmark: Path | None = None       # ProteinGym-format assay directory: record `benchmark` in the manifest
    benchmark_method: str = "wt-marginal"

    def __post_init__(self) -> None:
        if self.calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1, got {self.calibration_size}")


@dataclass
class PackResult:
    scheme: str
    path: Path
    accuracy: dict
    size_bytes: int


class Exporter:
    """Holds what all schemes of one model share: float graphs, calibration stats, reference outputs."""

    def __init__(self, loaded: LoadedModel, calibration: Sequence[str], options: ExportOptions,
                 progress: Progress | None = None):
        self.loaded, self.options, self.progress = loaded, options, progress
        self.float_models = {"model.onnx": build_esm2(loaded.weights, contacts=False)}
        if options.contacts:
            self.float_models["contacts.onnx"] = build_esm2(loaded.weights, contacts=True)
        self.calibrator = Calibrator(list(calibration), options.calibration_size, options.max_residues,
                                     progress=progress)
        verify_seqs = [s[:options.max_residues] for s in options.verify_sequences]
        self.verify_sequences = verify_seqs
        self._references = None

    @property
    def references(self):
        if self._references is None:
            self._references = reference_outputs(self.loaded, self.verify_sequences)
        return self._references

    def export(self, scheme: str, out_dir: Path) -> PackResult:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
        models: dict[str, onnx.ModelProto] = {}
        report: dict = {}
        for name, model in self.float_models.items():
            models[name], report = quantize(model, scheme, self.calibrator, self.options.observer,
                                             self.options.pwlq_split, self.options.placement)
        accuracy = verify(session(models["model.onnx"], self.options.threads), self.verify_sequences,
                          self.references, self.progress) if self.verify_sequences else {}
        manifest = self._manifest(scheme, report, accuracy, models)
        path = write_pack(Path(out_dir), models, manifest, inspect=self._benchmark)
        size = sum(p.stat().st_size for p in path.iterdir())
        log.info("wrote %s pack to %s (%.1f MB)", scheme, path, size / 1e6)
        return PackResult(scheme, path, accuracy, size)

    def _benchmark(self, pack_dir: Path) -> dict:
        if self.options.benchmark is None:
            return {}
        from .benchmark import proteingym_benchmark

        return {"benchmark": proteingym_benchmark(pack_dir, self.options.benchmark, self.options.benchmark_method,
                                                  self.options.threads, self.progress)}

    def _manifest(self, scheme: str, report: dict, accuracy: dict, models: dict) -> dict:
        w = self.loaded.weights
        onnx_info = {"model": "model.onnx", "inputs": ["tokens"], "outputs": ["logits", "embeddings"]}
        if "contacts.onnx" in models:
            onnx_info["contacts_model"] = "contacts.onnx"
            onnx_info["contacts_outputs"] = ["logits", "embeddings", "contacts"]
        return {"name": w.name, "task": "masked-lm", "architecture": architecture_manifest(w),
                "alphabet": alphabet_manifest(), "scheme": scheme, "scheme_config": report,
                "onnx": onnx_info, "source": provenance_name(w.source), "notes": list(w.notes),
                "calibration": self.calibrator.summary(provenance_name(self.options.calibration_source)) if scheme in
                SCHEMES_NEEDING_CALIBRATION else None,
                "accuracy": accuracy, "license": self.options.license, "credits": self.options.credits,
                **self.options.extra_manifest}


SCHEMES_NEEDING_CALIBRATION = ("int8", "pwlq8")


def export_pack(loaded: LoadedModel, scheme: str, out_dir: Path, calibration: Sequence[str],
                options: ExportOptions, progress: Progress | None = None) -> PackResult:
    return Exporter(loaded, calibration, options, progress).export(scheme, out_dir)


def provenance_name(source: str) -> str:
    """A source as a pack may record it: a file or directory by its base name, never the exporting
    machine's absolute path (a shared pack would carry the user's home directory)."""
    if not source or "://" in source or ": " in source:
        return source
    path = Path(source)
    return path.name if (path.is_absolute() or path.exists() or "/" in source) else source


def sequences_digest(sequences: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sequences).encode()).hexdigest()
