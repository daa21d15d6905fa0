"""PWLQ exact split for Linear inputs: two integer-friendly MatMuls instead of a fake-quant chain.

    x --Abs--> --Less(bp)--> mask
    x_mid  = Where(mask, x, 0)        --Q(u8, bp/127, 128)--> --DQ--> --MatMul(W_dq)--+
    x_tail = x - x_mid                --Q(u8,  M/127, 128)--> --DQ--> --MatMul(W_dq)--+-- Add --> y
    W_q (int8, (in,out)) --DQ(axis=1)--> W_dq   (one int8 initializer, one DQ per MatMul)

Both grids are symmetric uint8 with zero point 128, so 0 maps exactly to 0 and the out-of-piece
part of each branch contributes nothing: DQ(Q(x_mid)) + DQ(Q(x_tail)) equals the PWLQ fake-quant
value element by element (uint8 [0, 255] around 128 saturates exactly like int8 [-128, 127]
around 0), and by linearity y = PWLQ(x) @ W_dq up to float summation order. ORT fuses each
MatMul into MatMulIntegerToFloat (uint8 activations, the fast path on x86).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import LinearSite
from ..uniform import qparams_symmetric
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit
from ._qdq import dequantize_node, shared_quantize, weight_dequantize


@dataclass(frozen=True)
class PwlqSplitTarget:
    """Split-PWLQ one Linear: breakpoint bp and tail bound M of its input, real units, 8 bits."""

    site: LinearSite
    bp: float
    bound: float


def _split_tensor(edit: GraphEdit, x: str, bp: float) -> tuple[str, str]:
    """x_mid, x_tail of x (placed after x's producer, once per (x, bp))."""
    key = ("split", x, float(bp))
    if key not in edit.cache:
        base = f"{x}_split"
        bp_c = edit.const(f"{base}_bp", np.float32(bp))
        zero = edit.const(f"{base}_zero", np.float32(0.0))
        ax, mask, mid, tail = (edit.fresh(f"{base}_{t}") for t in ("abs", "mask", "mid", "tail"))
        edit.after(x, [edit.node("Abs", [x], [ax], f"{base}/Abs"),
                       edit.node("Less", [ax, bp_c], [mask], f"{base}/Less"),
                       edit.node("Where", [mask, x, zero], [mid], f"{base}/Where"),
                       edit.node("Sub", [x, mid], [tail], f"{base}/Sub")])
        edit.cache[key] = (mid, tail)
    return edit.cache[key]


def split_pwlq_linears(model: ModelProto, targets: Sequence[PwlqSplitTarget],
                       weights: WeightQuantizer = PerChannelInt8()) -> ModelProto:
    """Replace each target MatMul by the split form above."""
    edit = GraphEdit(model)
    for t in targets:
        if not 0.0 < t.bp <= t.bound:
            raise GraphRewriteError(t.site.node, f"need 0 < bp ({t.bp}) <= bound ({t.bound})")
        mid, tail = _split_tensor(edit, t.site.activation, t.bp)
        node, b = edit.node_at(t.site.node), t.site.node
        ys, new = [], []
        for part, x_part, half in (("mid", mid, t.bp), ("tail", tail, t.bound)):
            p = qparams_symmetric(np.float32(half), "uint8")
            q, s, z = shared_quantize(edit, x_part, p)
            dq_x, x_dq = dequantize_node(edit, q, s, z, f"{b}/{part}")
            dq_w, w_dq, _ = weight_dequantize(edit, t.site.weight, weights)
            y = edit.fresh(f"{b}/{part}_out")
            new += [dq_x, dq_w, edit.node("MatMul", [x_dq, w_dq], [y], f"{b}/{part}_MatMul")]
            ys.append(y)
        new.append(edit.node("Add", ys, [node.output[0]], f"{b}/Add"))
        edit.replace(b, new)
    return edit.finish()
