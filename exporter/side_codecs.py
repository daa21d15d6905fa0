"""Which initializers a scheme keeps outside the graph, and in what coded form (app.core.side_codecs).

ternary: the encoder Linears' int8 {-1, 0, 1} weights go to weights.npz packed 2 bits a weight
(quant.ternary.pack_2bit, 4x smaller than int8, 16x smaller than float32); the app decodes them
at load. Other schemes keep every weight in the graph.
"""
from __future__ import annotations

import numpy as np
import onnx

from quant.ternary import pack_2bit

from packbuild.side_weights import split_models


def _ternary_weights(config, models: dict[str, onnx.ModelProto]) -> set[str]:
    """Names of the int8 weight initializers the ternary rewrite produced (`<weight>_quantized`)."""
    import re

    rx = re.compile(config.linears)
    names = set()
    for model in models.values():
        for t in model.graph.initializer:
            if t.name.endswith("_quantized") and t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2 \
                    and rx.match(t.name.removesuffix("_quantized")):
                names.add(t.name)
    return names


def side_weights_for(config, models: dict[str, onnx.ModelProto]
                     ) -> tuple[dict[str, onnx.ModelProto], dict[str, np.ndarray] | None, dict]:
    """(graphs with placeholders, {name: stored array}, {name: codec spec}); unchanged graphs, None
    and {} for a scheme that keeps its weights in the graph."""
    if config.name != "ternary":
        return models, None, {}
    names = _ternary_weights(config, models)
    if not names:
        raise ValueError("ternary: no ternary Linear weights in the graph (does `linears` match its weights?)")
    out, arrays = split_models(models, select=lambda t: t.name in names)
    codecs = {}
    for name in sorted(arrays):
        values = arrays[name]
        if values.min() < -1 or values.max() > 1:
            raise ValueError(f"ternary: initializer {name!r} holds values outside -1, 0, 1")
        codecs[name] = {"codec": "ternary2", "dims": [int(d) for d in values.shape]}
        arrays[name] = pack_2bit(values)
    return out, arrays, codecs

