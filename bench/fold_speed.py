"""ESMFold speed and peak memory per stage: torch fp32 vs onnxruntime folding packs, scaled to full depth.

The bench model has the real esmfold_v1 widths (bench/fold_packs.py says where each comes from)
with random weights, but only --lm-layers of the LM's 36 layers and --trunk-blocks of the trunk's
48 blocks. Each variant (torch fp32, one pack per scheme) runs in its own process
(bench/fold_worker.py); for each length every variant runs the four stages once per repetition,
variants in an order rotated by the repetition; medians over repetitions, ratios within the run.

    python -m bench.fold_speed --lengths 64,128,256,384 --json out.json --md out.md
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

from .common import CALIBRATION, REPO, cpu_info, cpu_line, emit, load_average, md_table, median, utc_now
from .fold_packs import PRESETS, FoldBenchModel
from .fold_worker import STAGES
from .workers import Worker

log = logging.getLogger("bench.fold_speed")
SCHEMES = ("fp32", "int8", "pwlq8", "dynamic-int8")  # shown in --help; the registry decides what runs
TORCH = "torch fp32"
SPEEDUP_GOAL, MEMORY_GOAL = 3.0, 0.35
MIB, GIB = float(1 << 20), float(1 << 30)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fold_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=tuple(PRESETS), default="esmfold_v1", help="widths (tiny: tests)")
    p.add_argument("--lm-layers", type=int, default=2, help="ESM-2 layers of the bench model")
    p.add_argument("--trunk-blocks", type=int, default=2, help="folding-trunk blocks of the bench model")
    p.add_argument("--lengths", default="64,128,256,384", help="residues per sequence")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant and length (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per variant and length")
    p.add_argument("--schemes", default="fp32,int8,pwlq8", help=f"pack schemes, from {', '.join(SCHEMES)}")
    p.add_argument("--no-torch", action="store_true", help="skip the torch fp32 reference")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.5, help="seconds of sleep before each timed run")
    p.add_argument("--seed", type=int, default=0, help="random-init seed of the model")
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "fold", help="pack cache")
    p.add_argument("--calibration", type=Path, default=CALIBRATION,
                   help="calibration FASTA (random sequences when it does not exist)")
    p.add_argument("--calibration-size", type=int, default=4)
    p.add_argument("--calibration-max-residues", type=int, default=128)
    p.add_argument("--pwlq-split", choices=("default", "never", "auto", "always"), default="always",
                   help="pwlq8 Linear split policy (default 'always', as bench.speed: random weights make "
                        "'auto' split nothing, trained weights get the split)")
    p.add_argument("--chunk-size", type=int, default=0,
                   help="packs: rows per triangle-attention chunk (0: unchunked); torch stays unchunked")
    p.add_argument("--placement", default="", help="packs: exporter --placement, e.g. 'linear' (default: PTQ4Protein's)")
    p.add_argument("--keep-arenas", action="store_true",
                   help="keep onnxruntime arenas between runs (default: shrink them after each run, so that idle "
                        "workers do not hold GBs: four at L=384 outgrow 24 GB)")
    p.add_argument("--json", type=Path, help="write raw numbers here")
    p.add_argument("--md", type=Path, help="also write the markdown report here")
    return p.parse_args(argv)


def _env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])))


class FoldWorker(Worker):
    """A bench.fold_worker process (bench.workers.Worker's JSON-lines protocol)."""

    def __init__(self, name: str, args: list[str], threads: int):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.fold_worker", "--threads", str(threads), *args],
                                     cwd=REPO, env=_env(threads), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.info = self._read()

    def fold(self, length: int, release: bool = True) -> dict:
        return self._ask({"length": length, "release": release})


def build_packs(model: FoldBenchModel, schemes: list[str], args) -> dict[str, dict]:
    """Export (or reuse) the packs in a subprocess; {scheme: bench.fold_packs.pack_info}."""
    cmd = [sys.executable, "-m", "bench.fold_packs", "--preset", model.preset, "--lm-layers", str(model.lm_layers),
           "--trunk-blocks", str(model.trunk_blocks), "--seed", str(model.seed), "--schemes", ",".join(schemes),
           "--work", str(args.work), "--calibration", str(args.calibration),
           "--calibration-size", str(args.calibration_size), "--max-residues", str(args.calibration_max_residues),
           "--pwlq-split", args.pwlq_split, "--chunk-size", str(args.chunk_size)]
    cmd += ["--placement", args.placement] if args.placement else []
    out = subprocess.run(cmd, cwd=REPO, env=_env(args.threads), stdout=subprocess.PIPE, text=True, check=True).stdout
    return {p["scheme"]: p for p in map(json.loads, (ln for ln in out.splitlines() if ln.startswith("{")))}


def start_workers(model: FoldBenchModel, packs: dict[str, dict], args) -> dict[str, FoldWorker]:
    """Load every variant, one at a time."""
    workers: dict[str, FoldWorker] = {}
    try:
        if not args.no_torch:
            workers[TORCH] = FoldWorker(TORCH, ["--torch-preset", model.preset, "--lm-layers", str(model.lm_layers),
                                                "--trunk-blocks", str(model.trunk_blocks), "--seed", str(model.seed)],
                                        args.threads)
        for scheme, info in packs.items():
            workers[f"ort {scheme}"] = FoldWorker(f"ort {scheme}", ["--pack", info["path"]], args.threads)
    except BaseException:
        for w in workers.values():
            w.kill()
        raise
    return workers


def time_interleaved(workers: dict[str, FoldWorker], lengths: list[int], args, loads: dict | None = None) -> dict:
    """{variant: {L: {"seconds": {stage: [per repetition]}, "peak_kb": {stage: max over all runs}}}}."""
    names = list(workers)
    runs = {n: {L: {"seconds": {s: [] for s in STAGES}, "peak_kb": dict.fromkeys(STAGES, 0)} for L in lengths}
            for n in names}

    def record(n: str, L: int, timed: bool) -> None:
        r, d = workers[n].fold(L, not args.keep_arenas), runs[n][L]
        for s in STAGES:
            d["peak_kb"][s] = max(d["peak_kb"][s], r["peak_kb"][s])
            if timed:
                d["seconds"][s].append(r["seconds"][s])
        d["peak_reset"] = d.get("peak_reset", True) and r["peak_reset"]
    for L in lengths:
        for n in names:
            for _ in range(args.warmup):
                record(n, L, False)
        for rep in range(args.repeats):
            for n in names[rep % len(names):] + names[:rep % len(names)]:
                time.sleep(args.pause)
                record(n, L, True)
        if loads is not None:  # 1-min load average after each length: other jobs distort torch's OpenMP most
            loads[L] = load_average()
        log.info("L=%d: %s", L, ", ".join(f"{n} " + "/".join(f"{median(runs[n][L]['seconds'][s]):.2f}"
                                                               for s in STAGES) + " s" for n in names))
    return runs


def factors(model: FoldBenchModel) -> dict[str, float]:
    """Full-depth multiplier per stage: lm x 36/n; trunk x 48/m x passes; structure x passes; heads x 1."""
    passes = model.max_recycles  # HF EsmForProteinFolding: num_recycles=None runs max_recycles trunk passes
    return {"lm": model.full_lm_layers / model.lm_layers,
            "trunk": model.full_trunk_blocks / model.trunk_blocks * passes, "structure": float(passes), "heads": 1.0}


def added_weight_bytes(model: FoldBenchModel, load: dict, pack: dict | None) -> float:
    """Resident bytes the missing LM layers and trunk blocks would add (see METHOD)."""
    p = load["params"] if pack is None else pack["params"]
    more_lm = model.full_lm_layers / model.lm_layers - 1
    more_trunk = model.full_trunk_blocks / model.trunk_blocks - 1
    if pack is None:  # torch fp32: 4 bytes per parameter
        return 4.0 * (p["lm_layers"] * more_lm + p["trunk_blocks"] * more_trunk)
    grown = {k: v * 1024.0 for k, v in load["part_load_growth_kb"].items()}  # resident bytes of one session
    lm_share = p["lm_layers"] / (p["lm_layers"] + p["lm_other"])
    trunk_share = p["trunk_blocks"] / (p["trunk_blocks"] + p["trunk_other"])
    return grown["lm"] * lm_share * more_lm + grown["trunk"] * trunk_share * more_trunk


def hidden_state_bytes(model: FoldBenchModel, length: int) -> float:
    """torch lm only: HF keeps every hidden state (tuple + torch.stack), 2 x (36 - n) x (L + 2) x E floats more."""
    width = PRESETS[model.preset]["esm"]["hidden_size"]
    return 2 * 4.0 * (model.full_lm_layers - model.lm_layers) * (length + 2) * width


def summarize(model: FoldBenchModel, runs: dict, load: dict, packs: dict, lengths: list[int]) -> dict:
    """{variant: {L: measured/scaled seconds per stage, total, peaks measured and at full depth}}."""
    f = factors(model)
    out = {}
    for n, per_len in runs.items():
        pack = packs.get(n.removeprefix("ort ")) if n != TORCH else None
        added = added_weight_bytes(model, load[n], pack)
        out[n] = {}
        for L in lengths:
            d = per_len[L]
            measured = {s: median(d["seconds"][s]) for s in STAGES}
            scaled = {s: measured[s] * f[s] for s in STAGES}
            peak = {s: d["peak_kb"][s] * 1024.0 for s in STAGES}
            full = {s: peak[s] + added + (hidden_state_bytes(model, L) if n == TORCH and s == "lm" else 0.0)
                    for s in STAGES}
            out[n][L] = {"measured_s": measured, "factor": f, "scaled_s": scaled, "total_s": sum(scaled.values()),
                         "peak_bytes": peak, "full_depth_peak_bytes": full, "added_weight_bytes": added,
                         "peak_max_bytes": max(peak.values()), "full_depth_peak_max_bytes": max(full.values()),
                         "peak_reset": d.get("peak_reset", False)}
    return out


def targets(summary: dict, lengths: list[int]) -> list[list]:
    """Per length and quantized scheme: total time >= 3x faster and full-depth peak <= 0.35x of torch fp32."""
    rows = []
    if TORCH not in summary:
        return rows
    for L in lengths:
        ref = summary[TORCH][L]
        for n in (v for v in summary if v in ("ort int8", "ort pwlq8", "ort dynamic-int8")):
            x = ref["total_s"] / summary[n][L]["total_s"]
            m = summary[n][L]["full_depth_peak_max_bytes"] / ref["full_depth_peak_max_bytes"]
            rows.append([L, n, x, "yes" if x >= SPEEDUP_GOAL else "NO", m, "yes" if m <= MEMORY_GOAL else "NO"])
    return rows


ARENAS = {True: "it is kept too (--keep-arenas)",
          False: "each worker shrinks its sessions' arenas (RunOptions memory.enable_memory_arena_shrinkage) so "
                 "that idle workers hold only their weights: every run starts from a cold arena, whose page faults "
                 "count in the onnxruntime times (the high side)"}


def method(model: FoldBenchModel, keep: bool = False) -> str:
    f = factors(model)
    return (f"Bench model: {model.preset} widths, random weights, LM {model.lm_layers} of {model.full_lm_layers} "
            f"layers, trunk {model.trunk_blocks} of {model.full_trunk_blocks} blocks, structure module in full "
            f"(one block's weights run {PRESETS[model.preset]['structure']['num_blocks']} times). Times are of one "
            f"fold at FULL depth, estimated: lm = measured x {f['lm']:g} ({model.full_lm_layers}/{model.lm_layers}); "
            f"trunk = one measured pass x "
            f"{model.full_trunk_blocks}/{model.trunk_blocks} x {model.max_recycles} passes (= x {f['trunk']:g}; "
            f"num_recycles=None runs max_recycles={model.max_recycles} passes in HF and app/core/fold); structure = "
            f"measured x {model.max_recycles} (it runs after every pass); heads = measured once; total = sum. The "
            f"per-pass fixed work (LM embedding and esm_s_mlp; trunk recycling embeddings and relative positions) is "
            f"scaled with the blocks, so every variant's estimate is slightly high.\n\nPeak RSS: VmHWM of the "
            f"variant's own process during each stage (reset before the stage through /proc/self/clear_refs after "
            f"malloc_trim; holds every part's weights, the stage inputs, activations and onnxruntime's arena), max "
            f"over all runs. Full-depth estimate = measured + resident bytes of the missing layers/blocks: torch "
            f"4 bytes per parameter (plus, in lm, the 2 x (36 - n) extra hidden states HF stacks); onnxruntime the "
            f"RSS growth when the lm / trunk session alone is created (after malloc_trim) x the layers' share of "
            f"that part's parameters x (full/reduced - 1). The per-session fixed overhead is scaled too: high "
            f"side. MiB = 2^20, GiB = 2^30 bytes.\n\nArenas: within a run onnxruntime keeps its arena across "
            f"stages, as in the app; between runs {ARENAS[keep]}.")


def report(model: FoldBenchModel, summary: dict, load: dict, packs: dict, lengths: list[int], meta: dict) -> str:
    parts = [f"CPU: {cpu_line(meta['cpu'])}", "",
             f"{meta['threads']} threads, batch 1, median of {meta['repeats']} interleaved repetitions "
             f"({meta['warmup']} warm-up); onnxruntime {meta['onnxruntime']}, torch {meta['torch']}; {meta['date']}; "
             f"1-min load average {meta['load_average_start']:.2f} at start, {meta['load_average_end']:.2f} at end, "
             "after each length " + ", ".join(f"L={k}: {v:.2f}" for k, v in meta["load_average_after_length"].items()),
             "", method(model, meta.get("keep_arenas", False)), "",
             f"Packs: triangle-attention chunk {meta.get('pack_chunk_size') or 'none (unchunked)'} rows"
             f"; activation quantizers: {meta.get('pack_placement', 'PTQ4Protein')}"
             f"; the torch fp32 reference is unchunked (fair-esm's default).", ""]
    rows, mem_rows = [], []
    for L in lengths:
        for n, by_len in summary.items():
            r, ref = by_len[L], summary.get(TORCH, {}).get(L)
            rows.append([L, n, *(r["scaled_s"][s] for s in STAGES), r["total_s"],
                         ref["total_s"] / r["total_s"] if ref else None, r["peak_max_bytes"] / MIB,
                         r["full_depth_peak_max_bytes"] / GIB,
                         r["full_depth_peak_max_bytes"] / ref["full_depth_peak_max_bytes"] if ref else None])
            mem_rows.append([L, n, *(r["peak_bytes"][s] / MIB for s in STAGES),
                             *(r["full_depth_peak_bytes"][s] / GIB for s in STAGES)])
    parts += ["Seconds per stage of one full-depth fold (scaled as above), peak RSS (reduced model measured, "
              "full-depth estimate):", "",
              md_table(["L", "variant", *(f"{s} s" for s in STAGES), "total s", "x faster vs torch",
                        "peak MiB (reduced)", "peak GiB (full est.)", "memory / torch"], rows, 2), "",
              "Peak RSS per stage: measured on the reduced model (MiB) and full-depth estimate (GiB):", "",
              md_table(["L", "variant", *(f"{s} MiB" for s in STAGES), *(f"{s} GiB full" for s in STAGES)],
                       mem_rows, 2), ""]
    load_rows = [[n, load[n]["load_seconds"], load[n]["rss_after_load_kb"] / 1024,
                  sum(packs[n[4:]]["part_bytes"].values()) / MIB if n != TORCH else None,
                  summary[n][lengths[0]]["added_weight_bytes"] / GIB] for n in summary]
    parts += [md_table(["variant", "load s", "RSS after load MiB", "pack MiB", "full depth adds GiB"], load_rows, 2)]
    t = targets(summary, lengths)
    if t:
        parts += ["", md_table(["L", "variant", f"x faster (goal >= {SPEEDUP_GOAL:g})", "met",
                                f"memory / torch (goal <= {MEMORY_GOAL:g})", "met"], t, 2)]
    return "\n".join(parts)


def versions() -> dict:
    import onnxruntime
    import torch
    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    schemes = [s for s in args.schemes.split(",") if s]
    from quant import scheme_names

    if any(s not in scheme_names("esmfold") for s in schemes):
        print(f"error: unknown scheme in {schemes}; choose from {', '.join(scheme_names('esmfold'))}", file=sys.stderr)
        return 2
    try:
        model = FoldBenchModel(args.preset, args.lm_layers, args.trunk_blocks, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lengths = [int(x) for x in args.lengths.split(",") if x]
    meta = {"cpu": cpu_info(), "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
            "pause_s": args.pause, "keep_arenas": args.keep_arenas, "date": utc_now(),
            "pack_chunk_size": args.chunk_size or None,
            "pack_placement": args.placement or "PTQ4Protein (linear, layernorm, softmax)",
            "command": "python -m bench.fold_speed " + " ".join(argv),
            "model": {"preset": model.preset, "lm_layers": model.lm_layers, "trunk_blocks": model.trunk_blocks,
                      "full_lm_layers": model.full_lm_layers, "full_trunk_blocks": model.full_trunk_blocks,
                      "passes": model.max_recycles, "seed": model.seed, "widths": PRESETS[model.preset]},
            **versions(), "load_average_start": load_average()}
    packs = build_packs(model, schemes, args) if schemes else {}
    workers = start_workers(model, packs, args)
    try:
        runs = time_interleaved(workers, lengths, args, meta.setdefault("load_average_after_length", {}))
        memory = {n: w.quit() for n, w in workers.items()}
    finally:
        for w in workers.values():
            w.kill()
    meta["load_average_end"] = load_average()
    load = {n: w.info for n, w in workers.items()}
    summary = summarize(model, runs, load, packs, lengths)
    text = report(model, summary, load, packs, lengths, meta)
    emit(text, {"meta": meta, "packs": packs, "load": load, "memory_kb": memory, "runs": runs,
                "summary": summary, "targets": targets(summary, lengths)}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
