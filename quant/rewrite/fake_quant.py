"""Uniform fake-quant on arbitrary tensors: a QuantizeLinear -> DequantizeLinear pair before chosen consumers.

    x --QuantizeLinear(s, z)--> x_q --DequantizeLinear(s, z)--> x_fq --> consumer(s)
    x --------------------------------------------------------------> other consumers (unchanged)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnx import ModelProto

from ..errors import GraphRewriteError
from ..uniform import QParams
from ._graph import GraphEdit, rewire
from ._qdq import dequantize_node, shared_quantize


@dataclass(frozen=True, eq=False)
class FakeQuantTarget:
    """Fake-quantize `tensor` with `qparams` for the named consumer nodes (None: all consumers)."""

    tensor: str
    qparams: QParams
    consumers: tuple[str, ...] | None = None


def consumer_nodes(edit: GraphEdit, tensor: str, consumers: tuple[str, ...] | None):
    """The consumer nodes to rewire; raises when none read `tensor`."""
    nodes = edit.consumers(tensor) if consumers is None else [edit.node_at(c) for c in consumers]
    if not nodes or any(tensor not in n.input for n in nodes):
        raise GraphRewriteError(tensor, f"not an input of consumers {consumers}")
    return nodes


def insert_fake_quant(model: ModelProto, targets: Sequence[FakeQuantTarget]) -> ModelProto:
    """Insert one Q/DQ pair per target right after the tensor's producer."""
    edit = GraphEdit(model)
    for t in targets:
        nodes = consumer_nodes(edit, t.tensor, t.consumers)
        q, s, z = shared_quantize(edit, t.tensor, t.qparams, tag="_fq")
        dq, out = dequantize_node(edit, q, s, z, f"{t.tensor}_fq", t.qparams.axis)
        edit.after(t.tensor, [dq])
        for n in nodes:
            rewire(n, t.tensor, out)
    return edit.finish()
