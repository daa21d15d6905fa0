"""What bounds int8-vs-torch speed and packed-vs-batch-1 throughput on this CPU (issue 13).

1. GEMM kernels: ESM-2's Linear shapes (8M, 150M, 650M) at M = L tokens and at packed M, timed
   alone as torch fp32, onnxruntime fp32, onnxruntime int8 as our packs run it (quant's static QDQ
   rewrite, fused by onnxruntime into QuantizeLinear + MatMulIntegerToFloat) and the bare
   MatMulInteger kernel; plus attention's per-head Q.K^T and P.V in fp32. GMAC/s and int8/fp32.
2. int8 vs torch: per-op profiles of a 650M-shaped int8 pack and fair-esm torch fp32 at L = 512,
   summed per op category, and the torch/int8 ratio this CPU allows with parts of the graph free.
3. Packing: per-op profiles of the 8M int8 pack on the same records one per pass and packed;
   which categories get cheaper per record, and the gain left if every fixed cost went away.

    python -m bench.roofline --md bench/results/roofline.md --json bench/results/roofline.json
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Sequence

from . import roofline_e2e as e2e
from . import roofline_gemm as gemm
from .archs import arch as arch_of
from .common import REPO, cpu_info, cpu_line, emit, load_average, md_table, median, utc_now
from .speed import versions

log = logging.getLogger("bench.roofline")
SECTIONS = ("gemm", "int8", "packing")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.roofline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {', '.join(SECTIONS)}")
    p.add_argument("--gemm-models", default="t6_8M,t30_150M,t33_650M", help="architectures whose Linear shapes to time")
    p.add_argument("--lengths", default="64,256,512", help="M = L tokens of one sequence")
    p.add_argument("--packed", default="1024,2048", help="M of packed batches (tokens per pass)")
    p.add_argument("--attention-lengths", default="512")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repetitions of the GEMM table (median)")
    p.add_argument("--min-sample", type=float, default=0.02, help="seconds each GEMM sample lasts at least")
    p.add_argument("--pause", type=float, default=0.01,
                   help="seconds of sleep before each GEMM sample (the other backend's threads park); "
                        "sections 2-3 sleep max(0.5, this) between passes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8-arch", default="t8_650Mw", help="model of section 2 (650M shapes, 8 layers)")
    p.add_argument("--int8-length", type=int, default=512)
    p.add_argument("--int8-repeats", type=int, default=5)
    p.add_argument("--pack-arch", default="t6_8M")
    p.add_argument("--pack-lengths", default="310,312,314,316,318,320", help="residues of the packed records")
    p.add_argument("--pack-sizes", default="1,3,6", help="records per pass (1 = batch 1)")
    p.add_argument("--pack-repeats", type=int, default=9)
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "roofline", help="pack cache")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


class OtherCpu:
    """Cores that other processes kept busy since `start()`: /proc/stat busy time minus this process's
    CPU time, over wall time. The load average lags by a minute; this is what competed with us."""

    def start(self) -> "OtherCpu":
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()
        return self

    def cores(self) -> float:
        wall = time.perf_counter() - self.t0
        return max(0.0, (self._busy() - self.busy0) - (self._own() - self.own0)) / wall if wall > 0 else float("nan")

    @staticmethod
    def _busy() -> float:
        try:
            f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return float("nan")
        return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    @staticmethod
    def _own() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def gemm_cases(models: Sequence[str], ms: Sequence[int], attention_lengths: Sequence[int]) -> list[gemm.Case]:
    """Linear cases of every model at every M, then attention cases; shapes shared by two models once."""
    cases, seen = [], set()
    for m in models:
        for c in gemm.linear_cases(m, ms) + gemm.attention_cases(m, attention_lengths):
            key = (c.op, c.m, c.k, c.n, c.batch)
            if key not in seen:
                seen.add(key)
                cases.append(c)
    return cases


def _ratio(r: dict, num: str, den: str) -> float:
    return median(r["seconds"][den]) / median(r["seconds"][num])


def linear_rows(results: Sequence[dict]) -> list[list]:
    rows = []
    for r in results:
        if r["op"] in gemm.LINEAR_OPS:
            rows.append([r["model"], r["op"], r["m"], f"{r['k']} x {r['n']}",
                         *(gemm.gmacs(r, b) for b in gemm.LINEAR_BACKENDS),
                         median(r["seconds"]["ort int8"]) * 1e3,
                         _ratio(r, "ort int8", "torch fp32"), _ratio(r, "ort int8", "ort fp32")])
    return rows


def attention_rows(results: Sequence[dict]) -> list[list]:
    return [[r["model"], r["op"], r["m"], r["batch"], f"{r['m']} x {r['k']} x {r['n']}",
             *(gemm.gmacs(r, b) for b in gemm.ATTENTION_BACKENDS),
             *(median(r["seconds"][b]) * 1e3 for b in gemm.ATTENTION_BACKENDS)]
            for r in results if r["op"] not in gemm.LINEAR_OPS]


def profile_rows(p: dict) -> list[list]:
    t, q = p["torch_categories_s"], p["int8_categories_s"]
    tt, tq = sum(t.values()), sum(q.values())
    return [[c, t[c] * 1e3, t[c] / tt, q[c] * 1e3, q[c] / tq, t[c] / q[c] if q[c] > 0 else None]
            for c in t] + [["total (sum)", tt * 1e3, 1.0, tq * 1e3, 1.0, tt / tq]]


def packing_rows(p: dict) -> list[list]:
    sizes, per = p["sizes"], p["per_record_s"]
    rows = []
    for c in (*e2e.CATEGORIES, "total"):
        base = per[sizes[0]][c]
        rows.append([c, *(per[k][c] * 1e3 for k in sizes), base / per[sizes[-1]][c] if per[sizes[-1]][c] > 0 else None,
                     p["fit"][c][0] * 1e3, p["fit"][c][1] * 1e3])
    return rows


def report(payload: dict) -> str:
    meta = payload["meta"]
    parts = [f"# Roofline: what bounds int8 vs torch and packed vs batch 1 on this CPU ({meta['date']})", "",
             f"CPU: {cpu_line(meta['cpu'])}", "",
             f"{meta['threads']} threads; onnxruntime {meta['onnxruntime']}, torch {meta['torch']}; 1-min load "
             f"average {meta['load_start']:.2f} at start, {meta['load_end']:.2f} at end; other processes kept "
             + ", ".join(f"{v:.2f}" for v in meta.get("other_cores", {}).values())
             + f" of the {meta['cpu']['logical_cpus']} cores busy during the sections "
             + f"({', '.join(meta.get('other_cores', {}))}); `{meta['command']}`", ""]
    g = payload.get("gemm")
    if g:
        parts += [f"## 1. GEMM kernels alone (median of {meta['repeats']} interleaved repetitions)", "",
                  "ort int8 = QuantizeLinear + MatMulIntegerToFloat, fused by onnxruntime from quant's "
                  f"static QDQ rewrite (ops run: {', '.join(g['int8_ops'])}); MatMulInteger = the bare "
                  "uint8 x int8 -> int32 kernel. GMAC/s = M x K x N / time.", "",
                  md_table(["model", "Linear", "M", "K x N", "torch fp32 GMAC/s", "ort fp32 GMAC/s",
                            "ort int8 GMAC/s", "MatMulInteger GMAC/s", "int8 ms", "int8 / torch fp32",
                            "int8 / ort fp32"], linear_rows(g["results"]), 2), ""]
        att = attention_rows(g["results"])
        if att:
            parts += ["Attention products per layer, fp32, all heads in one batched call (torch.bmm as fair-esm "
                      "runs them; a two-input MatMul in onnxruntime):", "",
                      md_table(["model", "product", "L", "heads", "per head M x K x N", "torch fp32 GMAC/s",
                                "ort fp32 GMAC/s", "torch ms", "ort ms"], att, 2), ""]
    p = payload.get("int8")
    if p:
        parts += [f"## 2. {p['arch']} at L = {p['length']} ({p['tokens']} tokens), batch 1: time per op category "
                  f"(mean of {meta['int8_repeats']} profiled passes)", "",
                  f"Wall time per pass: torch fp32 {median(p['torch_wall_s']) * 1e3:.0f} ms, int8 "
                  f"{median(p['int8_wall_s']) * 1e3:.0f} ms. A 6x lead needs an int8 pass of at most "
                  f"{median(p['torch_wall_s']) / 6 * 1e3:.0f} ms; its Linear GEMMs alone take "
                  f"{p['int8_categories_s']['Linear GEMM'] * 1e3:.0f} ms, its float attention MatMuls + softmax "
                  f"{(p['int8_categories_s']['attention MatMul'] + p['int8_categories_s']['softmax']) * 1e3:.0f} ms. "
                  "Profiled passes (onnxruntime's profiler, torch.profiler self CPU time); session overhead = "
                  "wall time outside any op.", "",
                  md_table(["category", "torch fp32 ms", "share", "ort int8 ms", "share", "torch / int8"],
                           profile_rows(p), 2), "",
                  md_table(["scenario", "torch fp32 / int8"], payload["int8_bounds"], 2), ""]
    k = payload.get("packing")
    if k:
        sizes = k["sizes"]
        parts += [f"## 3. Packing, {k['arch']} int8: ms per record by records per pass (lengths "
                  f"{min(k['lengths'])}-{max(k['lengths'])}, median of {meta['pack_repeats']})", "",
                  f"The app's default budget ({k['default_budget']} tokens) packs {k['default_budget_rows']} of "
                  f"these records per pass. Fit: pass time = fixed + marginal x records.", "",
                  md_table(["category", *(f"{n} per pass ms/record" for n in sizes), f"x ({sizes[-1]} vs {sizes[0]})",
                            "fixed ms/pass", "marginal ms/record"], packing_rows(k), 3), "",
                  md_table(["scenario", "gain over batch 1"], payload["packing_bounds"], 2), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    sections = [s for s in args.sections.split(",") if s]
    if any(s not in SECTIONS for s in sections):
        print(f"error: unknown section in {sections}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    meta = {"cpu": cpu_info(), "threads": args.threads, "repeats": args.repeats, "int8_repeats": args.int8_repeats,
            "pack_repeats": args.pack_repeats, "date": utc_now(), "load_start": load_average(),
            "command": "python -m bench.roofline " + " ".join(argv), **versions()}
    payload: dict = {"meta": meta}
    others = meta["other_cores"] = {}
    watch = OtherCpu().start()
    if "gemm" in sections:
        cases = gemm_cases(args.gemm_models.split(","), ints(args.lengths) + ints(args.packed),
                           ints(args.attention_lengths))
        log.info("timing %d GEMM cases x %d repetitions", len(cases), args.repeats)
        payload["gemm"] = {"int8_ops": gemm.int8_fused_ops(args.threads), "results": gemm.measure(cases, args.threads, args.repeats,
                                                                         args.min_sample, args.pause)}
        others["gemm"], watch = watch.cores(), OtherCpu().start()
    if "int8" in sections:
        log.info("profiling %s at L = %d", args.int8_arch, args.int8_length)
        payload["int8"] = e2e.int8_vs_torch(args.int8_arch, args.int8_length, args.threads, args.int8_repeats,
                                            max(args.pause, 0.5), args.work)
        a = arch_of(args.int8_arch)
        payload["int8_bounds"] = e2e.int8_bounds(payload["int8"], payload.get("gemm", {}).get("results", []),
                                                 a.num_layers, a.embed_dim)
        others["int8"], watch = watch.cores(), OtherCpu().start()
    if "packing" in sections:
        log.info("profiling packing on %s", args.pack_arch)
        payload["packing"] = e2e.packing(args.pack_arch, ints(args.pack_lengths), ints(args.pack_sizes),
                                         args.threads, args.pack_repeats, max(args.pause, 0.5), args.work)
        payload["packing_bounds"] = e2e.packing_bounds(payload["packing"])
        others["packing"] = watch.cores()
    meta["load_end"] = load_average()
    emit(report(payload), payload, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
