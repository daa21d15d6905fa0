"""The one export loop for every model family:

    float graphs (adapter, once) -> calibrate + quantize (quant.quantize) -> manifest
      -> write_pack into a staging directory -> verify + benchmark that staged pack through the
         app's own loader (adapter.inspect) -> manifest keys added -> swapped into place

A family adapter (exporter.pipeline.Exporter for ESM-2, exporter.esmfold.export.FoldExporter
for ESMFold) supplies the float graphs, the per-part quantization, its manifest fields, the
weights it keeps outside the graph, and the checks run on the staged pack.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx

from packbuild.pack import write_pack

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """One written pack: its scheme, directory, fidelity to the float model and size on disk."""

    scheme: str
    path: Path
    accuracy: dict
    size_bytes: int
    benchmark: dict | None = None


class FamilyAdapter(Protocol):
    family: str

    def quantize(self, config) -> tuple[dict[str, onnx.ModelProto], dict]:
        """{file: quantized graph} and the manifest's `scheme_config`."""

    def manifest(self, config, scheme_report: dict) -> dict:
        """The manifest without `files`, `accuracy` (inspect's) and the writer's own keys."""

    def side_weights(self, config, models: dict[str, onnx.ModelProto]
                     ) -> tuple[dict[str, onnx.ModelProto], dict[str, np.ndarray] | None, dict]:
        """(graphs, arrays for the side file or None, `onnx.side_codecs` of coded arrays, may be empty)."""

    def inspect(self, staged: Path) -> dict:
        """Manifest keys measured on the staged pack: `accuracy`, and `benchmark` when asked for."""


def run_export(adapter: FamilyAdapter, config, out_dir: Path) -> ExportResult:
    models, report = adapter.quantize(config)
    manifest = adapter.manifest(config, report)
    models, arrays, codecs = adapter.side_weights(config, models)
    if codecs:
        manifest = {**manifest, "onnx": {**manifest["onnx"], "side_codecs": codecs}}
    path = write_pack(Path(out_dir), models, manifest, inspect=adapter.inspect, side_weights=arrays)
    written = json.loads((path / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in path.iterdir())
    log.info("wrote %s %s pack to %s (%.2f MB)", config.name, adapter.family, path, size / 1e6)
    return ExportResult(config.name, path, dict(written.get("accuracy") or {}), size, written.get("benchmark"))
