"""Run a pack's ONNX graphs: through the app's Qt-free core when it is importable, else onnxruntime directly."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


def _app_runtime(pack_dir: Path, threads: int):
    """app.core's Esm2Runtime for the pack, or None when app.core is not importable."""
    try:
        from app.core.pack import load_pack
        from app.core.runtime import Esm2Runtime
    except ImportError as exc:
        log.info("app.core not importable (%s): using onnxruntime directly", exc)
        return None
    return Esm2Runtime(load_pack(pack_dir, verify=False), threads=threads)


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class PackRunner:
    """`run(tokens (B, T) int64, outputs)` -> {name: array}; `backend` says which path served it."""

    def __init__(self, pack_dir: Path, threads: int = 2, use_app: bool = True):
        self.pack_dir = Path(pack_dir)
        self.manifest = json.loads((self.pack_dir / "manifest.json").read_text())
        self.app_runtime = _app_runtime(self.pack_dir, threads) if use_app else None
        self.backend = "app.core.Esm2Runtime" if self.app_runtime is not None else "onnxruntime"
        self.threads = threads
        self._sessions: dict[str, object] = {}
        if self.app_runtime is None:
            self._session(self.manifest["onnx"]["model"])

    @property
    def scheme(self) -> str:
        return self.manifest.get("scheme", "?")

    def _session(self, name: str):
        if name not in self._sessions:
            self._sessions[name] = _ort_session(self.pack_dir / name, self.threads)
        return self._sessions[name]

    def run(self, tokens: np.ndarray, outputs: Sequence[str] = ("logits",)) -> dict[str, np.ndarray]:
        if self.app_runtime is not None:
            return self.app_runtime.run(tokens, outputs)
        onnx_info = self.manifest["onnx"]
        name = onnx_info["model"] if set(outputs) <= set(onnx_info["outputs"]) else onnx_info.get("contacts_model")
        if name is None:
            raise ValueError(f"{self.pack_dir}: no graph has outputs {list(outputs)}")
        return dict(zip(outputs, self._session(name).run(list(outputs), {"tokens": tokens})))
