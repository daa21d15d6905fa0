"""Where the folding trunk's time goes: its ONNX session timed side by side across packs, and per-op profiles.

The trunk part is ~90% of an int8 fold at L <= 128 (bench/results/fold_speed_loop.md). This opens
only the trunk.onnx of each pack given (same session options as the app: app.core.fold.parts),
feeds every pack the same random inputs of one recycling pass (recycled s / z / backbone non-zero,
as in passes 2-4), and times one pass per pack, packs interleaved and rotated per repetition,
median of --repeats after one warm-up. Ratios are to the first pack. With --profile, one more run
per pack and length under onnxruntime's profiler gives the time per op category (mean of
--profile-runs runs) and the slowest nodes (a Loop's or If's own time excludes the nodes of its
body, which are listed as "inside"). On a loaded machine a preempted thread stalls whichever node
is running, so single nodes read high at random: compare categories, not nodes.

    python -m bench.fold_trunk_profile --pack old=DIR --pack new=DIR --lengths 64,128 --profile \\
        --md bench/results/fold_trunk_profile.md --json bench/results/fold_trunk_profile.json
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import cpu_info, cpu_line, emit, load_average, md_table, median, utc_now

CATEGORIES = {
    "int8 MatMul": ("MatMulIntegerToFloat", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul"),
    "float MatMul": ("MatMul", "FusedMatMul", "Einsum", "Gemm"),
    "fused attention": ("MultiHeadAttention", "Attention"),
    "Softmax": ("Softmax",),
    "Transpose": ("Transpose",),
    "QDQ": ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"),
    "LayerNorm": ("LayerNormalization", "SkipLayerNormalization"),
    "elementwise": ("Add", "Mul", "Sub", "Div", "Sigmoid", "Relu", "Where", "Pow", "Clip", "Greater", "Less",
                    "LessOrEqual", "Cast", "ReduceSum", "Sqrt", "Neg", "Exp", "Tanh", "Erf", "Equal", "Not"),
    "copies (Pad/Slice/Concat/Reshape)": ("Pad", "Slice", "Concat", "Reshape", "Gather", "Split", "Expand",
                                          "Identity", "Squeeze", "Unsqueeze", "Flatten", "Shape", "ConstantOfShape",
                                          "GatherSliceToSplitFusion"),
    "control flow (Loop/If own time)": ("Loop", "If", "Scan"),
}
CONTROL = CATEGORIES["control flow (Loop/If own time)"]


def category(op: str) -> str:
    return next((c for c, ops in CATEGORIES.items() if op in ops), "other")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fold_trunk_profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", action="append", required=True, metavar="NAME=DIR",
                   help="a folding pack (its trunk.onnx), repeatable; the first is the reference")
    p.add_argument("--lengths", default="64,128")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--optimization", choices=("all", "basic", "none"), default="all",
                   help="onnxruntime graph optimisation level (the app uses all)")
    p.add_argument("--profile", action="store_true", help="also profile one run per pack and length")
    p.add_argument("--profile-runs", type=int, default=3, help="profiled runs per pack and length (mean)")
    p.add_argument("--top", type=int, default=12, help="slowest nodes listed per profile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


def named_packs(specs: list[str]) -> dict[str, Path]:
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--pack {spec!r}: expected NAME=DIR")
        if not (Path(path) / "trunk.onnx").is_file():
            raise ValueError(f"--pack {spec!r}: {path}/trunk.onnx does not exist")
        out[name] = Path(path)
    return out


def open_trunk(pack: Path, threads: int, optimization: str, profile_prefix: str | None = None):
    """The pack's trunk session with the app's folding options (plus the profiler when asked)."""
    from app.core.fold.parts import session_options
    from app.core.session import _LEVELS, open_session

    opts = session_options(threads)
    opts.graph_optimization_level = _LEVELS[optimization]
    if profile_prefix:
        opts.enable_profiling, opts.profile_file_prefix = True, profile_prefix
    return open_session(pack / "trunk.onnx", opts)


def trunk_feeds(session, length: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs of one later recycling pass (recycled tensors non-zero), batch 1, no padding."""
    dims = {i.name: i.shape[-1] for i in session.get_inputs()}
    rng = np.random.default_rng(seed)
    return {"s_s_0": rng.standard_normal((1, length, dims["s_s_0"]), np.float32),
            "recycle_s": rng.standard_normal((1, length, dims["recycle_s"]), np.float32),
            "recycle_z": rng.standard_normal((1, length, length, dims["recycle_z"]), np.float32),
            "recycle_backbone": 8 * rng.standard_normal((1, length, 3, 3), np.float32),
            "residx": np.arange(length, dtype=np.int64)[None], "mask": np.ones((1, length), np.float32)}


def _run_options():
    import onnxruntime as ort

    opts = ort.RunOptions()  # as app.core.fold.parts runs the trunk: its arena is handed back after each run
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts


def time_interleaved(sessions: dict, lengths: list[int], repeats: int, seed: int) -> dict:
    """{pack: {L: [seconds per repetition]}}; one untimed warm-up per pack and length."""
    names, run_opts = list(sessions), _run_options()
    out = {n: {L: [] for L in lengths} for n in names}
    for L in lengths:
        feeds = trunk_feeds(sessions[names[0]], L, seed)
        for n in names:
            sessions[n].run(None, feeds, run_opts)
        for rep in range(repeats):
            for n in names[rep % len(names):] + names[:rep % len(names)]:
                t = time.perf_counter()
                sessions[n].run(None, feeds, run_opts)
                out[n][L].append(time.perf_counter() - t)
    return out


def profile_events(path: str, skip: int = 1) -> list[tuple[float, list[dict]]]:
    """[(model_run ms, node events of that run)] for each run after the first `skip` (warm-up)."""
    events = json.loads(Path(path).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    out = []
    for run in [e for e in events if e.get("name") == "model_run"][skip:]:
        start, end = run["ts"], run["ts"] + run["dur"]
        out.append((run["dur"] / 1e3, [e for e in nodes if start <= e["ts"] <= end]))
    return out


def mean_breakdown(runs: list[tuple[float, list[dict]]], top: int) -> dict:
    """breakdown() of each profiled run, ms averaged over the runs (the slowest nodes: of the median run)."""
    parts = [breakdown(ms, nodes, top) for ms, nodes in runs]
    out = dict(sorted(parts, key=lambda p: p["run_ms"])[len(parts) // 2])
    for key in ("categories_ms", "ops_ms"):
        names = {k for p in parts for k in p[key]}
        out[key] = {k: sum(p[key].get(k, 0.0) for p in parts) / len(parts) for k in names}
    out["run_ms"] = sum(p["run_ms"] for p in parts) / len(parts)
    out["runs"] = len(parts)
    return out


def breakdown(run_ms: float, nodes: list[dict], top: int) -> dict:
    """ms per op category (control-flow nodes count their own time only) and the slowest nodes."""
    control = [e for e in nodes if e["args"]["op_name"] in CONTROL]

    def parent(e: dict) -> dict | None:  # the innermost Loop/If whose run contains this node's
        around = [c for c in control if c is not e and c["ts"] <= e["ts"] and e["ts"] + e["dur"] <= c["ts"] + c["dur"]]
        return min(around, key=lambda c: c["dur"]) if around else None

    parents = {id(e): parent(e) for e in nodes}
    children_ms = collections.defaultdict(float)
    for e in nodes:
        if parents[id(e)] is not None:
            children_ms[id(parents[id(e)])] += e["dur"] / 1e3
    nested = {id(e) for e in nodes if parents[id(e)] is not None}
    per_cat, per_op, count = collections.defaultdict(float), collections.defaultdict(float), collections.Counter()
    for e in nodes:
        op = e["args"]["op_name"]
        ms = e["dur"] / 1e3 - children_ms[id(e)]  # a Loop's / If's own time: minus its body's nodes
        per_cat[category(op)] += ms
        per_op[op] += ms
        count[op] += 1
    slow = sorted(nodes, key=lambda e: -e["dur"])[:top]
    return {"run_ms": run_ms, "categories_ms": dict(per_cat), "ops_ms": dict(per_op), "op_counts": dict(count),
            "nodes_run": len(nodes), "inside_control_flow": len(nested),
            "slowest": [{"node": e["name"][:-len("_kernel_time")], "op": e["args"]["op_name"], "ms": e["dur"] / 1e3,
                         "inside": id(e) in nested, "output": e["args"].get("output_type_shape")} for e in slow]}


def profile(packs: dict[str, Path], lengths: list[int], args) -> dict:
    """{pack: {L: mean_breakdown}} of --profile-runs profiled runs (after a warm-up) per pack and length."""
    out = {n: {} for n in packs}
    with tempfile.TemporaryDirectory(prefix="edgefold-trunk-profile-") as tmp:
        for n, pack in packs.items():
            for L in lengths:
                sess = open_trunk(pack, args.threads, args.optimization, f"{tmp}/{n}-{L}")
                feeds = trunk_feeds(sess, L, args.seed)
                for _ in range(1 + args.profile_runs):
                    sess.run(None, feeds, _run_options())
                out[n][L] = mean_breakdown(profile_events(sess.end_profiling()), args.top)
    return out


def report(times: dict, profiles: dict | None, lengths: list[int], meta: dict) -> str:
    names = list(times)
    ref = names[0]
    lines = [f"CPU: {cpu_line(meta['cpu'])}", "",
             f"trunk.onnx only (the pack's bench depth), {meta['threads']} threads, batch 1, optimisation "
             f"{meta['optimization']}, median of {meta['repeats']} interleaved runs after 1 warm-up; "
             f"onnxruntime {meta['onnxruntime']}; {meta['date']}; 1-min load average {meta['load_start']:.2f} at "
             f"start, {meta['load_end']:.2f} at end", "",
             "Packs: " + "; ".join(f"{n} = {p}" for n, p in meta["packs"].items()), ""]
    rows = [[L, n, median(times[n][L]) * 1e3, min(times[n][L]) * 1e3,
             median(times[ref][L]) / median(times[n][L])] for L in lengths for n in names]
    lines += [md_table(["L", "pack", "median ms", "min ms", f"x faster than {ref}"], rows, 2)]
    if profiles:
        cats = list(CATEGORIES) + ["other"]
        for L in lengths:
            runs = profiles[names[0]][L]["runs"]
            lines += ["", f"Profile at L={L} (mean of {runs} profiled runs; ms per op category, % of the run):", ""]
            header = ["category"] + [f"{n} ms" for n in names] + [f"{n} %" for n in names]
            body = []
            for c in cats:
                vals = [profiles[n][L]["categories_ms"].get(c, 0.0) for n in names]
                if any(v > 0.05 for v in vals):
                    body.append([c, *vals, *(100 * v / profiles[n][L]["run_ms"] for v, n in zip(vals, names))])
            body.append(["run (model_run)", *(profiles[n][L]["run_ms"] for n in names), *(100.0 for _ in names)])
            lines += [md_table(header, body, 1)]
            for n in names:
                p = profiles[n][L]
                lines += ["", f"Slowest nodes, {n}, L={L}, median profiled run ({p['nodes_run']} node runs, "
                          f"{p['inside_control_flow']} inside Loop/If bodies):", "",
                          md_table(["node", "op", "ms", "inside Loop/If", "output"],
                                   [[s["node"] or "(unnamed)", s["op"], s["ms"], "yes" if s["inside"] else "",
                                     json.dumps(s["output"])] for s in p["slowest"]], 1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        packs = named_packs(args.pack)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import onnxruntime

    lengths = [int(x) for x in args.lengths.split(",") if x]
    meta = {"cpu": cpu_info(), "threads": args.threads, "repeats": args.repeats, "optimization": args.optimization,
            "onnxruntime": onnxruntime.__version__, "date": utc_now(), "load_start": load_average(),
            "packs": {n: str(p) for n, p in packs.items()},
            "command": "python -m bench.fold_trunk_profile " + " ".join(argv)}
    sessions = {n: open_trunk(p, args.threads, args.optimization) for n, p in packs.items()}
    times = time_interleaved(sessions, lengths, args.repeats, args.seed)
    del sessions
    profiles = profile(packs, lengths, args) if args.profile else None
    meta["load_end"] = load_average()
    emit(report(times, profiles, lengths, meta), {"meta": meta, "seconds": times, "profiles": profiles},
         args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
