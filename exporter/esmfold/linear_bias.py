"""Fold each quantized Linear's bias Add into onnxruntime's integer MatMul: one node per Linear instead of two.

quant writes a uniform int8 Linear in QDQ form (DESIGN.md):

    x_q = QuantizeLinear(x)      DequantizeLinear(x_q, s_x, z_x) ─┐
    W_q (int8 initializer)  ──>  DequantizeLinear(W_q, s_W, z_W) ─┴─ MatMul ── Add(b) ── y

onnxruntime runs the DQ-DQ-MatMul as one `com.microsoft::MatMulIntegerToFloat`, but leaves the
bias Add as a separate pass over the output (the folding trunk's pair Linears write L^2 x c_z
floats: the Adds were ~16% of the int8 bench trunk at L = 128, bench/results/fold_trunk_profile.md).
MatMulIntegerToFloat takes the bias itself and adds it in its output loop, so this pass writes

    MatMulIntegerToFloat(x_q, W_q, s_x, s_W, z_x, z_W, b) ── y

with the same integer product, scales and bias (float rounding of the last add aside). Only the
exact pattern is rewritten: per-tensor activation scale, a 2-D int8 weight initializer with
per-tensor or per-column (axis 1) scale, a 1-D bias initializer of the output width, and a MatMul
whose only consumer is that Add; anything else (PWLQ's split Linears, fake-quant sites, dynamic
quantization, Loop bodies) is left as it is.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

CONTRIB = "com.microsoft"


def _attr(node: onnx.NodeProto, name: str, default):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _dims(inits: dict, name: str) -> list[int] | None:
    return list(inits[name].dims) if name in inits else None


def _fusable(mm, producers, consumers, inits, outputs) -> tuple | None:
    """(activation DQ, weight DQ, Add, bias name) when `mm` is a quantized Linear with a bias Add."""
    if len(mm.input) != 2:
        return None
    a_dq, w_dq = producers.get(mm.input[0]), producers.get(mm.input[1])
    if a_dq is None or w_dq is None or a_dq.op_type != "DequantizeLinear" or w_dq.op_type != "DequantizeLinear":
        return None
    if len(a_dq.input) < 3 or len(w_dq.input) < 3 or a_dq.domain or w_dq.domain:
        return None
    if _dims(inits, a_dq.input[1]) not in ([], [1]) or a_dq.input[0] in inits:
        return None
    w = inits.get(w_dq.input[0])
    if w is None or w.data_type != TensorProto.INT8 or len(w.dims) != 2:
        return None
    n = w.dims[1]
    if _dims(inits, w_dq.input[1]) not in ([], [1], [n]) or (_dims(inits, w_dq.input[1]) == [n]
                                                             and _attr(w_dq, "axis", 1) not in (1, -1)):
        return None
    users = consumers.get(mm.output[0], [])
    if len(users) != 1 or users[0].op_type != "Add" or mm.output[0] in outputs:
        return None
    add = users[0]
    bias = add.input[1] if add.input[0] == mm.output[0] else add.input[0]
    b = inits.get(bias)
    if b is None or b.data_type != TensorProto.FLOAT or list(b.dims) != [n]:
        return None
    return a_dq, w_dq, add, bias


def fuse_linear_bias(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` with every such Linear fused (main graph only), and how many; `model` itself if none."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    plans = {}
    for node in graph.node:
        if node.op_type == "MatMul" and not node.domain:
            plan = _fusable(node, producers, consumers, inits, outputs)
            if plan is not None:
                plans[node.output[0]] = plan
    if not plans:
        return model, 0
    drop = set()
    fused = {}
    for mm_out, (a_dq, w_dq, add, bias) in plans.items():
        mm = producers[mm_out]
        fused[id(add)] = helper.make_node(
            "MatMulIntegerToFloat", [a_dq.input[0], w_dq.input[0], a_dq.input[1], w_dq.input[1], a_dq.input[2],
                                     w_dq.input[2], bias], [add.output[0]], domain=CONTRIB,
            name=f"{mm.name or mm_out}/MatMulIntegerToFloat")
        drop.add(id(mm))
        for dq in (a_dq, w_dq):  # a DequantizeLinear only this MatMul reads goes with it
            if all(id(c) == id(mm) for c in consumers.get(dq.output[0], [])) and dq.output[0] not in outputs:
                drop.add(id(dq))
    out = onnx.ModelProto()
    out.CopyFrom(model)
    nodes = []
    for node in graph.node:
        if id(node) in fused:
            nodes.append(fused[id(node)])
        elif id(node) not in drop:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    if not any(o.domain == CONTRIB for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(CONTRIB, 1))
    return out, len(plans)
