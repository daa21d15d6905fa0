"""Triangle attention's weightless core: a torch op that traces to a placeholder node, and its ONNX expansion.

ESMFold's reference chunks triangle attention over the rows of the pair representation
(`EsmFoldingTrunk.set_chunk_size`): the (B, I, H, J, K) logits, i.e. 4 * L^3 floats at c_z = 128,
are then only ever live for `chunk` rows. Everything outside the attention core (LayerNorm, the
q/k/v/gate/bias Linears, the output Linear) is O(L^2) and stays in the main graph, where quant
finds and quantizes it. The core has no weights; on the Linears' outputs q, k, v (B, I, J, H*c):

    logits = q k^T / sqrt(c) + inf * (mask - 1)[:, :, None, None, :] + tri_bias[:, None]   (B, I, H, J, K)
    out    = softmax(logits, -1) v                                      (B, I, J, H*c), heads merged

Tracing emits it as one `edgefold::ChunkedTriangleAttention` node with explicit inputs, so every
graph pass (normalize, calibration outputs, QDQ insertion) works on it like any other node; just
before a model is run or written, `expand_chunked_attention` replaces each placeholder with
onnxruntime's fused `com.microsoft::MultiHeadAttention` over B * I rows of attention (q, k, v stay in
the Linears' layout: no split-heads Transposes; tri_bias is the attention bias broadcast over rows,
the mask the key padding mask, filled with -inf as the reference). With a chunk size, an If runs the
core on all rows at once while there are at most `unchunked_rows` of them (the logits are then no
larger than the pair activations around them; in one noisy side-by-side run the bench trunk's
median was 1.14x / 1.07x faster than with the chunked Loop at L = 128 / 256, though the fastest
single run at 256 was chunked: bench/results/fold_trunk_unchunked_vs_loop.md) and otherwise Pads the rows to a multiple of `chunk`, Loops over chunks (the body slices
one chunk of rows and runs the core) and Reshapes + Slices the stacked chunks. The Softmax is
inside the fused op, not a main-graph tensor, so calibration cannot observe it and it stays float.
The expansion is for batch 1 (what the app and calibration run): MultiHeadAttention broadcasts the
bias over its B * I rows only when B = 1, and onnxruntime refuses other batches with a shape error.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import triangle_product

DOMAIN, OP = "edgefold", "ChunkedTriangleAttention"
CONTRIB = "com.microsoft"  # onnxruntime's contrib op domain (MultiHeadAttention)


def unchunked_rows(c_z: int, heads: int) -> int:
    """Rows up to which the core runs unchunked: its logits (3 copies of H * L^3 floats: sum, softmax,
    stacked) stay within the ~24 * c_z * L^2 floats of pair activations, L <= 8 c_z / H (256 for ESMFold)."""
    return max(1, 8 * c_z // heads)


def attention_core(q, k, v, mask, tri_bias, heads: int, inf: float):
    """Unchunked core in torch; q, k, v (B, I, J, H*c), mask (B, I, K) 1 = residue, tri_bias (B, H, J, K)."""
    b, i, j, hc = q.shape

    def split(t):  # (B, I, J, H*c) -> (B, I, H, J, c)
        return t.view(b, i, -1, heads, hc // heads).transpose(2, 3)

    logits = (split(q) / math.sqrt(hc // heads)) @ split(k).transpose(-1, -2)
    logits = logits + (inf * (mask - 1))[:, :, None, None, :] + tri_bias[:, None]
    return (logits.softmax(dim=-1) @ split(v)).transpose(2, 3).reshape(b, i, j, hc)


@functools.cache
def _chunked_function():
    import torch

    class ChunkedCore(torch.autograd.Function):
        """attention_core over `chunk` rows at a time (all rows when 0); traces to one placeholder node."""

        @staticmethod
        def forward(ctx, q, k, v, mask, tri_bias, chunk: int, heads: int, inf: float, rows: int):
            if not chunk:
                return attention_core(q, k, v, mask, tri_bias, heads, inf)
            return torch.cat([attention_core(q[:, i:i + chunk], k[:, i:i + chunk], v[:, i:i + chunk],
                                             mask[:, i:i + chunk], tri_bias, heads, inf)
                              for i in range(0, q.shape[1], chunk)], dim=1)

        @staticmethod
        def symbolic(g, q, k, v, mask, tri_bias, chunk: int, heads: int, inf: float, rows: int):
            out = g.op(f"{DOMAIN}::{OP}", q, k, v, mask, tri_bias, chunk_i=chunk, heads_i=heads, inf_f=float(inf),
                       unchunked_rows_i=rows)
            out.setType(q.type().with_sizes([None] * 4))  # the length axes are dynamic
            return out

    return ChunkedCore


def chunked_attention_core(q, k, v, mask, tri_bias, heads: int, inf: float, chunk: int | None,
                           rows: int = 0):
    """attention_core as the placeholder op; row-chunked when `chunk` is set and there are more than
    `rows` rows (same result up to float rounding)."""
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk size must be a positive number of rows, got {chunk}")
    return _chunked_function().apply(q, k, v, mask, tri_bias, int(chunk or 0), int(heads), float(inf), int(rows))


def has_placeholders(model: onnx.ModelProto) -> bool:
    """Whether `model` holds triangle-attention or triangle-product (triangle_product.py) placeholders."""
    return any((n.domain == DOMAIN and n.op_type == OP) or triangle_product.is_placeholder(n)
               for n in model.graph.node)


def _const(name: str, value, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name))


def _core(p: str, q: str, k: str, v: str, mask: str, tb: str, out: str, attrs: dict) -> list[onnx.NodeProto]:
    """MultiHeadAttention over the B * I rows of q, k, v (B, I, J, H*c) -> out (B, I, J, H*c)."""
    n = helper.make_node
    nodes = [_const(f"{p}_m1", [-1]),
             n("Shape", [q], [f"{p}_shape"], name=f"{p}/Shape"),
             n("Shape", [q], [f"{p}_jc"], start=2, name=f"{p}/ShapeJC"),
             n("Concat", [f"{p}_m1", f"{p}_jc"], [f"{p}_rows_shape"], axis=0, name=f"{p}/Concat")]
    for name in (q, k, v):
        nodes.append(n("Reshape", [name, f"{p}_rows_shape"], [f"{p}_{name}_rows"], name=f"{p}/Reshape_{name}"))
    nodes += [
        n("Flatten", [mask], [f"{p}_mask_rows"], axis=2, name=f"{p}/Flatten_mask"),
        n("Cast", [f"{p}_mask_rows"], [f"{p}_key_mask"], to=TensorProto.INT32, name=f"{p}/Cast_mask"),
        n("MultiHeadAttention", [f"{p}_{q}_rows", f"{p}_{k}_rows", f"{p}_{v}_rows", "", f"{p}_key_mask", tb],
          [f"{p}_attended"], domain=CONTRIB, num_heads=attrs["heads"], mask_filter_value=-attrs["inf"],
          name=f"{p}/MultiHeadAttention"),
        n("Reshape", [f"{p}_attended", f"{p}_shape"], [out], name=f"{p}/Reshape_out"),
    ]
    return nodes


def _graph(name: str, nodes: list[onnx.NodeProto], inputs: list, outputs: list) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, inputs, outputs)


def _body(p: str, chunk: int, inputs: tuple[str, ...], attrs: dict) -> onnx.GraphProto:
    """Loop body: iteration i -> the core over padded rows [i*chunk, (i+1)*chunk)."""
    q, k, v, mask, tb = inputs
    n = helper.make_node
    nodes = [
        _const(f"{p}_c", [chunk]), _const(f"{p}_axis", [1]), _const(f"{p}_axis0", [0]),
        n("Unsqueeze", [f"{p}_iter", f"{p}_axis0"], [f"{p}_i1"], name=f"{p}/Unsqueeze"),
        n("Mul", [f"{p}_i1", f"{p}_c"], [f"{p}_start"], name=f"{p}/Mul"),
        n("Add", [f"{p}_start", f"{p}_c"], [f"{p}_end"], name=f"{p}/Add"),
    ]
    for name in (q, k, v, mask):
        nodes.append(n("Slice", [name, f"{p}_start", f"{p}_end", f"{p}_axis"], [f"{name}_chunk"],
                       name=f"{p}/Slice_{name}"))
    nodes += _core(f"{p}_core", f"{q}_chunk", f"{k}_chunk", f"{v}_chunk", f"{mask}_chunk", tb,
                   f"{p}_out_chunk", attrs)
    nodes.append(n("Identity", [f"{p}_cond_in"], [f"{p}_cond_out"], name=f"{p}/Identity"))
    return _graph(f"{p}_body", nodes,
                  [helper.make_tensor_value_info(f"{p}_iter", TensorProto.INT64, []),
                   helper.make_tensor_value_info(f"{p}_cond_in", TensorProto.BOOL, [])],
                  [helper.make_tensor_value_info(f"{p}_cond_out", TensorProto.BOOL, []),
                   helper.make_tensor_value_info(f"{p}_out_chunk", TensorProto.FLOAT, None)])


def _chunked(p: str, inputs: list[str], out: str, chunk: int, attrs: dict) -> list[onnx.NodeProto]:
    """Pad rows to a multiple of `chunk`, Loop over chunks, stitch and crop -> out."""
    q, k, v, mask, tb = inputs
    n = helper.make_node
    nodes = [
        _const(f"{p}_c", [chunk]), _const(f"{p}_cm1", [chunk - 1]), _const(f"{p}_zero", [0]),
        _const(f"{p}_zeros3", [0, 0, 0]), _const(f"{p}_zeros2", [0, 0]), _const(f"{p}_zeros1", [0]),
        _const(f"{p}_minus1", [-1]), _const(f"{p}_axis", [1]), _const(f"{p}_two", [2]),
        _const(f"{p}_four", [4]),
        n("Shape", [q], [f"{p}_qshape"], name=f"{p}/Shape"),
        n("Shape", [q], [f"{p}_rows"], start=1, end=2, name=f"{p}/ShapeRows"),
        n("Add", [f"{p}_rows", f"{p}_cm1"], [f"{p}_rows_up"], name=f"{p}/Add"),
        n("Div", [f"{p}_rows_up", f"{p}_c"], [f"{p}_nchunks1"], name=f"{p}/Div"),
        n("Squeeze", [f"{p}_nchunks1", f"{p}_zero"], [f"{p}_nchunks"], name=f"{p}/Squeeze"),
        n("Mul", [f"{p}_nchunks1", f"{p}_c"], [f"{p}_rows_pad"], name=f"{p}/Mul"),
        n("Sub", [f"{p}_rows_pad", f"{p}_rows"], [f"{p}_extra"], name=f"{p}/Sub"),
        # Pad pads = [begin of each axis..., end of each axis...]; only the end of axis 1 is non-zero
        n("Concat", [f"{p}_zeros3", f"{p}_zeros1", f"{p}_zeros1", f"{p}_extra", f"{p}_zeros2"],
          [f"{p}_pads4"], axis=0, name=f"{p}/ConcatPads4"),
        n("Concat", [f"{p}_zeros3", f"{p}_zeros1", f"{p}_extra", f"{p}_zeros1"], [f"{p}_pads3"], axis=0,
          name=f"{p}/ConcatPads3"),
    ]
    padded = []
    for name in (q, k, v, mask):
        pads = f"{p}_pads3" if name == mask else f"{p}_pads4"
        padded.append(f"{p}_{len(padded)}_padded")
        nodes.append(n("Pad", [name, pads], [padded[-1]], mode="constant", name=f"{p}/Pad_{len(padded)}"))
    body = _body(f"{p}_loop", chunk, (*padded, tb), attrs)  # own prefix: a body must not shadow outer names
    nodes += [
        n("Loop", [f"{p}_nchunks", ""], [f"{p}_stacked"], body=body, name=f"{p}/Loop"),  # (n, B, chunk, J, H*c)
        n("Transpose", [f"{p}_stacked"], [f"{p}_bnc"], perm=[1, 0, 2, 3, 4], name=f"{p}/Transpose"),
        n("Slice", [f"{p}_qshape", f"{p}_zeros1", f"{p}_axis"], [f"{p}_b"], name=f"{p}/SliceB"),
        n("Slice", [f"{p}_qshape", f"{p}_two", f"{p}_four"], [f"{p}_jc"], name=f"{p}/SliceJC"),
        n("Concat", [f"{p}_b", f"{p}_minus1", f"{p}_jc"], [f"{p}_shape"], axis=0, name=f"{p}/Concat"),
        n("Reshape", [f"{p}_bnc", f"{p}_shape"], [f"{p}_padded_out"], name=f"{p}/Reshape"),
        n("Slice", [f"{p}_padded_out", f"{p}_zeros1", f"{p}_rows", f"{p}_axis"], [out], name=f"{p}/Crop"),
    ]
    return nodes


def _expand_one(node: onnx.NodeProto, p: str) -> list[onnx.NodeProto]:
    """Main-graph nodes replacing one placeholder: the fused core, under an If on the row count when chunked."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs.setdefault("inf", 1e9)
    chunk, rows = attrs.get("chunk", 0), attrs.get("unchunked_rows", 0)
    q, k, v, mask, tb = node.input
    if not chunk:
        return _core(p, q, k, v, mask, tb, node.output[0], attrs)
    out = helper.make_tensor_value_info
    whole = _graph(f"{p}_whole", _core(f"{p}_whole", q, k, v, mask, tb, f"{p}_whole_out", attrs), [],
                   [out(f"{p}_whole_out", TensorProto.FLOAT, None)])
    chunked = _graph(f"{p}_chunked", _chunked(f"{p}_chunked", list(node.input), f"{p}_chunked_out", chunk, attrs),
                     [], [out(f"{p}_chunked_out", TensorProto.FLOAT, None)])
    n = helper.make_node
    return [
        _const(f"{p}_max_rows", [max(rows, chunk)]),
        n("Shape", [q], [f"{p}_rows"], start=1, end=2, name=f"{p}/ShapeRows"),
        n("LessOrEqual", [f"{p}_rows", f"{p}_max_rows"], [f"{p}_small1"], name=f"{p}/LessOrEqual"),
        n("Squeeze", [f"{p}_small1"], [f"{p}_small"], name=f"{p}/Squeeze"),
        n("If", [f"{p}_small"], [node.output[0]], then_branch=whole, else_branch=chunked, name=f"{p}/If"),
    ]


def expand_chunked_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with each placeholder replaced as above (triangle products as in
    triangle_product.py); `model` itself when it has none.

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
        elif triangle_product.is_placeholder(node):
            nodes += triangle_product.expand(node, f"triangle_product_{count}")
            count += 1
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    keep = [o for o in out.opset_import if o.domain not in (DOMAIN, CONTRIB)]
    del out.opset_import[:]
    out.opset_import.extend(keep + [helper.make_opsetid(CONTRIB, 1)])
    return out
