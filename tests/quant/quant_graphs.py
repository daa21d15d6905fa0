"""Tiny ONNX graphs and executors for quant/ tests (onnx.helper, opset 21)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 21


def make_model(nodes, inputs, outputs, initializers, name="g") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def linear_model(w: np.ndarray, b: np.ndarray, n_consumers: int = 1) -> onnx.ModelProto:
    """x (B, L, K) -> Relu -> h ; y_i = h @ W + b  (n_consumers Linears share h and W).

        x --Relu--> h --MatMul(W)--> --Add(b)--> y0
                    h --MatMul(W)--> --Add(b)--> y1   (when n_consumers = 2)
    """
    nodes = [helper.make_node("Relu", ["x"], ["h0"], name="act"),
             helper.make_node("Sub", ["h0", "shift"], ["h"], name="shift")]
    outs = []
    for i in range(n_consumers):
        nodes += [helper.make_node("MatMul", ["h", "W"], [f"mm{i}"], name=f"fc{i}/MatMul"),
                  helper.make_node("Add", [f"mm{i}", "b"], [f"y{i}"], name=f"fc{i}/Add")]
        outs.append(f32(f"y{i}", ["B", "L", w.shape[1]]))
    inits = {"W": w.astype(np.float32), "b": b.astype(np.float32), "shift": np.float32(0.25)}
    return make_model(nodes, [f32("x", ["B", "L", w.shape[0]])], outs, inits)


def wide_linear_case(seed: int):
    """A Linear (16 -> 8, two consumers) fed by a heavy-tailed, asymmetric input: the PWLQ split
    tests' case. Returns (model, x, h = relu(x) - 0.25 as the Linear sees it, w, b, bound =
    0.9 max|h|)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((16, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    model = linear_model(w, b, n_consumers=2)
    x = rng.standard_t(2.5, (2, 9, 16)).astype(np.float32)
    h = np.maximum(x, 0) - np.float32(0.25)
    return model, x, h, w, b, float(np.abs(h).max()) * 0.9


def dequantized_weight(w: np.ndarray) -> np.ndarray:
    """The (in, out) weight as the rewrites' int8 per-output-channel copy dequantizes it."""
    from quant.uniform import dequantize, quantize_weight_per_channel

    q, p = quantize_weight_per_channel(w, axis=1)
    return dequantize(q, p.scale, 0, axis=1)


def identity_model(n_feat: int, consumer: str = "LayerNormalization") -> onnx.ModelProto:
    """x --Mul(1)--> t --Consumer--> y ;  t --Add(1)--> z  (second, untouched consumer of t)

    With consumer "Identity" the graph output y shows the fake-quantized t directly.
    """
    nodes = [helper.make_node("Mul", ["x", "one"], ["t"], name="pre")]
    if consumer == "LayerNormalization":
        nodes.append(helper.make_node("LayerNormalization", ["t", "g", "beta"], ["y"], name="ln",
                                      axis=-1, epsilon=1e-5))
    else:
        nodes.append(helper.make_node(consumer, ["t"], ["y"], name="ln"))
    nodes.append(helper.make_node("Add", ["t", "one"], ["z"], name="side"))
    inits = {"one": np.float32(1.0)}
    if consumer == "LayerNormalization":
        inits.update(g=np.ones(n_feat, np.float32), beta=np.zeros(n_feat, np.float32))
    return make_model(nodes, [f32("x", ["B", "L", n_feat])], [f32("y", ["B", "L", n_feat]), f32("z", ["B", "L", n_feat])], inits)


def transformer_model(rng: np.random.Generator, embed: int = 32, ffn: int = 64, layers: int = 2,
                      ln_gamma_outliers: float = 1.0) -> onnx.ModelProto:
    """Pre-LN single-head transformer, per layer:

        x --LN1--> a --MatMul Wq/Wk/Wv (+b)--> q, k, v
        q, k --MatMul(q, k^T) * 1/sqrt(E)--> Softmax --MatMul(., v)--> ctx --MatMul Wo (+b)--> o
        x = x + o
        x --LN2--> h --MatMul W1 (+b)--> Relu --MatMul W2 (+b)--> f ;  x = x + f
    then final LN --> y.  The score/context MatMuls have no initializer (stay float).
    """
    e, inits, nodes = embed, {}, []

    def lin(name, inp, n_in, n_out):
        inits[f"{name}.weight_t"] = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        inits[f"{name}.bias"] = (0.02 * rng.standard_normal(n_out)).astype(np.float32)
        nodes.extend([helper.make_node("MatMul", [inp, f"{name}.weight_t"], [f"{name}.mm"], name=f"{name}/MatMul"),
                      helper.make_node("Add", [f"{name}.mm", f"{name}.bias"], [f"{name}.out"], name=f"{name}/Add")])
        return f"{name}.out"

    def ln(name, inp):
        g = 1.0 + 0.1 * rng.standard_normal(e)
        g[:2] *= ln_gamma_outliers
        inits[f"{name}.weight"] = g.astype(np.float32)
        inits[f"{name}.bias"] = (0.02 * rng.standard_normal(e)).astype(np.float32)
        nodes.append(helper.make_node("LayerNormalization", [inp, f"{name}.weight", f"{name}.bias"],
                                      [f"{name}.out"], name=name, axis=-1, epsilon=1e-5))
        return f"{name}.out"

    inits["attn_scale"] = np.float32(1.0 / np.sqrt(e))
    x = "x"
    for i in range(layers):
        p = f"layers.{i}"
        a = ln(f"{p}.self_attn_layer_norm", x)
        q, k, v = (lin(f"{p}.self_attn.{t}_proj", a, e, e) for t in "qkv")
        nodes += [helper.make_node("Transpose", [k], [f"{p}.kT"], name=f"{p}/kT", perm=[0, 2, 1]),
                  helper.make_node("MatMul", [q, f"{p}.kT"], [f"{p}.scores0"], name=f"{p}/scores"),
                  helper.make_node("Mul", [f"{p}.scores0", "attn_scale"], [f"{p}.scores"], name=f"{p}/scale"),
                  helper.make_node("Softmax", [f"{p}.scores"], [f"{p}.probs"], name=f"{p}/softmax", axis=-1),
                  helper.make_node("MatMul", [f"{p}.probs", v], [f"{p}.ctx"], name=f"{p}/context")]
        o = lin(f"{p}.self_attn.out_proj", f"{p}.ctx", e, e)
        nodes.append(helper.make_node("Add", [x, o], [f"{p}.res1"], name=f"{p}/res1"))
        h = ln(f"{p}.final_layer_norm", f"{p}.res1")
        f1 = lin(f"{p}.fc1", h, e, ffn)
        nodes.append(helper.make_node("Relu", [f1], [f"{p}.act"], name=f"{p}/relu"))
        f2 = lin(f"{p}.fc2", f"{p}.act", ffn, e)
        nodes.append(helper.make_node("Add", [f"{p}.res1", f2], [f"{p}.res2"], name=f"{p}/res2"))
        x = f"{p}.res2"
    y = ln("emb_layer_norm_after", x)
    nodes.append(helper.make_node("Identity", [y], ["y"], name="output"))
    return make_model(nodes, [f32("x", ["B", "L", e])], [f32("y", ["B", "L", e])], inits)


def ort_session(model: onnx.ModelProto, optimized_path: str | None = None,
                level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_ort(model: onnx.ModelProto, feeds: dict, outputs=None) -> list[np.ndarray]:
    return ort_session(model).run(outputs, feeds)


def run_reference(model: onnx.ModelProto, feeds: dict, outputs=None) -> list[np.ndarray]:
    return ReferenceEvaluator(model).run(outputs, feeds)


def ort_runner(model: onnx.ModelProto, names: list[str]):
    """The make_runner that tests inject into quant.calibrate."""
    sess = ort_session(model)
    return lambda feed: sess.run(names, feed)


def optimized_op_types(model: onnx.ModelProto) -> list[str]:
    """Op types of the graph onnxruntime actually runs (SessionOptions.optimized_model_filepath)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "opt.onnx")
        ort_session(model, path, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
        return [n.op_type for n in onnx.load(path).graph.node]
