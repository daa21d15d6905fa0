"""Whole-model profiles of the roofline bench and the bounds they imply.

int8 vs torch: one int8 pack (bench.packs, random weights) and fair-esm torch fp32 of the same
architecture in this process, passes interleaved (a pause between them parks the other runtime's
spinning threads), onnxruntime's and torch's profilers on; seconds per op category per pass.

Packing: the int8 pack of a small model runs the same records one per pass, k per pass and
n per pass (right-padded by the app's tokenizer), interleaved; per category the cost of one pass
of k records is fitted as fixed + marginal x k: what no packing can remove is the marginal cost.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from .common import median
from .roofline_gemm import LINEAR_OPS
from .roofline_profile import CATEGORIES, OrtProfiler, by_category, mean_categories, torch_category, torch_op_seconds


def int8_profiler(arch: str, threads: int, work: Path, tmp: Path):
    """(OrtProfiler on the arch's int8 pack, the pack) ; the pack is built once and cached in `work`."""
    from app.core.pack import load_pack
    from app.core.side_weights import load_side_weights

    from .throughput import build_pack

    pack_dir = build_pack(arch, SimpleNamespace(seed=0, work=work, scheme="int8"))
    pack = load_pack(pack_dir, verify=False)
    side = load_side_weights(pack_dir, pack.manifest).get(pack.manifest["onnx"]["model"])
    return OrtProfiler(pack.model_path, threads, tmp, side), pack


def int8_vs_torch(arch: str, length: int, threads: int, repeats: int, pause_s: float, work: Path) -> dict:
    """Profiles of `repeats` interleaved passes at batch 1, `length` residues: torch fp32 and int8."""
    import torch

    from .archs import random_esm2
    from .speed_worker import tokens_for

    torch.set_num_threads(threads)
    tokens = tokens_for(length, 1)
    with tempfile.TemporaryDirectory() as tmp:
        prof, pack = int8_profiler(arch, threads, work, Path(tmp))
        model = random_esm2(arch, 0)
        x = torch.from_numpy(tokens)

        def torch_pass() -> float:
            t0 = time.perf_counter()
            with torch.inference_mode():
                model(x)["logits"].numpy()
            return time.perf_counter() - t0

        prof.run(tokens, "warmup")
        torch_pass()
        torch_walls = []
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as p:
            for r in range(repeats):
                for which in (("torch", "int8") if r % 2 == 0 else ("int8", "torch")):
                    time.sleep(pause_s)
                    if which == "torch":
                        torch_walls.append(torch_pass())
                    else:
                        prof.run(tokens, "int8")
        runs = prof.finish()
    torch_ops = torch_op_seconds(p, repeats)
    torch_cats = by_category(torch_ops, torch_category)
    torch_cats["session overhead"] = max(0.0, float(np.mean(torch_walls)) - sum(torch_ops.values()))
    int8_ops: dict[str, float] = {}
    for r in runs:
        for op, s in r.ops.items():
            int8_ops[op] = int8_ops.get(op, 0.0) + s / len(runs)
    return {"arch": arch, "length": length, "tokens": int(tokens.shape[1]), "pack": str(pack.path),
            "torch_wall_s": torch_walls, "int8_wall_s": [r.wall_s for r in runs],
            "torch_ops_s": torch_ops, "int8_ops_s": int8_ops,
            "torch_categories_s": torch_cats, "int8_categories_s": mean_categories(runs)}


def layer_linears(gemm: Sequence[dict], embed_dim: int, m: int) -> list[dict]:
    """The measured Linear cases of one layer of width `embed_dim` at M = m (E x E, E x 4E, 4E x E)."""
    e = embed_dim
    shapes = {(e, e), (e, 4 * e), (4 * e, e)}
    return [g for g in gemm if g["op"] in LINEAR_OPS and g["m"] == m and (g["k"], g["n"]) in shapes]


def layer_seconds(cases: Sequence[dict], backend: str) -> float:
    """One layer's Linear time on `backend`: median seconds x how many such Linears a layer has."""
    return sum(median(g["seconds"][backend]) * g["per_layer"] for g in cases) if len(cases) == 3 else float("nan")


def int8_bounds(e2e: dict, gemm: Sequence[dict], num_layers: int, embed_dim: int) -> list[list]:
    """[what, torch / int8 time] rows: the measured ratio and what it would be with parts made free."""
    t_torch, t_int8 = median(e2e["torch_wall_s"]), median(e2e["int8_wall_s"])
    q, t = e2e["int8_categories_s"], e2e["torch_categories_s"]
    ms = {g["m"] for g in gemm if g["op"] in LINEAR_OPS} or {e2e["length"]}
    m = min(ms, key=lambda v: abs(v - e2e["length"]))  # the table's M nearest the pass's tokens
    cases = layer_linears(gemm, embed_dim, m)
    kernel_ratio = layer_seconds(cases, "torch fp32") / layer_seconds(cases, "ort int8")
    rows = [["measured: torch fp32 pass / int8 pass", t_torch / t_int8],
            ["int8 graph with everything but its Linear GEMMs free", t_torch / q["Linear GEMM"]],
            ["... and its attention MatMuls + softmax kept (float, as now)",
             t_torch / (q["Linear GEMM"] + q["attention MatMul"] + q["softmax"])],
            [f"torch with only its Linear GEMMs swapped for int8 kernels ({kernel_ratio:.2f}x at M = {m})",
             t_torch / (t_torch - t["Linear GEMM"] + t["Linear GEMM"] / kernel_ratio)],
            [f"only the int8 Linear kernels, isolated ({num_layers} layers x kernel time at M = {m})",
             t_torch / (num_layers * layer_seconds(cases, "ort int8"))]]
    return rows


def packing(arch: str, lengths: Sequence[int], sizes: Sequence[int], threads: int, repeats: int,
            pause_s: float, work: Path, seed: int = 0) -> dict:
    """Per-record seconds per category when the same records run k per pass, for each k in sizes."""
    from app.core.batching import DEFAULT_TOKEN_BUDGET, plan_batches
    from app.core.tokenizer import Tokenizer

    from .sequences import random_sequence

    seqs = [random_sequence(L, seed + 1000 + i) for i, L in enumerate(lengths)]
    with tempfile.TemporaryDirectory() as tmp:
        prof, pack = int8_profiler(arch, threads, work, Path(tmp))
        tok = Tokenizer(pack.alphabet)
        modes = {k: [tok.batch_encode(seqs[i:i + k]) for i in range(0, len(seqs), k)] for k in sizes}
        for k, batches in modes.items():
            for b in batches:
                prof.run(b, "warmup")
        for r in range(repeats):
            for k in list(sizes)[r % len(sizes):] + list(sizes)[:r % len(sizes)]:
                time.sleep(pause_s)
                for b in modes[k]:
                    prof.run(b, f"{k}|{r}")
        runs = prof.finish()
    per_record: dict[int, dict[str, float]] = {}
    for k in sizes:
        reps = []
        for r in range(repeats):
            cats = [x.categories() for x in runs if x.label == f"{k}|{r}"]
            reps.append({c: sum(x[c] for x in cats) / len(seqs) for c in CATEGORIES})
        per_record[k] = {c: median([x[c] for x in reps]) for c in CATEGORIES}
        per_record[k]["total"] = median([sum(x.values()) for x in reps])
    default_rows = max(len(b.indices) for b in plan_batches(list(lengths), DEFAULT_TOKEN_BUDGET))
    return {"arch": arch, "lengths": list(lengths), "sizes": list(sizes), "per_record_s": per_record,
            "tokens_per_pass": {k: int(modes[k][0].size) for k in sizes}, "default_budget": DEFAULT_TOKEN_BUDGET,
            "default_budget_rows": default_rows, "fit": fit_fixed_marginal(per_record, sizes)}


def fit_fixed_marginal(per_record: dict[int, dict[str, float]], sizes: Sequence[int]) -> dict[str, tuple]:
    """{category: (fixed s per pass, marginal s per record)}: least squares of pass time = a + b k."""
    ks = np.array(sizes, float)
    out = {}
    for c in (*CATEGORIES, "total"):
        per_pass = np.array([per_record[k][c] * k for k in sizes])
        if len(sizes) >= 2:
            b, a = np.polyfit(ks, per_pass, 1)
        else:
            a, b = 0.0, float(per_pass[0])
        out[c] = (float(a), float(b))
    return out


def packing_bounds(p: dict) -> list[list]:
    """[what, gain over batch 1] rows: measured per k, and the fitted limit of endless packing."""
    one = p["per_record_s"][1]["total"] if 1 in p["per_record_s"] else float("nan")
    rows = [[f"measured: {k} records per pass ({p['tokens_per_pass'][k]} tokens)", one / p["per_record_s"][k]["total"]]
            for k in p["sizes"] if k != 1]
    marginal = sum(max(0.0, p["fit"][c][1]) for c in CATEGORIES)
    rows.append(["bound: every fixed per-pass cost gone (sum of fitted marginal costs per record)", one / marginal])
    return rows
