"""onnxruntime sessions for in-memory folding parts, shaped like app.core.fold's FoldingParts."""
from __future__ import annotations

import onnx

from .chunking import expand_chunked_attention
from .parts import PARTS


def in_memory_parts(models: dict[str, onnx.ModelProto], architecture: dict, threads: int | None = None):
    """FoldingParts over `models` ({file name or part name: model}); parts past 2 GB go through a
    temporary external-data file (packbuild.onnx_io.ort_session), smaller ones stay in memory."""
    from app.core.fold.parts import FoldingParts, session_options

    from quant.rewrite import weight_bytes

    from packbuild.onnx_io import ort_session

    by_part = {p: models.get(spec.file, models.get(p)) for p, spec in PARTS.items()}
    missing = [p for p, m in by_part.items() if m is None]
    if missing:
        raise KeyError(f"no model for part(s) {missing}")
    opts = session_options(threads)
    sessions = {p: ort_session(expand_chunked_attention(m), opts) for p, m in by_part.items()}
    return FoldingParts(sessions, architecture, "<in memory>", sum(weight_bytes(m) for m in by_part.values()))
