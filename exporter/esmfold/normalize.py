"""Pre-pass for traced graphs: every Linear becomes `MatMul(x, W_init)` (+ Add) so quant.sites finds it.

The TorchScript exporter writes an `nn.Linear` as MatMul with a pre-transposed initializer (found
as is), but a weight used more than once (ESMFold's structure module runs the same IPA block 8
times) reaches later uses through `Identity(W)`, and other exporters write `Gemm(x, W, b,
transB=1)` or `MatMul(x, Transpose(W))`. Each pattern is rewritten into the DESIGN.md Linear:

    Identity(W_init) -> y            uses of y read W_init directly
    Transpose(W_init, perm=[1, 0])   a new initializer W_init^T, (in, out)
    Gemm(x, W, b, alpha, beta, transB)  ->  MatMul(x, alpha * op(W)) + Add(beta * b)   (2-D x only)
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _consumers(graph: onnx.GraphProto, name: str) -> list[onnx.NodeProto]:
    return [n for n in graph.node if name in n.input]


def _rename_input(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _fold_identities(graph: onnx.GraphProto, inits: dict) -> int:
    outputs = {o.name for o in graph.output}
    drop = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs]
    for node in drop:
        _rename_input(graph, node.output[0], node.input[0])
        graph.node.remove(node)
    return len(drop)


def _fold_transposes(graph: onnx.GraphProto, inits: dict) -> int:
    count = 0
    for node in list(graph.node):
        if node.op_type != "Transpose" or node.input[0] not in inits or len(inits[node.input[0]].dims) != 2:
            continue
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), [1, 0])
        if perm != [1, 0] or not all(c.op_type == "MatMul" and c.input[1] == node.output[0]
                                     for c in _consumers(graph, node.output[0])):
            continue
        w_t = numpy_helper.to_array(inits[node.input[0]]).T.copy()
        name = f"{node.input[0]}_t"
        graph.initializer.append(numpy_helper.from_array(w_t, name))
        inits[name] = graph.initializer[-1]
        _rename_input(graph, node.output[0], name)
        graph.node.remove(node)
        count += 1
    return count


def _gemm_to_matmul(graph: onnx.GraphProto, inits: dict) -> int:
    count = 0
    for node in list(graph.node):
        if node.op_type != "Gemm" or node.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0):
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        w = (w.T if attrs.get("transB", 0) else w) * np.float32(attrs.get("alpha", 1.0))
        base = node.name or node.output[0]
        w_name = f"{node.input[1]}_matmul"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), w_name))
        inits[w_name] = graph.initializer[-1]
        has_bias = len(node.input) > 2 and node.input[2]
        mm_out = f"{base}/MatMul_out" if has_bias else node.output[0]
        new = [helper.make_node("MatMul", [node.input[0], w_name], [mm_out], name=f"{base}/MatMul")]
        if has_bias:
            bias = node.input[2]
            beta = float(attrs.get("beta", 1.0))
            if beta != 1.0 and bias in inits:
                b = numpy_helper.to_array(inits[bias]) * np.float32(beta)
                bias = f"{bias}_beta"
                graph.initializer.append(numpy_helper.from_array(b.astype(np.float32), bias))
            elif beta != 1.0:
                continue  # a computed bias scaled by beta: leave this Gemm alone
            new.append(helper.make_node("Add", [mm_out, bias], [node.output[0]], name=f"{base}/Add"))
        index = list(graph.node).index(node)
        graph.node.remove(node)
        for k, n in enumerate(new):
            graph.node.insert(index + k, n)
        count += 1
    return count


def normalize_linears(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """A copy of `model` with the patterns above rewritten; returns it and how many of each."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    counts = {"identity": _fold_identities(graph, inits), "transpose": _fold_transposes(graph, inits),
              "gemm": _gemm_to_matmul(graph, inits)}
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)
    return out, counts
