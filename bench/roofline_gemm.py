"""GEMM kernels of the roofline bench: ESM-2's Linear and attention MatMuls timed alone per backend.

Each case is one (M x K) @ (K x N) product with a preallocated output (the model's intermediates
live in an arena too), run by:

    torch fp32        torch.mm(x, W^T, out=y): what nn.Linear runs (addmm on a transposed weight)
    ort fp32          a one-node MatMul graph, weight an initializer (pre-packed by onnxruntime)
    ort int8          the same graph after quant's static W8A8 rewrite (quantize_linears_static):
                      onnxruntime fuses it to QuantizeLinear + MatMulIntegerToFloat, as in our packs
    ort MatMulInteger the bare integer kernel, uint8 x int8 -> int32 (no quantize, no rescale)

Attention cases (per head Q.K^T and P.V, all heads in one batched call) have no weights: torch.bmm
and a two-input MatMul graph, fp32 only. Timings are interleaved: in repetition r every case runs
all its backends back to back (order rotated); each sample repeats a call until it lasts
`min_sample_s`; medians over repetitions.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .archs import arch as arch_of
from .common import median

LINEAR_BACKENDS = ("torch fp32", "ort fp32", "ort int8", "ort MatMulInteger")
ATTENTION_BACKENDS = ("torch fp32", "ort fp32")
LINEAR_OPS = ("q/k/v/out", "fc1", "fc2")


@dataclass(frozen=True)
class Case:
    """One product: (batch x) M x K times K x N; `per_layer` such products per transformer layer."""

    model: str
    op: str          # "q/k/v/out", "fc1", "fc2", "Q.K^T", "P.V"
    m: int
    k: int
    n: int
    batch: int = 1   # heads, for the attention products
    per_layer: int = 1

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.k * self.n


def linear_cases(model: str, ms: Sequence[int]) -> list[Case]:
    """The Linears of one ESM-2 layer at each M: 4 E x E (q, k, v, out_proj), fc1 E x 4E, fc2 4E x E."""
    e = arch_of(model).embed_dim
    shapes = (("q/k/v/out", e, e, 4), ("fc1", e, 4 * e, 1), ("fc2", 4 * e, e, 1))
    return [Case(model, op, m, k, n, 1, per) for m in ms for op, k, n, per in shapes]


def attention_cases(model: str, lengths: Sequence[int]) -> list[Case]:
    """Per head Q.K^T ((L x d) @ (d x L)) and P.V ((L x L) @ (L x d)), batched over the heads."""
    a = arch_of(model)
    d = a.embed_dim // a.attention_heads
    return [c for L in lengths for c in (Case(model, "Q.K^T", L, d, L, a.attention_heads),
                                         Case(model, "P.V", L, L, d, a.attention_heads))]


def _model(nodes, inputs, output, inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "gemm", inputs, [output],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def matmul_graph(k: int, n: int, w: np.ndarray) -> onnx.ModelProto:
    """x (M, K) float --MatMul(W (K, N) initializer)--> y (M, N)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])
    return _model([helper.make_node("MatMul", ["x", "W"], ["y"], name="fc/MatMul")], [x], y, {"W": w})


def int8_graph(k: int, n: int, w: np.ndarray, x_sample: np.ndarray) -> onnx.ModelProto:
    """matmul_graph after quant's static rewrite: x --Q(u8)--> --DQ--> MatMul <--DQ(axis=1)-- W int8."""
    from quant.rewrite import quantize_linears_static
    from quant.sites import linear_sites
    from quant.uniform import qparams_affine

    model = matmul_graph(k, n, w)
    p = qparams_affine(float(x_sample.min()), float(x_sample.max()), "uint8")
    return quantize_linears_static(model, linear_sites(model), {"x": p})


def matmul_integer_graph(k: int, n: int, w_q: np.ndarray) -> onnx.ModelProto:
    """x (M, K) uint8 --MatMulInteger(W (K, N) int8, zero points 128 / 0)--> y (M, N) int32."""
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["M", k])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, ["M", n])
    node = helper.make_node("MatMulInteger", ["x", "W", "xz"], ["y"], name="fc/MatMulInteger")
    return _model([node], [x], y, {"W": w_q, "xz": np.array(128, np.uint8)})


def batched_matmul_graph() -> onnx.ModelProto:
    """a (H, M, K) @ b (H, K, N) -> y (H, M, N), both inputs activations (attention)."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["H", "M", "K"])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["H", "K", "N"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["H", "M", "N"])
    return _model([helper.make_node("MatMul", ["a", "b"], ["y"], name="attn/MatMul")], [a, b], y, {})


def _session(model: onnx.ModelProto, threads: int, optimized: Path | None = None):
    from app.core.session import open_session, session_options

    opts = session_options(threads)
    if optimized is not None:
        opts.optimized_model_filepath = str(optimized)
    return open_session(model.SerializeToString(), opts)


def fused_op_types(model: onnx.ModelProto, threads: int) -> list[str]:
    """Op types of the graph onnxruntime runs after its optimizations (what ort int8 really times)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "opt.onnx"
        _session(model, threads, path)
        return [n.op_type for n in onnx.load(str(path)).graph.node]


def int8_fused_ops(threads: int, k: int = 64, n: int = 32) -> list[str]:
    """What onnxruntime makes of quant's static rewrite of one MatMul (the ort int8 backend)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((k, n)).astype(np.float32)
    return fused_op_types(int8_graph(k, n, w, rng.standard_normal((8, k)).astype(np.float32)), threads)


def _ort_call(session, feeds: dict[str, np.ndarray], out: np.ndarray) -> Callable[[], None]:
    """session.run_with_iobinding into a preallocated output (no allocation per call)."""
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, array)
    binding.bind_output("y", "cpu", 0, out.dtype, list(out.shape), out.ctypes.data)
    kept = (feeds, out)  # the binding holds raw pointers: the arrays must outlive it

    def call() -> None:
        assert kept
        session.run_with_iobinding(binding)
    return call


def linear_calls(case: Case, threads: int, rng: np.random.Generator) -> dict[str, Callable[[], None]]:
    """{backend: zero-argument call} for a Linear case; weights N(0, 0.02), inputs N(0, 1)."""
    import torch

    m, k, n = case.m, case.k, case.n
    w = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w_t = torch.from_numpy(np.ascontiguousarray(w.T))  # nn.Linear's (out, in) layout
    x_t, y_t = torch.from_numpy(x), torch.empty((m, n))
    w_q = np.clip(np.round(w / (np.abs(w).max(axis=0) / 127)), -127, 127).astype(np.int8)
    x_u8 = rng.integers(0, 256, (m, k), dtype=np.uint8)
    y = np.empty((m, n), np.float32)
    return {
        "torch fp32": lambda: torch.mm(x_t, w_t.t(), out=y_t),
        "ort fp32": _ort_call(_session(matmul_graph(k, n, w), threads), {"x": x}, y),
        "ort int8": _ort_call(_session(int8_graph(k, n, w, x), threads), {"x": x}, np.empty((m, n), np.float32)),
        "ort MatMulInteger": _ort_call(_session(matmul_integer_graph(k, n, w_q), threads), {"x": x_u8},
                                       np.empty((m, n), np.int32)),
    }


def attention_calls(case: Case, threads: int, rng: np.random.Generator) -> dict[str, Callable[[], None]]:
    """{backend: call} for a batched attention product (H, M, K) @ (H, K, N)."""
    import torch

    h, m, k, n = case.batch, case.m, case.k, case.n
    a = rng.standard_normal((h, m, k)).astype(np.float32)
    b = rng.standard_normal((h, k, n)).astype(np.float32)
    a_t, b_t, y_t = torch.from_numpy(a), torch.from_numpy(b), torch.empty((h, m, n))
    session = _session(batched_matmul_graph(), threads)
    return {"torch fp32": lambda: torch.bmm(a_t, b_t, out=y_t),
            "ort fp32": _ort_call(session, {"a": a, "b": b}, np.empty((h, m, n), np.float32))}


def _sample(call: Callable[[], None], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - t0) / inner


def time_cases(calls: list[dict[str, Callable[[], None]]], repeats: int, min_sample_s: float,
               pause_s: float) -> list[dict[str, list[float]]]:
    """Seconds per call, [case][backend] -> one value per repetition. In repetition r each case runs
    its backends back to back (so a burst of load on the shared machine hits them alike), in an
    order rotated by r + case index, each after `pause_s` of sleep (the previous backend's
    spinning threads park)."""
    inner = []
    for c in calls:  # warm-up, and the repeat count that makes one sample last min_sample_s
        inner.append({b: max(1, math.ceil(min_sample_s / max(_sample(f, 1), 1e-7))) for b, f in c.items()})
    times: list[dict[str, list[float]]] = [{b: [] for b in c} for c in calls]
    for r in range(repeats):
        for i, c in enumerate(calls):
            names = list(c)
            shift = (r + i) % len(names)
            for b in names[shift:] + names[:shift]:
                time.sleep(pause_s)
                times[i][b].append(_sample(c[b], inner[i][b]))
    return times


def measure(cases: Sequence[Case], threads: int, repeats: int, min_sample_s: float = 0.02,
            pause_s: float = 0.01, seed: int = 0) -> list[dict]:
    """[{case fields, macs, seconds: {backend: [per repetition]}}] for Linear and attention cases."""
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    calls = [attention_calls(c, threads, rng) if c.op not in LINEAR_OPS else linear_calls(c, threads, rng)
             for c in cases]
    times = time_cases(calls, repeats, min_sample_s, pause_s)
    return [{**asdict(c), "macs": c.macs, "seconds": t} for c, t in zip(cases, times)]


def gmacs(result: dict, backend: str) -> float:
    """Median GMAC/s of `backend` on a measured case."""
    t = median(result["seconds"].get(backend, []))
    return result["macs"] / t / 1e9 if t == t and t > 0 else float("nan")
