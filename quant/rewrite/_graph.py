"""GraphEdit: collect node insertions/replacements on a model copy and rebuild a topological node list."""
from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

import onnx
from onnx import ModelProto, NodeProto, helper, numpy_helper

from ..errors import GraphRewriteError
from ..sites import node_key
from ..uniform import QParams

MIN_OPSET = 13  # per-axis QuantizeLinear / DequantizeLinear


log = logging.getLogger(__name__)


def fresh_name(base: str, used: set[str]) -> str:
    """`base`, or `base_1`, `base_2`, ... : the first not in `used`, which it is then added to."""
    name, i = base, 1
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


class GraphEdit:
    """Edits on a copy of `model`; `finish()` returns the rewritten ModelProto.

    Nodes queued with `after(tensor, ...)` are placed right after the producer of `tensor`
    (first, for graph inputs/initializers); `before(node, ...)` and `replace(node, ...)` act
    at that node's position. Every original node keeps its relative order, so the result stays
    topologically sorted when each queued node only reads tensors available at its position.
    """

    def __init__(self, model: ModelProto) -> None:
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if self.opset < MIN_OPSET:
            raise GraphRewriteError("model", f"default-domain opset {self.opset} < {MIN_OPSET}")
        self.model = ModelProto()
        self.model.CopyFrom(model)
        self.graph = self.model.graph
        self._names = {t for n in self.graph.node for t in (*n.input, *n.output, n.name)}
        self._names |= {t.name for t in self.graph.initializer}
        self._names |= {v.name for v in (*self.graph.input, *self.graph.output)}
        self._index = {node_key(n): i for i, n in enumerate(self.graph.node)}
        self._producer = {t: i for i, n in enumerate(self.graph.node) for t in n.output}
        self._after: dict[int, list[NodeProto]] = defaultdict(list)   # -1: graph start
        self._before: dict[int, list[NodeProto]] = defaultdict(list)
        self._replace: dict[int, list[NodeProto]] = {}
        self._drop_if_unused: set[str] = set()
        self.cache: dict[tuple, object] = {}

    # names and constants -------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A tensor/node name not yet used in the graph, derived from `base`."""
        return fresh_name(base, self._names)

    def const(self, base: str, value: np.ndarray) -> str:
        """Add an initializer; returns its (fresh) name."""
        name = self.fresh(base)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def shared_const(self, value: np.ndarray) -> str:
        """An initializer holding `value`, one per (dtype, shape, bytes): small constants (axes,
        scalars) that many rewritten nodes read."""
        value = np.asarray(value)
        key = ("shared", value.dtype.str, value.shape, value.tobytes())
        if key not in self.cache:
            self.cache[key] = self.const(f"const_{value.dtype.name}", value)
        return self.cache[key]

    def qparam_consts(self, base: str, p: QParams) -> tuple[str, str]:
        """Scale and zero-point initializers for QParams (cached per base name)."""
        key = ("qp", base)
        if key not in self.cache:
            self.cache[key] = (self.const(f"{base}_scale", p.scale.astype(np.float32)),
                               self.const(f"{base}_zero_point", p.zero_point))
        return self.cache[key]

    def node(self, op: str, inputs: list[str], outputs: list[str], base: str, **attrs) -> NodeProto:
        return helper.make_node(op, inputs, outputs, name=self.fresh(base), **attrs)

    # lookups ---------------------------------------------------------------------------
    def index(self, key: str) -> int:
        if key not in self._index:
            raise GraphRewriteError(key, "no such node (name or first output) in the graph")
        return self._index[key]

    def node_at(self, key: str) -> NodeProto:
        return self.graph.node[self.index(key)]

    def initializer(self, name: str) -> np.ndarray:
        for t in self.graph.initializer:
            if t.name == name:
                return numpy_helper.to_array(t)
        raise GraphRewriteError(name, "no such initializer")

    def consumers(self, tensor: str) -> list[NodeProto]:
        return [n for n in self.graph.node if tensor in n.input]

    # edits -----------------------------------------------------------------------------
    def after(self, tensor: str, nodes: list[NodeProto]) -> None:
        slot = self._producer.get(tensor, -1)  # tensors made by queued nodes map to their slot
        self._after[slot].extend(nodes)
        for n in nodes:
            for o in n.output:
                self._producer.setdefault(o, slot)

    def before(self, key: str, nodes: list[NodeProto]) -> None:
        self._before[self.index(key)].extend(nodes)

    def replace(self, key: str, nodes: list[NodeProto]) -> None:
        i = self.index(key)
        if i in self._replace:
            raise GraphRewriteError(key, "node replaced twice")
        self._replace[i] = nodes

    def drop_if_unused(self, initializer: str) -> None:
        self._drop_if_unused.add(initializer)

    def finish(self) -> ModelProto:
        order = list(self._after.get(-1, []))
        for i, n in enumerate(self.graph.node):
            order += self._before.get(i, [])
            order += self._replace.get(i, [n])
            order += self._after.get(i, [])
        copies = []
        for n in order:  # detach from the repeated field before clearing it
            c = NodeProto()
            c.CopyFrom(n)
            copies.append(c)
        del self.graph.node[:]
        self.graph.node.extend(copies)
        used = {t for n in self.graph.node for t in n.input} | {o.name for o in self.graph.output}
        keep = [t for t in self.graph.initializer if t.name in used or t.name not in self._drop_if_unused]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)
        if weight_bytes(self.model) < CHECKER_LIMIT:
            onnx.checker.check_model(self.model)
        else:  # the checker serialises the model, which protobuf refuses past 2 GB
            log.info("%s: weights past 2 GB, onnx.checker skipped", self.model.graph.name)
        return self.model


CHECKER_LIMIT = 1_800_000_000  # bytes of initializers; protobuf cannot serialise a 2 GB message


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes held by the initializers (raw or typed fields), without serialising the whole model."""
    return sum(len(t.raw_data) or t.ByteSize() for t in model.graph.initializer)


def rewire(node: NodeProto, old: str, new: str) -> None:
    """Replace input `old` of `node` by `new` (every occurrence)."""
    for j, name in enumerate(node.input):
        if name == old:
            node.input[j] = new
