"""Where rewrites can act: Linear MatMuls with a 2-D float weight, LayerNormalization and Softmax nodes."""
from __future__ import annotations

from dataclasses import dataclass

from onnx import ModelProto, TensorProto


@dataclass(frozen=True)
class LinearSite:
    """MatMul(activation, weight) with weight a 2-D float initializer of shape (in, out)."""

    node: str        # node name (its first output when the node has no name)
    activation: str  # A input, the tensor to quantize
    weight: str      # B initializer
    output: str


@dataclass(frozen=True)
class NodeInputSite:
    """The data input of a LayerNormalization or Softmax node."""

    node: str
    activation: str
    output: str


def node_key(node) -> str:
    """A node's identity for sites and reports: its name, else its first output."""
    return node.name or node.output[0]


def linear_sites(model: ModelProto) -> list[LinearSite]:
    """MatMul nodes whose B is a 2-D FLOAT initializer and whose A is not an initializer."""
    inits = {t.name: t for t in model.graph.initializer}
    sites = []
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        a, b = node.input[0], node.input[1]
        w = inits.get(b)
        if w is None or a in inits or len(w.dims) != 2 or w.data_type != TensorProto.FLOAT:
            continue
        sites.append(LinearSite(node_key(node), a, b, node.output[0]))
    return sites


def _op_sites(model: ModelProto, op_type: str) -> list[NodeInputSite]:
    return [NodeInputSite(node_key(n), n.input[0], n.output[0])
            for n in model.graph.node if n.op_type == op_type and n.domain in ("", "ai.onnx")]


def layernorm_sites(model: ModelProto) -> list[NodeInputSite]:
    """Inputs of LayerNormalization nodes (PTQ4Protein quantizes the LayerNorm input)."""
    return _op_sites(model, "LayerNormalization")


def softmax_sites(model: ModelProto) -> list[NodeInputSite]:
    """Softmax nodes (input and output); attention probabilities live on their outputs."""
    return _op_sites(model, "Softmax")
