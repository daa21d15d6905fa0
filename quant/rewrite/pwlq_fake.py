"""PWLQ fake-quant (faithful form), static or dynamic breakpoint, on arbitrary tensors.

    x --Abs--> |x| --Less(bp)--> mask ------------------------+
    x --Q(bp/127, 0)--> --DQ--> x_mid ----------------------- Where(mask, x_mid, x_tail) --> consumer(s)
    x --Q(M/127, 0)---> --DQ--> x_tail ----------------------+

Dynamic variant: bp and M are computed in the graph from x itself (M = ReduceMax|x|,
std = sqrt(ReduceMean((x - mean)^2)), m = M / std, bp = std * clamp(ln(0.8614 m + 0.6079), 1e-3 m, m)),
the closed form because it is evaluable with standard ops.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import ModelProto, NodeProto

from ..errors import GraphRewriteError
from ..pwlq import TINY_SCALE
from ._graph import GraphEdit, rewire
from .fake_quant import consumer_nodes

_QMAX = 127.0  # 8-bit narrow symmetric grid: scale = half_range / 127


@dataclass(frozen=True)
class PwlqTarget:
    """Static PWLQ on `tensor`: breakpoint bp and tail bound M in real units (8 bits)."""

    tensor: str
    bp: float
    bound: float
    consumers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DynamicPwlqTarget:
    """Dynamic-breakpoint PWLQ on `tensor` (8 bits)."""

    tensor: str
    consumers: tuple[str, ...] | None = None


def _qdq_pair(edit: GraphEdit, x: str, scale: str, zp: str, base: str) -> tuple[list[NodeProto], str]:
    q, out = edit.fresh(f"{base}_quantized"), edit.fresh(f"{base}_dequantized")
    return [edit.node("QuantizeLinear", [x, scale, zp], [q], f"{base}/QuantizeLinear"),
            edit.node("DequantizeLinear", [q, scale, zp], [out], f"{base}/DequantizeLinear")], out


def _select(edit: GraphEdit, x: str, bp: str, s_mid: str, s_tail: str, zp: str, base: str,
            ax: str | None = None) -> tuple[list[NodeProto], str]:
    """Abs/Less/two Q-DQ pairs/Where: the piecewise quantizer given bp and the two scales."""
    mask, out = (edit.fresh(f"{base}_{t}") for t in ("mask", "pwlq"))
    abs_nodes = []
    if ax is None:
        ax = edit.fresh(f"{base}_abs")
        abs_nodes = [edit.node("Abs", [x], [ax], f"{base}/Abs")]
    mid_nodes, mid = _qdq_pair(edit, x, s_mid, zp, f"{base}_mid")
    tail_nodes, tail = _qdq_pair(edit, x, s_tail, zp, f"{base}_tail")
    return [*abs_nodes,
            edit.node("Less", [ax, bp], [mask], f"{base}/Less"),
            *mid_nodes, *tail_nodes,
            edit.node("Where", [mask, mid, tail], [out], f"{base}/Where")], out


def insert_pwlq_fake_quant(model: ModelProto, targets: Sequence[PwlqTarget]) -> ModelProto:
    """Static-breakpoint PWLQ fake-quant after each target tensor's producer."""
    edit = GraphEdit(model)
    for t in targets:
        if not 0.0 < t.bp <= t.bound:
            raise GraphRewriteError(t.tensor, f"need 0 < bp ({t.bp}) <= bound ({t.bound})")
        nodes = consumer_nodes(edit, t.tensor, t.consumers)
        base = f"{t.tensor}_pwlq"
        bp = edit.const(f"{base}_bp", np.float32(t.bp))
        s_mid = edit.const(f"{base}_mid_scale", np.float32(t.bp) / np.float32(_QMAX))
        s_tail = edit.const(f"{base}_tail_scale", np.float32(t.bound) / np.float32(_QMAX))
        zp = edit.const(f"{base}_zero_point", np.int8(0))
        chain, out = _select(edit, t.tensor, bp, s_mid, s_tail, zp, base)
        edit.after(t.tensor, chain)
        for n in nodes:
            rewire(n, t.tensor, out)
    return edit.finish()


def _dynamic_bp(edit: GraphEdit, x: str, ax: str, base: str) -> tuple[list[NodeProto], str, str]:
    """Nodes computing (bp, M) from x at run time; returns (nodes, bp, M). Scalars, float32."""
    c = {k: edit.const(f"{base}_{k}", np.float32(v)) for k, v in
         (("coef", 0.86143114), ("intercept", 0.607901097496529), ("min_ratio", 1e-3),
          ("tiny", TINY_SCALE))}
    t = {k: edit.fresh(f"{base}_{k}") for k in
         ("absmax", "mean", "centered", "sq", "var", "std0", "std", "m", "am", "lin", "log",
          "floor", "pmax", "p", "bp")}
    n = edit.node
    nodes = [
        n("ReduceMax", [ax], [t["absmax"]], f"{base}/ReduceMax", keepdims=0),
        n("ReduceMean", [x], [t["mean"]], f"{base}/ReduceMean", keepdims=0),
        n("Sub", [x, t["mean"]], [t["centered"]], f"{base}/Sub"),
        n("Mul", [t["centered"], t["centered"]], [t["sq"]], f"{base}/Square"),
        n("ReduceMean", [t["sq"]], [t["var"]], f"{base}/Variance", keepdims=0),
        n("Sqrt", [t["var"]], [t["std0"]], f"{base}/Sqrt"),
        n("Max", [t["std0"], c["tiny"]], [t["std"]], f"{base}/StdFloor"),
        n("Div", [t["absmax"], t["std"]], [t["m"]], f"{base}/M"),              # m = M / std
        n("Mul", [t["m"], c["coef"]], [t["am"]], f"{base}/Coef"),
        n("Add", [t["am"], c["intercept"]], [t["lin"]], f"{base}/Intercept"),
        n("Log", [t["lin"]], [t["log"]], f"{base}/Log"),                       # ln(0.8614 m + 0.6079)
        n("Mul", [t["m"], c["min_ratio"]], [t["floor"]], f"{base}/Floor"),
        n("Max", [t["log"], t["floor"]], [t["pmax"]], f"{base}/ClampLow"),
        n("Min", [t["pmax"], t["m"]], [t["p"]], f"{base}/ClampHigh"),
        n("Mul", [t["p"], t["std"]], [t["bp"]], f"{base}/Breakpoint"),         # bp = p * std
    ]
    return nodes, t["bp"], t["absmax"]


def _scale(edit: GraphEdit, half_range: str, base: str) -> tuple[list[NodeProto], str]:
    """scale = max(half_range / 127, tiny)."""
    qmax, tiny = edit.const(f"{base}_qmax", np.float32(_QMAX)), edit.const(f"{base}_tiny", np.float32(TINY_SCALE))
    raw, out = edit.fresh(f"{base}_raw"), edit.fresh(base)
    return [edit.node("Div", [half_range, qmax], [raw], f"{base}/Div"),
            edit.node("Max", [raw, tiny], [out], f"{base}/Max")], out


def insert_pwlq_dynamic(model: ModelProto, targets: Sequence[DynamicPwlqTarget]) -> ModelProto:
    """Dynamic-breakpoint PWLQ fake-quant (the paper's run-time bp) after each target's producer."""
    edit = GraphEdit(model)
    for t in targets:
        nodes = consumer_nodes(edit, t.tensor, t.consumers)
        base = f"{t.tensor}_pwlqdyn"
        ax = edit.fresh(f"{base}_absx")
        bp_nodes, bp, bound = _dynamic_bp(edit, t.tensor, ax, base)
        mid_nodes, s_mid = _scale(edit, bp, f"{base}_mid_scale")
        tail_nodes, s_tail = _scale(edit, bound, f"{base}_tail_scale")
        zp = edit.const(f"{base}_zero_point", np.int8(0))
        chain, out = _select(edit, t.tensor, bp, s_mid, s_tail, zp, base, ax)
        edit.after(t.tensor, [edit.node("Abs", [t.tensor], [ax], f"{base}/Abs"),
                              *bp_nodes, *mid_nodes, *tail_nodes, *chain])
        for n in nodes:
            rewire(n, t.tensor, out)
    return edit.finish()
