"""Speed, pack size and peak memory of ESM-2 packs per quantization scheme vs fair-esm torch fp32.

All variants of one architecture run side by side in one invocation: each is loaded in its own
subprocess (so its peak RSS is its own: load + every timed pass), then the timed passes are
interleaved (repetition r runs every variant once, in an order rotated by r) so that machine
noise hits all variants alike; medians over repetitions, ratios within the run.

    python -m bench.speed --models t6_8M,t12_35M --lengths 64,256 --repeats 5 --json out.json
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from .archs import ARCHS
from .packs import PWLQ_FORMS, TOKEN_OUTLIERS
from .common import load_average, CALIBRATION, REPO, cpu_info, cpu_line, md_table, median, utc_now, emit
from .workers import Worker, pack_worker, torch_worker

log = logging.getLogger("bench.speed")
SCHEMES = ("fp32", "dynamic-int8", "int8", "pwlq8")  # the default set; any registered ESM-2 scheme or ternary-channel runs
TORCH = "torch fp32"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(ARCHS), help=f"comma-separated, from {', '.join(ARCHS)}")
    p.add_argument("--lengths", default="64,256,512", help="residues per sequence (BOS/EOS added)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per variant and length (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes per variant and length")
    p.add_argument("--schemes", default=",".join(SCHEMES),
                   help="onnxruntime pack schemes to time; SCHEME-mha: that scheme on the graph whose attention "
                        "is onnxruntime's fused MultiHeadAttention; int8/pwlq8 + -attn8 (-qk8): with integer "
                        "Q.K^T and P.V (Q.K^T only) MatMuls")
    p.add_argument("--no-torch", action="store_true", help="skip the fair-esm torch fp32 baseline")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.5,
                   help="seconds to sleep before each timed pass, so the previous variant's worker "
                        "threads (onnxruntime and OpenMP spin after a run) are parked and idle")
    p.add_argument("--seed", type=int, default=0, help="random-init seed of the models")
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "speed",
                   help="pack cache: packs built with the same inputs are reused")
    p.add_argument("--calibration", type=Path, default=CALIBRATION,
                   help="calibration FASTA (random sequences when it does not exist)")
    p.add_argument("--calibration-size", type=int, default=8)
    p.add_argument("--calibration-max-residues", type=int, default=512,
                   help="crop calibration sequences (only ranges for the speed packs)")
    p.add_argument("--pwlq-split", choices=("default", "never", "auto", "always"), default="always",
                   help="Linear split policy of the pwlq8 packs. Default 'always': random weights make the "
                        "scheme's 'auto' policy split nothing, trained weights get every Linear split")
    p.add_argument("--json", type=Path, help="write raw numbers here")
    p.add_argument("--md", type=Path, help="also write the markdown tables here")
    return p.parse_args(argv)


def build_packs(arch: str, schemes: list[str], args) -> dict[str, dict]:
    """Export (or reuse) the packs of `arch` in a subprocess; {scheme: pack info}."""
    cmd = [sys.executable, "-m", "bench.packs", "--arch", arch, "--seed", str(args.seed),
           "--schemes", ",".join(schemes), "--work", str(args.work), "--calibration", str(args.calibration),
           "--calibration-size", str(args.calibration_size), "--max-residues", str(args.calibration_max_residues),
           "--pwlq-split", args.pwlq_split]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))
    out = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    packs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {p["scheme"]: p for p in packs}


def start_workers(arch: str, packs: dict[str, dict], args) -> dict[str, Worker]:
    """Load every variant, one at a time (loads do not compete for the CPU)."""
    workers: dict[str, Worker] = {}
    try:
        if not args.no_torch:
            workers[TORCH] = torch_worker(arch, args.seed, args.threads)
        for scheme, info in packs.items():
            workers[scheme] = pack_worker(scheme, Path(info["path"]), args.threads)
    except BaseException:
        for w in workers.values():
            w.kill()
        raise
    return workers


def time_interleaved(workers: dict[str, Worker], lengths: list[int], args) -> dict[str, dict[int, list[float]]]:
    """{variant: {L: [seconds per repetition]}}; repetition r runs the variants rotated by r."""
    names = list(workers)
    times: dict[str, dict[int, list[float]]] = {n: {L: [] for L in lengths} for n in names}
    for L in lengths:
        for n in names:
            for _ in range(args.warmup):
                workers[n].time(L, args.batch)
        for r in range(args.repeats):
            for n in names[r % len(names):] + names[:r % len(names)]:
                time.sleep(args.pause)
                times[n][L].append(workers[n].time(L, args.batch))
        log.info("L=%d: %s", L, ", ".join(f"{n} {median(times[n][L]) * 1e3:.0f} ms" for n in names))
    return times


def measure(arch: str, schemes: list[str], lengths: list[int], args) -> dict:
    packs = build_packs(arch, schemes, args) if schemes else {}
    workers = start_workers(arch, packs, args)
    try:
        times = time_interleaved(workers, lengths, args)
        memory = {n: w.quit() for n, w in workers.items()}
    finally:
        for w in workers.values():
            w.kill()
    return {"arch": arch, "packs": packs, "times_s": times, "memory_kb": memory,
            "load": {n: w.info for n, w in workers.items()}}


def speed_rows(result: dict, lengths: list[int]) -> list[list]:
    t = {n: {L: median(v[L]) for L in lengths} for n, v in result["times_s"].items()}
    rows = []
    for L in lengths:
        for n in t:
            vs_torch = t[TORCH][L] / t[n][L] if TORCH in t else None
            vs_ort = t["fp32"][L] / t[n][L] if "fp32" in t else None
            rows.append([result["arch"], L, n if n == TORCH else f"ort {n}", t[n][L] * 1e3, vs_torch, vs_ort])
    return rows


def size_rows(result: dict) -> list[list]:
    packs, mem = result["packs"], result["memory_kb"]
    fp32 = packs.get("fp32", {}).get("onnx_bytes")
    rows = []
    for n, m in mem.items():
        p = packs.get(n, {})
        size = p.get("onnx_bytes")
        split = sum(v for k, v in p.get("counts", {}).items() if k.startswith("linear/pwlq/"))
        rows.append([result["arch"], n if n == TORCH else f"ort {n}", size / 1e6 if size else None,
                     size / fp32 if size and fp32 else None, m.get("vmhwm_kb", m["ru_maxrss_kb"]) / 1024,
                     result["load"][n].get("load_seconds"), split if p else None])
    return rows


def targets(results: list[dict]) -> list[list]:
    """The product targets: 650M at L=256 int8/pwlq8 >= 4x torch, pwlq8 within 15% of int8, packs <= 0.27x."""
    rows = []
    for res in results:
        if res["arch"] != "t33_650M":
            continue
        t = {n: {L: median(v) for L, v in d.items()} for n, d in res["times_s"].items()}
        if 256 in t.get(TORCH, {}):
            for s in ("int8", "pwlq8"):
                if s in t:
                    x = t[TORCH][256] / t[s][256]
                    rows.append([f"650M L=256 ort {s} vs torch fp32", ">= 4.0x", f"{x:.2f}x", "yes" if x >= 4 else "NO"])
        if 512 in t.get(TORCH, {}) and 512 in t.get("int8", {}):
            x = t[TORCH][512] / t["int8"][512]
            rows.append(["650M L=512 ort int8 vs torch fp32", ">= 6.0x", f"{x:.2f}x", "yes" if x >= 6 else "NO"])
        for s in ("pwlq8", *PWLQ_FORMS, *TOKEN_OUTLIERS):
            if "int8" in t and s in t and 256 in t["int8"]:
                x = t[s][256] / t["int8"][256]
                rows.append([f"650M L=256 {s} time / int8 time", "<= 1.15", f"{x:.2f}", "yes" if x <= 1.15 else "NO"])
        for L in sorted(t.get("int8", {})):
            if L in t.get("ternary", {}):
                x = t["ternary"][L] / t["int8"][L]
                rows.append([f"650M L={L} ternary time / int8 time", "<= 1.00", f"{x:.2f}", "yes" if x <= 1.0 else "NO"])
        fp32 = res["packs"].get("fp32", {}).get("onnx_bytes")
        for s in ("dynamic-int8", "int8", "pwlq8", "ternary"):
            if fp32 and s in res["packs"]:
                x = res["packs"][s]["onnx_bytes"] / fp32
                rows.append([f"650M {s} pack size / fp32", "<= 0.27", f"{x:.3f}", "yes" if x <= 0.27 else "NO"])
    return rows


def report(results: list[dict], lengths: list[int], meta: dict) -> str:
    parts = [f"CPU: {cpu_line(meta['cpu'])}", "",
             f"{meta['threads']} threads, batch {meta['batch']}, median of {meta['repeats']} interleaved repetitions; "
             f"onnxruntime {meta['onnxruntime']}, torch {meta['torch']}; {meta['date']}; 1-min load average "
             f"{meta['load_average_start']:.2f} at start, {meta['load_average_end']:.2f} at end", ""]
    parts += [md_table(["model", "L", "variant", "median ms", "x vs torch fp32", "x vs ort fp32"],
                       [r for res in results for r in speed_rows(res, lengths)], 2), ""]
    parts += [md_table(["model", "variant", "ONNX MB", "size / fp32", "peak RSS MB", "load s", "PWLQ Linears (any form)"],
                       [r for res in results for r in size_rows(res)], 2)]
    t = targets(results)
    if t:
        parts += ["", md_table(["target", "goal", "measured", "met"], t)]
    return "\n".join(parts)


def versions() -> dict:
    import onnxruntime
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
    return {"onnxruntime": onnxruntime.__version__, "torch": tv}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in ARCHS]
    schemes = [s for s in args.schemes.split(",") if s]
    from quant import scheme_names

    known = (*scheme_names("esm2"), "ternary-channel", *PWLQ_FORMS, *TOKEN_OUTLIERS)
    from .packs import split_label

    if bad or any(split_label(s)[0] not in known for s in schemes):
        print(f"error: unknown model(s) {bad} or scheme(s) in {schemes}", file=sys.stderr)
        return 2
    lengths = [int(x) for x in args.lengths.split(",") if x]
    meta = {"cpu": cpu_info(), "threads": args.threads, "batch": args.batch, "repeats": args.repeats,
            "warmup": args.warmup, "pause_s": args.pause, "date": utc_now(), "command": "python -m bench.speed " + " ".join(
                sys.argv[1:] if argv is None else argv), **versions()}
    meta["load_average_start"] = load_average()
    results = [measure(m, schemes, lengths, args) for m in models]
    meta["load_average_end"] = load_average()
    text = report(results, lengths, meta)
    emit(text, {"meta": meta, "results": results, "targets": targets(results)}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
