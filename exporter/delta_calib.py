"""Real inputs of each coded Linear in the base model, for DeltaDQ's data-aware search and allocation.

DeltaDQ scores a code by how well x @ delta_hat^T matches x @ delta^T ("balanced intermediate
results", quant/delta.py); with these inputs quant.delta_alloc minimises the pooled output error
instead of the Frobenius error of the delta. The inputs are read off the base's float ONNX graph
(the first input of each `MatMul(x, W)` whose W is a coded `*.weight_t`, section 1), exposed as
extra outputs and run with onnxruntime on calibration sequences.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnx
from onnx import helper

from app.core.session import open_session

from packbuild.sequences import encode


def base_float_model(base_dir: Path, base_model: Optional[str] = None) -> onnx.ModelProto:
    """The base's float graph: the fp32 base pack's model.onnx (side file read as external data), or
    the graph of `base_model` for a quantized base."""
    from app.core.pack import load_pack

    pack = load_pack(base_dir, verify=False)
    if pack.scheme == "fp32" and base_model is None:
        return onnx.load(str(pack.model_path))
    from packbuild.esm2_graph import build_esm2
    from .loaders import load

    return build_esm2(load(base_model).weights, contacts=False)


def linear_inputs(model: onnx.ModelProto, names: Sequence[str], sequences: Sequence[str], max_rows: int = 512,
                  seed: int = 0, threads: Optional[int] = None) -> dict[str, np.ndarray]:
    """{weight name: (rows, in) float32}: inputs of the MatMul reading each weight, rows sampled."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    tap = {node.input[1]: node.input[0] for node in m.graph.node if node.op_type == "MatMul" and node.input[1] in names}
    missing = [n for n in names if n not in tap]
    if missing:
        raise ValueError(f"base graph has no MatMul reading {missing[0]!r} ({len(missing)} missing)")
    outputs = list(dict.fromkeys(tap.values()))
    m.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in outputs)
    session = open_session(m.SerializeToString(), threads=threads)
    rows: dict[str, list[np.ndarray]] = {t: [] for t in outputs}
    for s in sequences:
        for t, value in zip(outputs, session.run(outputs, {"tokens": encode(s)})):
            rows[t].append(value.reshape(-1, value.shape[-1]))
    rng = np.random.default_rng(seed)
    out = {}
    for n, t in tap.items():
        x = np.concatenate(rows[t]).astype(np.float32)
        out[n] = x[np.sort(rng.choice(len(x), min(max_rows, len(x)), replace=False))]
    return out
