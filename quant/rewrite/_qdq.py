"""Shared Q/DQ building blocks: activation QuantizeLinear, DequantizeLinear, int8 per-channel weights."""
from __future__ import annotations

import numpy as np
from onnx import NodeProto

from ..uniform import QParams, dequantize
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit


def shared_quantize(edit: GraphEdit, tensor: str, p: QParams, tag: str = "") -> tuple[str, str, str]:
    """QuantizeLinear(tensor) placed after its producer, once per (tensor, tag).
    Returns (q_output, scale_name, zero_point_name)."""
    key = ("q", tensor, tag)
    if key not in edit.cache:
        base = f"{tensor}{tag}"
        s, z = edit.qparam_consts(base, p)
        q = edit.fresh(f"{base}_quantized")
        edit.after(tensor, [edit.node("QuantizeLinear", [tensor, s, z], [q], f"{base}/QuantizeLinear",
                                      **_axis(p))])
        edit.cache[key] = (q, s, z)
    return edit.cache[key]


def dequantize_node(edit: GraphEdit, q: str, scale: str, zp: str, base: str,
                    axis: int | None = None) -> tuple[NodeProto, str]:
    """DequantizeLinear(q, scale, zp) -> fresh float tensor; the caller places the node."""
    out = edit.fresh(f"{base}_dequantized")
    attrs = {} if axis is None else {"axis": axis}
    return edit.node("DequantizeLinear", [q, scale, zp], [out], f"{base}/DequantizeLinear", **attrs), out


def weight_dequantize(edit: GraphEdit, weight: str, weights: WeightQuantizer = PerChannelInt8()
                      ) -> tuple[NodeProto, str, QParams]:
    """The int8 copy `weights.quantize` makes of a (in, out) float weight (stored once) and a fresh
    DequantizeLinear node reading it (axis 1 for per-channel scales). The float initializer is
    dropped if unused."""
    key = ("w", weight)
    if key not in edit.cache:
        w = edit.initializer(weight)  # (in, out)
        q, p = weights.quantize(w)
        q_name = edit.const(f"{weight}_quantized", q)
        s, z = edit.qparam_consts(weight, p)
        edit.cache[key] = (q_name, s, z, p)
        edit.drop_if_unused(weight)
    q_name, s, z, p = edit.cache[key]
    node, out = dequantize_node(edit, q_name, s, z, weight, axis=p.axis)
    return node, out, p


def dequantized_rows(edit: GraphEdit, weight: str, rows: tuple[int, ...],
                     weights: WeightQuantizer = PerChannelInt8()) -> str:
    """A float initializer holding input rows `rows` of the dequantized int8 copy of `weight`
    (in, out), so that a thin float MatMul over those rows sees the weights the integer MatMul
    sees; one initializer per (weight, rows)."""
    key = ("rows", weight, rows)
    if key not in edit.cache:
        q, p = weights.quantize(edit.initializer(weight))
        w_dq = dequantize(q, p.scale, p.zero_point, None if p.axis is None else 1)
        edit.cache[key] = edit.const(f"{weight}_rows{len(rows)}",
                                     np.ascontiguousarray(w_dq[list(rows), :], dtype=np.float32))
    return edit.cache[key]


def _axis(p: QParams) -> dict:
    return {} if p.axis is None else {"axis": p.axis}

