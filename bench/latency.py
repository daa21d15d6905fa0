"""Heatmap latency: one protein, full wild-type-marginal (one pass) and masked-marginal (L passes,
batched) per scheme, wall-clock seconds, through the app's scoring when importable.

    python -m bench.latency --arch t33_650M --length 300 --json out.json

Random-weight packs are shared with bench.speed (same --work cache). The masked marginal runs
every position unless --masked-positions N is given: then N positions are timed in full batches
and the time is scaled to all L positions (reported as extrapolated).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from .common import load_average, HELDOUT, REPO, cpu_info, cpu_line, md_table, median, utc_now, emit
from .speed import SCHEMES, build_packs

log = logging.getLogger("bench.latency")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="t33_650M")
    p.add_argument("--length", type=int, default=300)
    p.add_argument("--sequences", type=Path, default=HELDOUT,
                   help="FASTA; the first sequence of at least --length residues, cropped (random if none)")
    p.add_argument("--schemes", default=",".join(SCHEMES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="masked copies per forward pass (the app's default)")
    p.add_argument("--repeats", type=int, default=3, help="wt-marginal repetitions (median)")
    p.add_argument("--masked-positions", type=int, default=None, help="time only this many (extrapolate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "speed")
    p.add_argument("--calibration", type=Path, default=REPO / "assets" / "calibration" / "swissprot_calibration_256.fasta")
    p.add_argument("--calibration-size", type=int, default=8)
    p.add_argument("--calibration-max-residues", type=int, default=512)
    p.add_argument("--pwlq-split", choices=("default", "never", "auto", "always"), default="always",
                   help="Linear split policy of pwlq8 packs (see bench.speed)")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


def protein(path: Path, length: int) -> tuple[str, str]:
    from .sequences import random_sequence, read_fasta

    if Path(path).exists():
        for name, seq in read_fasta(path):
            if len(seq) >= length:
                return name, seq[:length]
    return "random", random_sequence(length)


def score(runner, seq: str, method: str, batch: int) -> np.ndarray:
    from .evaluate import matrix
    return matrix(runner, seq, method, batch)


def masked_subset_seconds(runner, seq: str, positions: int, batch: int) -> float:
    """Seconds for all L masked positions, scaled from ceil(positions / batch) timed full passes."""
    from packbuild.sequences import encode

    from .scoring import MASK_ID
    base = encode(seq)
    passes = max(1, math.ceil(positions / batch))
    times = []
    for k in range(passes):
        cols = 1 + (np.arange(batch) + k * batch) % len(seq)
        tokens = np.tile(base, (batch, 1))
        tokens[np.arange(batch), cols] = MASK_ID
        t0 = time.perf_counter()
        runner.run(tokens, ("logits",))
        times.append(time.perf_counter() - t0)
    return median(times) * math.ceil(len(seq) / batch)


def measure(packs: dict, seq: str, args) -> dict:
    from .runner import PackRunner

    runners = {s: PackRunner(Path(p["path"]), args.threads) for s, p in packs.items()}
    wt: dict[str, list[float]] = {s: [] for s in runners}
    for r in runners.values():
        score(r, seq[:32], "wt-marginal", args.batch)  # warm-up
    names = list(runners)
    for rep in range(args.repeats):
        for s in names[rep % len(names):] + names[:rep % len(names)]:
            t0 = time.perf_counter()
            score(runners[s], seq, "wt-marginal", args.batch)
            wt[s].append(time.perf_counter() - t0)
    out = {}
    for s, r in runners.items():
        t0 = time.perf_counter()
        if args.masked_positions:
            masked = masked_subset_seconds(r, seq, args.masked_positions, args.batch)
        else:
            score(r, seq, "masked-marginal", args.batch)
            masked = time.perf_counter() - t0
        out[s] = {"wt_marginal_s": wt[s], "masked_marginal_s": masked, "backend": r.backend}
        log.info("%s: wt-marginal %.2f s, masked-marginal %.1f s", s, median(wt[s]), masked)
    return out


def report(res: dict, meta: dict) -> str:
    note = (f"extrapolated from {meta['masked_positions']} positions" if meta["masked_positions"]
            else "all positions")
    rows = []
    for s, r in res.items():
        w, m = median(r["wt_marginal_s"]), r["masked_marginal_s"]
        rows.append([s, w, "yes" if w < 2 else "NO", m, "yes" if m < 60 else "NO"])
    return "\n".join([
        f"{meta['arch']} (random weights), {meta['length']}-residue protein ({meta['protein']}), {meta['threads']} "
        f"threads, masked batch {meta['batch']}; CPU: {cpu_line(meta['cpu'])}; {meta['date']}; 1-min load average "
        f"{meta['load_average_start']:.2f} at start, {meta['load_average_end']:.2f} at end", "",
        md_table(["scheme", "wt-marginal s (median)", "< 2 s", f"masked-marginal s ({note})", "< 60 s"], rows, 2)])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    schemes = [s for s in args.schemes.split(",") if s]
    name, seq = protein(args.sequences, args.length)
    meta = {"arch": args.arch, "length": len(seq), "protein": name, "threads": args.threads, "batch": args.batch,
            "masked_positions": args.masked_positions, "cpu": cpu_info(), "date": utc_now(),
            "command": "python -m bench.latency " + " ".join(argv)}
    packs = build_packs(args.arch, schemes, args)
    meta["load_average_start"] = load_average()
    res = measure(packs, seq, args)
    meta["load_average_end"] = load_average()
    text = report(res, meta)
    emit(text, {"meta": meta, "results": res}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
