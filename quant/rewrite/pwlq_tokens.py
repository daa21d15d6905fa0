"""The "tokens" form of pwlq8's Linear inputs: one integer MatMul on a per-token 8-bit grid
(quant/token_grid.py gives the math). The few widest input channels, which would set every row's
scale, are either scaled into the others' range (`channel_scale`, the default outlier handling)
or kept in float by a thin MatMul (`channels`).

With z the tensor's static zero point, and x_m = x / m (scaled: m_c a power of two, the weight's
row c times m_c before its int8 quantization) or x_m = x * keep (float: keep = 0 on the float
channels T, 1 elsewhere):

    s   = max(ReduceMax(x_m) / (255 - z), -ReduceMin(x_m) / z, 1e-12)   per row
    x_m --Q(u8, s, z; one block per row)--> --DQ(1, z)--> --MatMul(W_dq)--> * s ----------+--> y
    float only: x --Gather(T, axis=-1)--> x_T --MatMul(W_dq[T, :], float)----------------+ Add
                                                                      (Sum(.., .., b) --> y + b)

The integer tensor is dequantized with scale 1 and one scalar zero point, so onnxruntime fuses
DQ, DQ and MatMul into MatMulIntegerToFloat as for static int8 (qdq_static.py); the row scale is
applied to the MatMul's output. In the float form, when the MatMul's only consumer adds a constant
bias b, one Sum joins the two parts and b, and that Add goes (one pass over the output fewer). (A
Gemm over the thin part with Shape-driven Reshapes did the same but made onnxruntime's session
creation superlinear in the number of Linears: 25 s for 200 of them against 0.4 s; not kept.)
The row statistics and the grid are built once per input tensor and shared by its Linears (q, k
and v read one LayerNorm output). The thin weight is the dequantized int8 weight's rows, so both
MatMuls see the same weights. The rewrite equals token_fake_quant(x / m) @ W_dq(W * m), resp.
token_fake_quant(x, T) @ W_dq, up to float summation order.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import LinearSite, node_key
from ..token_grid import MIN_SCALE
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit
from ._qdq import dequantize_node, dequantized_rows, weight_dequantize


@dataclass(frozen=True)
class TokenGridTarget:
    """One Linear: its input channels `channels` in float, the rest on the per-token uint8 grid
    with zero point `zero_point` (1..254). With `channel_scale` (one factor m_c >= 1 per input
    channel; `channels` then empty) every channel goes on the grid as x_c / m_c and the weight's
    row c is multiplied by m_c before its int8 quantization: the wide channels are brought into
    the others' range instead of running in float."""

    site: LinearSite
    channels: tuple[int, ...]
    zero_point: int
    channel_scale: tuple[float, ...] = ()


def _row_reduce(edit: GraphEdit, op: str, x: str, out: str, base: str):
    """ReduceMax / ReduceMin over the last axis, kept (axes as an input from opset 18)."""
    if edit.opset >= 18:
        axes = edit.shared_const(np.asarray([-1], dtype=np.int64))
        return edit.node(op, [x, axes], [out], f"{base}/{op}", keepdims=1)
    return edit.node(op, [x], [out], f"{base}/{op}", axes=[-1], keepdims=1)


def _token_grid(edit: GraphEdit, x: str, channels: tuple[int, ...], z: int, width: int,
                channel_scale: tuple[float, ...] = ()) -> tuple[str, str, str, str]:
    """(quantized x_m / s, its scale and zero-point names, row scale s) for x, placed after x's
    producer, built once per (x, channels, z, channel_scale)."""
    key = ("tokens", x, channels, z, channel_scale)
    if key in edit.cache:
        return edit.cache[key]
    base = f"{x}_tokens{len(channels)}"
    nodes = []
    xm = x
    if channel_scale:
        inv = (1.0 / np.asarray(channel_scale, dtype=np.float64)).astype(np.float32)
        xm = edit.fresh(f"{base}_scaled")
        inv_name = edit.const(f"{base}_inv_channel_scale", inv)
        nodes.append(edit.node("Mul", [x, inv_name], [xm], f"{base}/ChannelScale"))
    elif channels:
        keep = np.ones(width, dtype=np.float32)
        keep[list(channels)] = 0.0
        xm = edit.fresh(f"{base}_kept")
        nodes.append(edit.node("Mul", [x, edit.const(f"{base}_keep", keep)], [xm], f"{base}/Keep"))
    hi, lo, a, b, s = (edit.fresh(f"{base}_{n}") for n in ("hi", "lo", "a", "b", "scale"))
    # max(max(hi, 0) / (255 - z), max(-lo, 0) / z, tiny) = max(hi / (255 - z), lo * (-1 / z), tiny):
    # a negative term never wins against the positive floor
    nodes += [_row_reduce(edit, "ReduceMax", xm, hi, f"{base}_hi"),
              _row_reduce(edit, "ReduceMin", xm, lo, f"{base}_lo"),
              edit.node("Mul", [hi, edit.shared_const(np.float32(1.0 / (255 - z)))], [a], f"{base}/Pos"),
              edit.node("Mul", [lo, edit.shared_const(np.float32(-1.0 / z))], [b], f"{base}/Neg"),
              edit.node("Max", [a, b, edit.shared_const(np.float32(MIN_SCALE))], [s], f"{base}/Max")]
    q = edit.fresh(f"{base}_quantized")
    one, zp = edit.shared_const(np.float32(1.0)), edit.shared_const(np.uint8(z))
    if edit.opset >= 21:  # blocked QuantizeLinear: the row's scale, one block per row
        shape, zps = edit.fresh(f"{base}_scale_shape"), edit.fresh(f"{base}_zero_points")
        nodes += [edit.node("Shape", [s], [shape], f"{base}/Shape"),
                  edit.node("Expand", [zp, shape], [zps], f"{base}/Expand"),
                  edit.node("QuantizeLinear", [xm, s, zps], [q], f"{base}/QuantizeLinear", axis=-1,
                            block_size=width)]
    else:
        xs = edit.fresh(f"{base}_xs")
        nodes += [edit.node("Div", [xm, s], [xs], f"{base}/Div"),
                  edit.node("QuantizeLinear", [xs, one, zp], [q], f"{base}/QuantizeLinear")]
    edit.after(x, nodes)
    edit.cache[key] = (q, one, zp, s)
    return edit.cache[key]


def _bias_add(edit: GraphEdit, y: str):
    """(node, bias name) of the Add that is the only consumer of `y` and adds a 1-D constant, else None."""
    users = edit.consumers(y)
    if len(users) != 1 or users[0].op_type != "Add" or y in {o.name for o in edit.graph.output}:
        return None
    other = [i for i in users[0].input if i != y]
    consts = {t.name: t for t in edit.graph.initializer}
    if len(other) != 1 or other[0] not in consts or len(consts[other[0]].dims) != 1:
        return None
    return users[0], other[0]


def _scaled_weight(edit: GraphEdit, weight: str, channel_scale: tuple[float, ...]) -> str:
    """`weight` with row c multiplied by channel_scale[c] (a new initializer, once per pair), or
    `weight` itself when there is no scale."""
    if not channel_scale:
        return weight
    key = ("scaled_weight", weight, channel_scale)
    if key not in edit.cache:
        w = edit.initializer(weight) * np.asarray(channel_scale, dtype=np.float32)[:, None]
        edit.cache[key] = edit.const(f"{weight}_channel_scaled", w.astype(np.float32))
        edit.drop_if_unused(weight)
    return edit.cache[key]


def _float_part(edit: GraphEdit, x: str, channels: tuple[int, ...]) -> str:
    """x_T = Gather(x, T, axis=-1), placed after x's producer, once per (x, T)."""
    key = ("gather", x, channels)
    if key not in edit.cache:
        base = f"{x}_float{len(channels)}"
        xt = edit.fresh(f"{base}_x")
        idx = edit.const(f"{base}_channels", np.asarray(channels, dtype=np.int64))
        edit.after(x, [edit.node("Gather", [x, idx], [xt], f"{base}/Gather", axis=-1)])
        edit.cache[key] = xt
    return edit.cache[key]


def token_grid_linears(model: ModelProto, targets: Sequence[TokenGridTarget],
                       weights: WeightQuantizer = PerChannelInt8()) -> ModelProto:
    """Replace each target MatMul by the form above; its output keeps its name."""
    edit = GraphEdit(model)
    for t in targets:
        if not 0 < t.zero_point < 255:
            raise GraphRewriteError(t.site.node, f"zero point {t.zero_point} not in 1..254")
        x, b = t.site.activation, t.site.node
        width = int(edit.initializer(t.site.weight).shape[0])
        if len(set(t.channels)) != len(t.channels) or any(c < 0 or c >= width for c in t.channels):
            raise GraphRewriteError(b, f"float channels must be distinct indices in [0, {width})")
        if t.channel_scale and (t.channels or len(t.channel_scale) != width or min(t.channel_scale) < 1.0):
            raise GraphRewriteError(b, f"channel_scale needs {width} factors >= 1 and no float channels")
        q, q_scale, q_zp, s = _token_grid(edit, x, t.channels, t.zero_point, width, t.channel_scale)
        dq_x, x_dq = dequantize_node(edit, q, q_scale, q_zp, f"{b}/input")
        dq_w, w_dq, _ = weight_dequantize(edit, _scaled_weight(edit, t.site.weight, t.channel_scale), weights)
        out = edit.node_at(b).output[0]
        y_int = edit.fresh(f"{b}/int_out")
        new = [dq_x, dq_w, edit.node("MatMul", [x_dq, w_dq], [y_int], f"{b}/int_MatMul")]
        if not t.channels:
            new.append(edit.node("Mul", [y_int, s], [out], f"{b}/RowScale"))
        else:
            y_scaled, y_float = edit.fresh(f"{b}/scaled_out"), edit.fresh(f"{b}/float_out")
            thin = dequantized_rows(edit, t.site.weight, t.channels, weights)
            new += [edit.node("Mul", [y_int, s], [y_scaled], f"{b}/RowScale"),
                    edit.node("MatMul", [_float_part(edit, x, t.channels), thin], [y_float], f"{b}/float_MatMul")]
            bias = _bias_add(edit, out)
            if bias is None:
                new.append(edit.node("Add", [y_scaled, y_float], [out], f"{b}/Add"))
            else:  # one Sum joins the two parts and the bias: one pass over the output fewer
                add, b_name = bias
                new.append(edit.node("Sum", [y_scaled, y_float, b_name], [add.output[0]], f"{b}/Sum"))
                edit.replace(node_key(add), [])
        edit.replace(b, new)
    return edit.finish()
