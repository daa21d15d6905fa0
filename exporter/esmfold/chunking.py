"""Row-chunked triangle attention: a torch op that traces to a placeholder node, and its ONNX Loop expansion.

ESMFold's reference chunks triangle attention over the rows of the pair representation
(`EsmFoldingTrunk.set_chunk_size`): the (B, I, H, J, K) logits, i.e. 4 * L^3 floats at c_z = 128,
are then only ever live for `chunk` rows. Everything outside the attention core (LayerNorm, the
q/k/v/gate/bias Linears, the output Linear) is O(L^2) and stays in the main graph, where quant
finds and quantizes it. The core has no weights:

    logits = q k^T + mask_bias[:, :, None, None, :] + tri_bias[:, None]    (B, I, H, J, K)
    out    = softmax(logits, -1) v                                          (B, I, H, J, c)

Tracing emits it as one `edgefold::ChunkedTriangleAttention` node with explicit inputs, so every
graph pass (normalize, calibration outputs, QDQ insertion) works on it like any other node; just
before a model is run or written, `expand_chunked_attention` replaces each placeholder with
standard ONNX: Pad the rows to a multiple of `chunk`, a Loop whose body slices one chunk of rows
and computes the core, and a Reshape + Slice of the stacked chunks. The Softmax inside the Loop
body is not a main-graph tensor, so calibration cannot observe it and it stays float.
"""
from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DOMAIN, OP = "edgefold", "ChunkedTriangleAttention"


def attention_core(q, k, v, mask_bias, tri_bias):
    """Unchunked core in torch; q, k, v (B, I, H, J, c), mask_bias (B, I, K), tri_bias (B, H, J, K)."""
    logits = q @ k.transpose(-1, -2) + mask_bias[:, :, None, None, :] + tri_bias[:, None]
    return logits.softmax(dim=-1) @ v


@functools.cache
def _chunked_function():
    import torch

    class ChunkedCore(torch.autograd.Function):
        """attention_core over `chunk` rows at a time; traces to one placeholder node."""

        @staticmethod
        def forward(ctx, q, k, v, mask_bias, tri_bias, chunk: int):
            rows = range(0, q.shape[1], chunk)
            return torch.cat([attention_core(q[:, i:i + chunk], k[:, i:i + chunk], v[:, i:i + chunk],
                                             mask_bias[:, i:i + chunk], tri_bias) for i in rows], dim=1)

        @staticmethod
        def symbolic(g, q, k, v, mask_bias, tri_bias, chunk: int):
            out = g.op(f"{DOMAIN}::{OP}", q, k, v, mask_bias, tri_bias, chunk_i=chunk)
            out.setType(q.type().with_sizes([None] * 5))  # the length axes are dynamic
            return out

    return ChunkedCore


def chunked_attention_core(q, k, v, mask_bias, tri_bias, chunk: int | None):
    """attention_core, row-chunked when `chunk` is set (same result up to float rounding)."""
    if chunk is None:
        return attention_core(q, k, v, mask_bias, tri_bias)
    if chunk < 1:
        raise ValueError(f"chunk size must be a positive number of rows, got {chunk}")
    return _chunked_function().apply(q, k, v, mask_bias, tri_bias, int(chunk))


def has_placeholders(model: onnx.ModelProto) -> bool:
    return any(n.domain == DOMAIN and n.op_type == OP for n in model.graph.node)


def _const(name: str, value, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name))


def _body(p: str, chunk: int, inputs: tuple[str, ...]) -> onnx.GraphProto:
    """Loop body: iteration i -> the core over padded rows [i*chunk, (i+1)*chunk)."""
    q, k, v, mb, tb = inputs
    n = lambda *a, **kw: helper.make_node(*a, **kw)  # noqa: E731
    nodes = [
        _const(f"{p}_c", [chunk]), _const(f"{p}_axis", [1]), _const(f"{p}_mb_axes", [2, 3]),
        _const(f"{p}_axis0", [0]),
        n("Unsqueeze", [f"{p}_iter", f"{p}_axis0"], [f"{p}_i1"]),
        n("Mul", [f"{p}_i1", f"{p}_c"], [f"{p}_start"]),
        n("Add", [f"{p}_start", f"{p}_c"], [f"{p}_end"]),
    ]
    for name in (q, k, v, mb):
        nodes.append(n("Slice", [name, f"{p}_start", f"{p}_end", f"{p}_axis"], [f"{name}_chunk"]))
    nodes += [
        n("Transpose", [f"{k}_chunk"], [f"{p}_kt"], perm=[0, 1, 2, 4, 3]),
        n("MatMul", [f"{q}_chunk", f"{p}_kt"], [f"{p}_qk"]),
        n("Unsqueeze", [f"{mb}_chunk", f"{p}_mb_axes"], [f"{p}_mb5"]),
        n("Unsqueeze", [tb, f"{p}_axis"], [f"{p}_tb5"]),
        n("Add", [f"{p}_qk", f"{p}_mb5"], [f"{p}_l1"]),
        n("Add", [f"{p}_l1", f"{p}_tb5"], [f"{p}_logits"]),
        n("Softmax", [f"{p}_logits"], [f"{p}_probs"], axis=-1),
        n("MatMul", [f"{p}_probs", f"{v}_chunk"], [f"{p}_out_chunk"]),
        n("Identity", [f"{p}_cond_in"], [f"{p}_cond_out"]),
    ]
    f32 = TensorProto.FLOAT
    return helper.make_graph(
        nodes, f"{p}_body",
        [helper.make_tensor_value_info(f"{p}_iter", TensorProto.INT64, []),
         helper.make_tensor_value_info(f"{p}_cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info(f"{p}_cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info(f"{p}_out_chunk", f32, None)])


def _expand_one(node: onnx.NodeProto, p: str) -> list[onnx.NodeProto]:
    """Main-graph nodes replacing one placeholder: pad rows, Loop over chunks, stitch and crop."""
    chunk = next(a.i for a in node.attribute if a.name == "chunk")
    q, k, v, mb, tb = node.input
    n = helper.make_node
    nodes = [
        _const(f"{p}_c", [chunk]), _const(f"{p}_cm1", [chunk - 1]), _const(f"{p}_zero", [0]),
        _const(f"{p}_zeros4", [0, 0, 0, 0]), _const(f"{p}_zeros3", [0, 0, 0]), _const(f"{p}_zeros1", [0]),
        _const(f"{p}_minus1", [-1]), _const(f"{p}_axis", [1]), _const(f"{p}_two", [2]),
        _const(f"{p}_five", [5]),
        n("Shape", [q], [f"{p}_qshape"]),
        n("Shape", [q], [f"{p}_rows"], start=1, end=2),
        n("Add", [f"{p}_rows", f"{p}_cm1"], [f"{p}_rows_up"]),
        n("Div", [f"{p}_rows_up", f"{p}_c"], [f"{p}_nchunks1"]),
        n("Squeeze", [f"{p}_nchunks1", f"{p}_zero"], [f"{p}_nchunks"]),
        n("Mul", [f"{p}_nchunks1", f"{p}_c"], [f"{p}_rows_pad"]),
        n("Sub", [f"{p}_rows_pad", f"{p}_rows"], [f"{p}_extra"]),
        # Pad pads = [begin of each axis..., end of each axis...]; only the end of axis 1 is non-zero
        n("Concat", [f"{p}_zeros4", f"{p}_zeros1", f"{p}_zeros1", f"{p}_extra", f"{p}_zeros3"],
          [f"{p}_pads5"], axis=0),
        n("Concat", [f"{p}_zeros3", f"{p}_zeros1", f"{p}_extra", f"{p}_zeros1"], [f"{p}_pads3"], axis=0),
    ]
    padded = []
    for name in (q, k, v, mb):
        pads = f"{p}_pads3" if name == mb else f"{p}_pads5"
        padded.append(f"{p}_{len(padded)}_padded")
        nodes.append(n("Pad", [name, pads], [padded[-1]], mode="constant"))
    body = _body(f"{p}_loop", chunk, (*padded, tb))  # own prefix: a body must not shadow outer names
    nodes += [
        n("Loop", [f"{p}_nchunks", ""], [f"{p}_stacked"], body=body),   # (n, B, chunk, H, J, c)
        n("Transpose", [f"{p}_stacked"], [f"{p}_bnc"], perm=[1, 0, 2, 3, 4, 5]),
        n("Slice", [f"{p}_qshape", f"{p}_zeros1", f"{p}_axis"], [f"{p}_b"]),
        n("Slice", [f"{p}_qshape", f"{p}_two", f"{p}_five"], [f"{p}_hjc"]),
        n("Concat", [f"{p}_b", f"{p}_minus1", f"{p}_hjc"], [f"{p}_shape"], axis=0),
        n("Reshape", [f"{p}_bnc", f"{p}_shape"], [f"{p}_padded_out"]),
        n("Slice", [f"{p}_padded_out", f"{p}_zeros1", f"{p}_rows", f"{p}_axis"], [node.output[0]]),
    ]
    return nodes


def expand_chunked_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with each placeholder replaced by standard ONNX; `model` itself when it has none.

    Every part is passed through here before it is run or written, so a model without
    placeholders is not copied (the full trunk is 2.7 GB); the input is never modified.
    """
    if not has_placeholders(model):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    nodes, count = [], 0
    for node in model.graph.node:
        if node.domain == DOMAIN and node.op_type == OP:
            nodes += _expand_one(node, f"chunked_attention_{count}")
            count += 1
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    keep = [o for o in out.opset_import if o.domain != DOMAIN]
    del out.opset_import[:]
    out.opset_import.extend(keep)
    return out
