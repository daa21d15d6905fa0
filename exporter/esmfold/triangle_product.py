"""Triangle multiplication's weightless core as a placeholder op, expanded into one-axis Transposes and a FusedMatMul.

On the gated projections a, b (B, I, J, c) of EsmFoldTriangleMultiplicativeUpdate:

    outgoing  p[i, j] = sum_k a[i, k] b[j, k]        incoming  p[i, j] = sum_k a[k, i] b[k, j]

per channel. The reference's `_combine_projections` permutes one operand with (2, 1, 0), which the
ONNX exporter writes as Transpose(perm=[0, 3, 2, 1]); onnxruntime has no fast path for a perm that
reverses three axes: the four such Transposes were the slowest nodes of the int8 bench trunk and
Transposes 25-29% of its time at L = 64 / 128 (3-6% after this; bench/results/fold_trunk_profile.md).
Traced torch code cannot avoid it: the exporter merges a (0, 3, 1, 2) permute and the transpose of
the last two axes that follows into that same perm. So the core traces to one
`edgefold::TriangleProduct` node, and `expand` writes: both operands Transposed by (0, 3, 1, 2)
(moving one axis: the fast path), a `com.microsoft::FusedMatMul` with transB (outgoing) or transA
(incoming) instead of a third Transpose, and the (0, 2, 3, 1) Transpose back.
"""
from __future__ import annotations

import functools

import onnx
from onnx import helper

DOMAIN, OP = "edgefold", "TriangleProduct"
CONTRIB = "com.microsoft"


def triangle_product_torch(a, b, outgoing: bool):
    """The core in torch: a, b (B, I, J, c) -> p (B, I, J, c)."""
    a, b = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)  # (B, c, row, column)
    p = a @ b.transpose(-1, -2) if outgoing else a.transpose(-1, -2) @ b
    return p.permute(0, 2, 3, 1)


@functools.cache
def _function():
    import torch

    class TriangleProduct(torch.autograd.Function):
        """triangle_product_torch; traces to one placeholder node."""

        @staticmethod
        def forward(ctx, a, b, outgoing: bool):
            return triangle_product_torch(a, b, outgoing)

        @staticmethod
        def symbolic(g, a, b, outgoing: bool):
            out = g.op(f"{DOMAIN}::{OP}", a, b, outgoing_i=int(outgoing))
            out.setType(a.type().with_sizes([None] * 4))
            return out

    return TriangleProduct


def triangle_product(a, b, outgoing: bool):
    """triangle_product_torch as the placeholder op (same numbers in torch)."""
    return _function().apply(a, b, bool(outgoing))


def is_placeholder(node: onnx.NodeProto) -> bool:
    return node.domain == DOMAIN and node.op_type == OP


def expand(node: onnx.NodeProto, p: str) -> list[onnx.NodeProto]:
    """The standard + contrib nodes replacing one placeholder."""
    outgoing = next((a.i for a in node.attribute if a.name == "outgoing"), 1)
    a, b = node.input
    n = helper.make_node
    return [
        n("Transpose", [a], [f"{p}_a"], perm=[0, 3, 1, 2], name=f"{p}/TransposeA"),
        n("Transpose", [b], [f"{p}_b"], perm=[0, 3, 1, 2], name=f"{p}/TransposeB"),
        n("FusedMatMul", [f"{p}_a", f"{p}_b"], [f"{p}_p"], domain=CONTRIB, transA=0 if outgoing else 1,
          transB=1 if outgoing else 0, alpha=1.0, name=f"{p}/FusedMatMul"),
        n("Transpose", [f"{p}_p"], [node.output[0]], perm=[0, 2, 3, 1], name=f"{p}/TransposeOut"),
    ]
