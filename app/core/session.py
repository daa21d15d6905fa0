"""The one place onnxruntime sessions are opened (app runtime, folding parts, exporter runs).

Thread, optimisation and logging policy live here, and so does the offline check: no session
opens unless onnxruntime's telemetry is off (app/offline.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import onnxruntime as ort

from app.offline import require_telemetry_off

PROVIDERS = ["CPUExecutionProvider"]
_LEVELS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
           "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
           "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}


def session_options(threads: Optional[int] = None, optimization: str = "all",
                    prepack: bool = True) -> ort.SessionOptions:
    """CPU options: `threads` intra-op threads (None: onnxruntime's default), one inter-op thread,
    errors-only logging; `optimization` all | basic | none; `prepack=False` keeps no pre-packed
    copy of the weights (calibration runs, where a few passes do not pay for it)."""
    if optimization not in _LEVELS:
        raise ValueError(f"optimization {optimization!r}: expected one of {', '.join(_LEVELS)}")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = _LEVELS[optimization]
    opts.log_severity_level = 3
    if not prepack:
        opts.add_session_config_entry("session.disable_prepacking", "1")
    return opts


def open_session(model: Union[str, Path, bytes], options: Optional[ort.SessionOptions] = None,
                 threads: Optional[int] = None) -> ort.InferenceSession:
    """An onnxruntime CPU session for a model file or serialized bytes."""
    require_telemetry_off()
    opts = options if options is not None else session_options(threads)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=PROVIDERS)
