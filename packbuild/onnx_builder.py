"""A small helper for writing ONNX graphs node by node with readable names."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from quant.rewrite import fresh_name

OPSET = 21
IR_VERSION = 10  # onnxruntime 1.31 reads IR 10; onnx 1.23 would default to a newer one


class GraphBuilder:
    """Accumulates nodes and initializers; every op call returns its output tensor name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}

    def unique(self, base: str) -> str:
        return fresh_name(base, self._names)

    def initializer(self, name: str, array: np.ndarray) -> str:
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, value, dtype=np.float32) -> str:
        """A shared constant initializer (scalars and small vectors)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(f"const_{len(self._consts)}", arr)
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], name: str, n_out: int = 1, **attrs):
        node_name = self.unique(name)
        outputs = [f"{node_name}_out{i}" if n_out > 1 else f"{node_name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=node_name, **attrs))
        return outputs if n_out > 1 else outputs[0]

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None, module: str) -> str:
        """y = x @ weight.T + bias with torch's (out, in) weight; MatMul named `<module>/MatMul`."""
        w = self.initializer(f"{module}.weight_t", np.ascontiguousarray(weight.T, dtype=np.float32))
        y = self.op("MatMul", [x, w], f"{module}/MatMul")
        if bias is None:
            return y
        b = self.initializer(f"{module}.bias", bias.astype(np.float32))
        return self.op("Add", [y, b], f"{module}/Add")

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, module: str, eps: float) -> str:
        w = self.initializer(f"{module}.weight", weight.astype(np.float32))
        b = self.initializer(f"{module}.bias", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, w, b], module, axis=-1, epsilon=eps)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              graph_name: str, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers, doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="edgefold-exporter")
        model.ir_version = IR_VERSION
        return model


def tensor(name: str, elem_type: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, shape)


FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
