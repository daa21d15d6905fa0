"""Integer attention: the score MatMul Q.K^T and the context MatMul P.V on 8-bit grids.

Both MatMuls of softmax attention read two activations (no weight), so the Linear rewrites leave
them in float. Here each of their four inputs gets a per-tensor Q/DQ pair, the Softmax stays float:

    q  --Q(u8)--DQ--+                                  probs --Q(u8, 1/255)--DQ--+
                    MatMul --> scores -> ... Softmax -> probs                    MatMul --> ctx
    kT --Q(s8)--DQ--+                                  v     --Q(s8)---------DQ--+

onnxruntime fuses each MatMul with its two DequantizeLinear inputs into one com.microsoft
MatMulIntegerToFloat (uint8 x int8, int32 accumulation, float output; batched 4-D inputs), so the
result is the float MatMul of the dequantized inputs up to float rounding. The Softmax output is
only re-read by the context MatMul's copy: other readers (the contact head) keep the float maps.
A target with `context=False` rewrites the score MatMul only (P.V stays float: no extra pass over
the (B, H, L, L) probabilities, and P keeps its float precision).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import AttentionSite
from ..uniform import QParams, qparams_affine
from ._graph import GraphEdit, rewire
from ._qdq import dequantize_node, shared_quantize

# Softmax outputs lie in [0, 1]: uint8 with scale 1/255, zero point 0 (1.0 and 0.0 exact).
PROBS_QPARAMS = qparams_affine(0.0, 1.0, "uint8")
TAG = "_attn"  # Q nodes of this rewrite are their own (a tensor may carry other grids elsewhere)


@dataclass(frozen=True, eq=False)
class AttentionInt8Target:
    """One attention block and the per-tensor grids of its four MatMul inputs."""

    site: AttentionSite
    q: QParams
    k: QParams
    v: QParams | None = None  # None: the context MatMul stays float
    probs: QParams = PROBS_QPARAMS

    @property
    def context(self) -> bool:
        return self.v is not None


def _quantize_input(edit: GraphEdit, node: str, tensor: str, p: QParams, role: str) -> None:
    if p.axis is not None:
        raise GraphRewriteError(tensor, f"attention {role} QParams must be per-tensor")
    q, s, z = shared_quantize(edit, tensor, p, TAG)
    dq, out = dequantize_node(edit, q, s, z, f"{node}/{role}")
    rewire(edit.node_at(node), tensor, out)
    edit.before(node, [dq])


def quantize_attention(model: ModelProto, targets: Sequence[AttentionInt8Target]) -> ModelProto:
    """Rewrite every target's score and context MatMul to read Q/DQ'd inputs (see module doc)."""
    edit = GraphEdit(model)
    for t in targets:
        s = t.site
        if s.q == s.k:
            raise GraphRewriteError(s.scores, "attention score MatMul reads one tensor twice")
        _quantize_input(edit, s.scores, s.q, t.q, "q")
        _quantize_input(edit, s.scores, s.k, t.k, "k")
        if t.context:
            _quantize_input(edit, s.context, s.probs, t.probs, "probs")
            _quantize_input(edit, s.context, s.v, t.v, "v")
    return edit.finish()
