"""The one place onnxruntime sessions are opened (app runtime, folding parts, exporter runs).

Thread, optimisation and logging policy live here, and so does the offline check: no session
opens unless onnxruntime's telemetry is off (app/offline.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
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
                 threads: Optional[int] = None,
                 initializers: Optional[Mapping[str, np.ndarray]] = None) -> ort.InferenceSession:
    """An onnxruntime CPU session for a model file or serialized bytes.

    `initializers` ({name: array}) replace the graph's external-data initializers of those names
    (the pack's side file, app.core.side_weights) through `SessionOptions.add_external_initializers`,
    added to `options`. onnxruntime may use the arrays' memory without copying it, so the
    OrtValues and arrays are kept on the session (`_edgefold_initializers`) as long as it lives.
    (`add_initializer` needs the graph to hold data of the right size: onnxruntime checks it.)
    """
    require_telemetry_off()
    opts = options if options is not None else session_options(threads)
    values = []
    for array in (initializers or {}).values():
        array = np.ascontiguousarray(array)
        values.append((array, ort.OrtValue.ortvalue_from_numpy(array)))
    if values:
        opts.add_external_initializers(list(initializers), [v for _, v in values])
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, sess_options=opts, providers=PROVIDERS)
    session._edgefold_initializers = values
    return session
