"""Channel-split PWLQ for Linear inputs: one full int8 MatMul plus a thin float MatMul over the
few input channels whose calibrated range passes the breakpoint.

The exact split (pwlq_split.py) runs two full-width integer MatMuls per Linear, 2x the int8 time.
ESM-2's large activations sit in a few systematic channels, so the tail grid is only ever needed
there. With T the tail channels (indices into the last axis of x):

    x --Q(main)--> --DQ--> --MatMul(W_dq)------------------------------------+
    x --Gather(T, axis=-1)--> x_T                                            Add --> y
         z_T = Where(lo < x_T < hi, 0, tail(x_T) - DQ(Q(x_T; main)))          |
         z_T --MatMul(W_dq[T, :], float)--------------------------------------+

`main` is the grid every element gets (saturating), `tail(x_T)` the tail grid's value (a Q/DQ
pair) or x_T itself (float tail). Each element of a tail channel outside (lo, hi) thereby counts
as tail(x), every other element as main(x): the piecewise quantizer, restricted to T. With T =
all channels, main the symmetric mid grid (bp/127) and (lo, hi) = (-bp, bp) this is the exact
split up to float summation order; with T empty it is plain static int8 (qdq_static.py). The thin
weight W_dq[T, :] is the dequantized int8 weight's rows, so both MatMuls see the same weights.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import LinearSite
from ..uniform import QParams
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit, rewire
from ._qdq import dequantize_node, dequantized_rows, shared_quantize, weight_dequantize


@dataclass(frozen=True, eq=False)
class PwlqChannelTarget:
    """One Linear: `main` (per-tensor uint8/int8 QParams) for every element, and for the input
    channels `channels` the `tail` grid (None: float) outside the open interval (lo, hi)."""

    site: LinearSite
    main: QParams
    channels: tuple[int, ...]
    lo: float
    hi: float
    tail: QParams | None = None


def _fake_quant(edit: GraphEdit, x: str, p: QParams, base: str) -> tuple[list, str]:
    """Q/DQ nodes (unplaced) giving the grid value of x, and that value's name."""
    s, z = edit.qparam_consts(base, p)
    q = edit.fresh(f"{base}_quantized")
    qn = edit.node("QuantizeLinear", [x, s, z], [q], f"{base}/QuantizeLinear")
    dq, out = dequantize_node(edit, q, s, z, base)
    return [qn, dq], out


def _tail_correction(edit: GraphEdit, t: PwlqChannelTarget) -> str:
    """z_T above for (input, grids, channels), placed after the input's producer, built once."""
    x = t.site.activation
    tail_key = None if t.tail is None else (float(t.tail.scale), int(t.tail.zero_point))
    key = ("chan", x, t.channels, float(t.main.scale), int(t.main.zero_point), t.lo, t.hi, tail_key)
    if key in edit.cache:
        return edit.cache[key]
    base = f"{x}_tail{len(t.channels)}"
    idx = edit.const(f"{base}_channels", np.asarray(t.channels, dtype=np.int64))
    xt, lt, gt, mid, diff, z = (edit.fresh(f"{base}_{n}") for n in ("x", "lt", "gt", "mid", "diff", "z"))
    nodes = [edit.node("Gather", [x, idx], [xt], f"{base}/Gather", axis=-1)]
    main_nodes, main_v = _fake_quant(edit, xt, t.main, f"{base}_main")
    nodes += main_nodes
    if t.tail is None:
        tail_v = xt
    else:
        tail_nodes, tail_v = _fake_quant(edit, xt, t.tail, f"{base}_tailgrid")
        nodes += tail_nodes
    zero = edit.const(f"{base}_zero", np.float32(0.0))
    nodes += [edit.node("Less", [xt, edit.const(f"{base}_hi", np.float32(t.hi))], [lt], f"{base}/Less"),
              edit.node("Greater", [xt, edit.const(f"{base}_lo", np.float32(t.lo))], [gt], f"{base}/Greater"),
              edit.node("And", [lt, gt], [mid], f"{base}/And"),
              edit.node("Sub", [tail_v, main_v], [diff], f"{base}/Sub"),
              edit.node("Where", [mid, zero, diff], [z], f"{base}/Where")]
    edit.after(x, nodes)
    edit.cache[key] = z
    return z


def _check(t: PwlqChannelTarget, width: int | None) -> None:
    if t.main.axis is not None:
        raise GraphRewriteError(t.site.activation, "main QParams must be per-tensor")
    if not t.lo < t.hi:
        raise GraphRewriteError(t.site.node, f"need lo ({t.lo}) < hi ({t.hi})")
    if len(set(t.channels)) != len(t.channels) or any(c < 0 or (width is not None and c >= width)
                                                     for c in t.channels):
        raise GraphRewriteError(t.site.node, f"tail channels must be distinct indices in [0, {width})")


def channel_split_linears(model: ModelProto, targets: Sequence[PwlqChannelTarget],
                          weights: WeightQuantizer = PerChannelInt8()) -> ModelProto:
    """Rewrite each target MatMul into the full int8 MatMul plus (when it has tail channels) the
    thin correction MatMul above; the output keeps its name."""
    edit = GraphEdit(model)
    for t in targets:
        _check(t, int(edit.initializer(t.site.weight).shape[0]))
        q, s, zp = shared_quantize(edit, t.site.activation, t.main)
        dq_x, x_dq = dequantize_node(edit, q, s, zp, f"{t.site.node}/input")
        dq_w, w_dq, _ = weight_dequantize(edit, t.site.weight, weights)
        node = edit.node_at(t.site.node)
        if not t.channels:
            rewire(node, t.site.activation, x_dq)
            rewire(node, t.site.weight, w_dq)
            edit.before(t.site.node, [dq_x, dq_w])
            continue
        b = t.site.node
        y_main, y_thin = edit.fresh(f"{b}/main_out"), edit.fresh(f"{b}/tail_out")
        z = _tail_correction(edit, t)
        thin_w = dequantized_rows(edit, t.site.weight, t.channels, weights)
        edit.replace(b, [dq_x, dq_w, edit.node("MatMul", [x_dq, w_dq], [y_main], f"{b}/main_MatMul"),
                         edit.node("MatMul", [z, thin_w], [y_thin], f"{b}/tail_MatMul"),
                         edit.node("Add", [y_main, y_thin], [node.output[0]], f"{b}/Add")])
    return edit.finish()
