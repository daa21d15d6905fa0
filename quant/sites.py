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


@dataclass(frozen=True)
class AttentionSite:
    """One attention block's two activation-by-activation MatMuls:

        scores = MatMul(q, k)  [-> Add / Mul / Div / Sub / Where (bias, scale) ...] -> Softmax -> probs
        ctx    = MatMul(probs, v)

    `k` is the score MatMul's B input as the graph feeds it (ESM-2: the Transpose giving K^T)."""

    scores: str   # the Q.K^T MatMul node
    q: str
    k: str
    softmax: str
    probs: str    # the Softmax output, A input of the context MatMul
    context: str  # the P.V MatMul node
    v: str


# Ops between the score MatMul and the Softmax that only shift or scale the scores (the ESM-2 padding
# bias, a 1/sqrt(d) scale), and the Q/DQ pair a Softmax-input fake-quant (ESMFold's placement) leaves.
_SCORE_PASS = ("Add", "Sub", "Mul", "Div", "Where", "QuantizeLinear", "DequantizeLinear")


def _activation_matmul(node, inits) -> bool:
    return (node.op_type == "MatMul" and node.domain in ("", "ai.onnx")
            and node.input[0] not in inits and node.input[1] not in inits)


def attention_sites(model: ModelProto) -> list[AttentionSite]:
    """Softmax nodes fed (through _SCORE_PASS ops) by a MatMul of two activations and read by a
    MatMul of two activations as its A input: the score and context MatMuls of softmax attention."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}

    def score_matmul(tensor: str, depth: int = 0):
        node = producer.get(tensor)
        if node is None or depth > 4:
            return None
        if _activation_matmul(node, inits):
            return node
        if node.op_type not in _SCORE_PASS:
            return None
        for t in node.input:
            found = score_matmul(t, depth + 1)
            if found is not None:
                return found
        return None

    sites = []
    for sm in graph.node:
        if sm.op_type != "Softmax" or sm.domain not in ("", "ai.onnx"):
            continue
        scores = score_matmul(sm.input[0])
        ctx = next((n for n in graph.node if _activation_matmul(n, inits) and n.input[0] == sm.output[0]), None)
        if scores is None or ctx is None:
            continue
        sites.append(AttentionSite(node_key(scores), scores.input[0], scores.input[1], node_key(sm),
                                   sm.output[0], node_key(ctx), ctx.input[1]))
    return sites
