"""Per-op profiles for the roofline bench: onnxruntime's profiler and torch.profiler, summed per op
category, so a whole forward pass splits into Linear GEMM, attention MatMul, softmax, LayerNorm,
GELU, quantize, elementwise, layout and the session's own overhead.

onnxruntime: `SessionOptions.enable_profiling` writes one "Node" event per kernel run (`dur` in
microseconds, `args.op_name`, input shapes) and one "model_run" event per `run`; kernels are
assigned to their run by timestamp, and warm-up runs are dropped. A MatMul whose inputs are 4-D
(batch, heads, ...) is attention's Q.K^T or P.V, any other MatMul a Linear (the float LM head); so is
an integer MatMul whose A input is 4-D (Int8Config.attention), any other integer MatMul a Linear.
torch: `key_averages()` self CPU time per aten op (self, so nested ops count once).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

CATEGORIES = ("Linear GEMM", "attention MatMul", "softmax", "LayerNorm", "GELU", "quantize (QDQ)",
              "elementwise", "layout/other", "session overhead")
_ORT = {
    "Linear GEMM": ("MatMulIntegerToFloat", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul",
                    "MatMulNBits", "Gemm", "FusedGemm", "MatMul (weights)", "FusedMatMul (weights)"),
    "attention MatMul": ("MatMul (attention)", "FusedMatMul (attention)", "MultiHeadAttention", "Attention",
                         "MatMulIntegerToFloat (attention)", "QLinearMatMul (attention)", "MatMulInteger (attention)"),
    "softmax": ("Softmax",),
    "LayerNorm": ("LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization"),
    "GELU": ("BiasGelu", "Gelu", "FastGelu", "Erf"),
    "quantize (QDQ)": ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"),
    "elementwise": ("Add", "Mul", "Sub", "Div", "Neg", "Where", "Cast", "Sin", "Cos", "Equal", "Not", "Sqrt",
                    "Pow", "ReduceSum", "ReduceMean", "Sigmoid", "Tanh", "Exp", "Greater", "Less", "And"),
}
_TORCH = {
    "Linear GEMM": ("aten::addmm", "aten::mm", "aten::linear", "aten::matmul"),
    "attention MatMul": ("aten::bmm", "aten::baddbmm"),
    "softmax": ("aten::softmax", "aten::_softmax"),
    "LayerNorm": ("aten::layer_norm", "aten::native_layer_norm"),
    "GELU": ("aten::erf", "aten::gelu"),
    "elementwise": ("aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::div", "aten::div_",
                    "aten::sub", "aten::rsub", "aten::neg", "aten::masked_fill", "aten::masked_fill_",
                    "aten::where", "aten::eq", "aten::ne", "aten::sum", "aten::cos", "aten::sin",
                    "aten::type_as", "aten::to", "aten::_to_copy", "aten::any", "aten::rsqrt", "aten::sqrt"),
}
_INTEGER_MATMULS = ("MatMulIntegerToFloat", "QLinearMatMul", "MatMulInteger")
_ORT_CAT = {op: c for c, ops in _ORT.items() for op in ops}
_TORCH_CAT = {op: c for c, ops in _TORCH.items() for op in ops}


def ort_category(op: str) -> str:
    return _ORT_CAT.get(op, "layout/other")


def torch_category(op: str) -> str:
    return _TORCH_CAT.get(op, "layout/other")


def by_category(ops: Mapping[str, float], category) -> dict[str, float]:
    """{op: seconds} -> {category: seconds}, every category present (0 when none of its ops ran)."""
    out = {c: 0.0 for c in CATEGORIES}
    for op, s in ops.items():
        out[category(op)] += s
    return out


@dataclass
class RunProfile:
    """One `run`: its label, wall time (perf_counter around the call) and seconds per op key."""

    label: str
    wall_s: float
    ops: dict[str, float] = field(default_factory=dict)

    @property
    def node_s(self) -> float:
        return sum(self.ops.values())

    def categories(self) -> dict[str, float]:
        """Seconds per category; 'session overhead' = wall time not spent inside any kernel."""
        cats = by_category(self.ops, ort_category)
        cats["session overhead"] = max(0.0, self.wall_s - self.node_s)
        return cats


def _op_key(event: dict) -> str:
    args = event.get("args", {})
    op = args.get("op_name", "?")
    if op not in ("MatMul", "FusedMatMul", *_INTEGER_MATMULS):
        return op
    shapes = [next(iter(s.values())) for s in args.get("input_type_shape", []) if s]
    if op in _INTEGER_MATMULS:  # scales and zero points follow A and B: A's rank tells
        return f"{op} (attention)" if shapes and len(shapes[0]) == 4 else op
    return f"{op} (attention)" if shapes and all(len(s) == 4 for s in shapes) else f"{op} (weights)"


def parse_ort_profile(events: Sequence[dict], labels: Sequence[str], walls: Sequence[float]) -> list[RunProfile]:
    """RunProfiles of the `labels`-th runs (in call order) from onnxruntime's profile events."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    if len(runs) != len(labels):
        raise ValueError(f"profile has {len(runs)} model_run events for {len(labels)} runs")
    out = [RunProfile(label, wall) for label, wall in zip(labels, walls)]
    starts = [r["ts"] for r in runs]
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        i = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        if i >= 0 and e["ts"] <= runs[i]["ts"] + runs[i]["dur"]:
            key = _op_key(e)
            out[i].ops[key] = out[i].ops.get(key, 0.0) + e["dur"] * 1e-6
    return out


class OrtProfiler:
    """A profiled onnxruntime session (app.core.session options); `run(tokens, label)` times one pass,
    `finish()` returns the RunProfiles of every run whose label is not 'warmup'."""

    def __init__(self, model_path: Path, threads: int, workdir: Path,
                 initializers: Optional[Mapping[str, np.ndarray]] = None):
        from app.core.session import open_session, session_options

        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(workdir) / "ort_profile")
        self.session = open_session(model_path, opts, initializers=initializers)
        self.labels: list[str] = []
        self.walls: list[float] = []

    def run(self, tokens: np.ndarray, label: str, output: str = "logits") -> float:
        t0 = time.perf_counter()
        self.session.run([output], {"tokens": tokens})
        self.walls.append(time.perf_counter() - t0)
        self.labels.append(label)
        return self.walls[-1]

    def finish(self) -> list[RunProfile]:
        path = Path(self.session.end_profiling())
        try:
            events = json.loads(path.read_text())
        finally:
            path.unlink(missing_ok=True)
        runs = parse_ort_profile(events, self.labels, self.walls)
        return [r for r in runs if r.label != "warmup"]


def torch_op_seconds(prof, passes: int) -> dict[str, float]:
    """Self CPU seconds per aten op per pass from a finished torch.profiler.profile."""
    return {e.key: e.self_cpu_time_total * 1e-6 / passes for e in prof.key_averages()
            if e.key.startswith("aten::") and e.self_cpu_time_total > 0}


def mean_categories(runs: Sequence[RunProfile]) -> dict[str, float]:
    """Mean seconds per category over runs (each run one pass)."""
    cats = [r.categories() for r in runs]
    return {c: float(np.mean([x[c] for x in cats])) for c in CATEGORIES} if cats else {}
