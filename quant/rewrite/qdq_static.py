"""Static W8A8 QDQ on Linears: uint8 affine activation Q/DQ + int8 weight DQ (per channel by default), no output Q.

    x --QuantizeLinear(s_x, z_x)--> x_q --DequantizeLinear--> x_dq --+
                                                                     MatMul --> y   (same name)
    W_q (int8, (in,out)) --DequantizeLinear(axis=1, s_w[out])--> W_dq +

onnxruntime fuses each MatMul with its two DQ inputs into MatMulIntegerToFloat.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from onnx import ModelProto

from ..errors import GraphRewriteError
from ..sites import LinearSite
from ..uniform import QParams
from ..weights import PerChannelInt8, WeightQuantizer
from ._graph import GraphEdit, rewire
from ._qdq import dequantize_node, shared_quantize, weight_dequantize


def quantize_linears_static(model: ModelProto, sites: Sequence[LinearSite],
                            act_qparams: Mapping[str, QParams],
                            weights: WeightQuantizer = PerChannelInt8()) -> ModelProto:
    """Rewrite every site; act_qparams maps activation tensor -> per-tensor QParams."""
    edit = GraphEdit(model)
    for site in sites:
        if site.activation not in act_qparams:
            raise GraphRewriteError(site.activation, "no activation QParams for this Linear input")
        p = act_qparams[site.activation]
        if p.axis is not None:
            raise GraphRewriteError(site.activation, "activation QParams must be per-tensor")
        q, s, z = shared_quantize(edit, site.activation, p)
        dq_x, x_dq = dequantize_node(edit, q, s, z, f"{site.node}/input")
        dq_w, w_dq, _ = weight_dequantize(edit, site.weight, weights)
        node = edit.node_at(site.node)
        rewire(node, site.activation, x_dq)
        rewire(node, site.weight, w_dq)
        edit.before(site.node, [dq_x, dq_w])
    return edit.finish()
