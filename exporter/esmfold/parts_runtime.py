"""onnxruntime sessions for in-memory folding parts, shaped like app.core.fold's FoldingParts."""
from __future__ import annotations

import onnx

from .parts import PARTS


def in_memory_parts(models: dict[str, onnx.ModelProto], architecture: dict, threads: int | None = None):
    """FoldingParts over `models` ({file name or part name: model}); nothing is written to disk."""
    import onnxruntime as ort

    from app.core.fold.parts import FoldingParts, session_options

    by_part = {p: models.get(spec.file, models.get(p)) for p, spec in PARTS.items()}
    missing = [p for p, m in by_part.items() if m is None]
    if missing:
        raise KeyError(f"no model for part(s) {missing}")
    opts = session_options(threads)
    payloads = {p: m.SerializeToString() for p, m in by_part.items()}
    sessions = {p: ort.InferenceSession(b, opts, providers=["CPUExecutionProvider"]) for p, b in payloads.items()}
    return FoldingParts(sessions, architecture, "<in memory>", sum(len(b) for b in payloads.values()))
