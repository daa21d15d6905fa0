"""Dynamic int8 Linears: DynamicQuantizeLinear on the activation, MatMulInteger, Cast, Mul by scales.

    x --DynamicQuantizeLinear--> (x_q uint8, s_x, z_x)          (shared by Linears reading x)
    MatMulInteger(x_q, W_q int8 (in,out), z_x, z_w=0 (out,)) --> int32
      --Cast(float)--> * (s_x * s_w[out]) --> y   (same name as the MatMul output)

This is the form onnxruntime's quantize_dynamic emits; ORT fuses it into DynamicQuantizeMatMul.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import ModelProto, TensorProto

from ..sites import LinearSite
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit


def _dynamic_quantize(edit: GraphEdit, x: str) -> tuple[str, str, str]:
    key = ("dq", x)
    if key not in edit.cache:
        outs = [edit.fresh(f"{x}_quantized"), edit.fresh(f"{x}_scale"), edit.fresh(f"{x}_zero_point")]
        edit.after(x, [edit.node("DynamicQuantizeLinear", [x], outs, f"{x}/DynamicQuantizeLinear")])
        edit.cache[key] = tuple(outs)
    return edit.cache[key]


def quantize_linears_dynamic(model: ModelProto, sites: Sequence[LinearSite],
                             weights: WeightQuantizer = PerChannelInt8()) -> ModelProto:
    """Replace each Linear MatMul by the dynamic int8 chain above (weights per `weights`; a
    per-tensor scale broadcasts like a per-channel one)."""
    edit = GraphEdit(model)
    for site in sites:
        x_q, x_s, x_z = _dynamic_quantize(edit, site.activation)
        key = ("wdyn", site.weight)
        if key not in edit.cache:
            w_q, p = weights.quantize(edit.initializer(site.weight))
            edit.cache[key] = (edit.const(f"{site.weight}_quantized", w_q),
                               edit.const(f"{site.weight}_zero_point", p.zero_point),
                               edit.const(f"{site.weight}_scale", p.scale))
            edit.drop_if_unused(site.weight)
        w_q, w_z, w_s = edit.cache[key]
        b = site.node
        acc, acc_f, scale = (edit.fresh(f"{b}/{t}") for t in ("acc_int32", "acc_float", "scale"))
        edit.replace(site.node, [
            edit.node("MatMulInteger", [x_q, w_q, x_z, w_z], [acc], f"{b}/MatMulInteger"),
            edit.node("Cast", [acc], [acc_f], f"{b}/Cast", to=TensorProto.FLOAT),
            edit.node("Mul", [x_s, w_s], [scale], f"{b}/ScaleMul"),
            edit.node("Mul", [acc_f, scale], [site.output], f"{b}/Mul"),
        ])
    return edit.finish()


def dynamic_int8_reference(x: np.ndarray, w: np.ndarray, weights: WeightQuantizer = PerChannelInt8()) -> np.ndarray:
    """numpy semantics of the chain: ONNX DynamicQuantizeLinear (uint8) and int32 accumulation."""
    x = np.asarray(x, np.float32)
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    s = (np.float32(hi) - np.float32(lo)) / np.float32(255.0)  # spec: (max - min) / (qmax - qmin)
    z = np.clip(np.rint(np.float32(0.0) - np.float32(lo) / s), 0, 255)
    x_q = np.clip(np.rint(x / s) + z, 0, 255).astype(np.int32)
    w_q, p = weights.quantize(w)
    acc = np.matmul(x_q - np.int32(z), w_q.astype(np.int32))  # (..., out) int32
    return acc.astype(np.float32) * (s * p.scale)
