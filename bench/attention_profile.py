"""Where the time of the integer-attention variants goes: per-op-category profiles of bench.speed packs.

The packs of `bench.speed` (same --work cache and labels, e.g. int8, int8-attn8, int8-qk8) are
profiled with onnxruntime's profiler, passes interleaved (repetition r runs every variant once);
each pass is split into the roofline categories (bench.roofline_profile: an integer MatMul whose A
input is 4-D counts as attention, not as a Linear). Mean ms per pass and category.

    python -m bench.attention_profile --schemes int8,int8-attn8,int8-qk8 --lengths 256,512 \
        --work bench/.work/speed-attn8 --md out.md
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, cpu_info, cpu_line, emit, load_average, md_table, median, utc_now
from .roofline_profile import CATEGORIES, OrtProfiler, mean_categories

SHOWN = ("Linear GEMM", "attention MatMul", "softmax", "quantize (QDQ)", "elementwise", "layout/other")


def profilers(arch: str, schemes: list[str], work: Path, threads: int, tmp: Path) -> dict[str, OrtProfiler]:
    """An OrtProfiler per scheme label on its bench.speed pack (built or reused through bench.speed)."""
    from app.core.pack import load_pack
    from app.core.side_weights import load_side_weights

    from .speed import build_packs, parse_args as speed_args

    packs = build_packs(arch, schemes, speed_args(["--work", str(work)]))
    out = {}
    for label in schemes:
        pack = load_pack(packs[label]["path"], verify=False)
        side = load_side_weights(pack.path, pack.manifest).get(pack.manifest["onnx"]["model"])
        (tmp / label).mkdir()
        out[label] = OrtProfiler(pack.model_path, threads, tmp / label, side)
    return out


def profile(arch: str, schemes: list[str], lengths: list[int], repeats: int, threads: int, pause_s: float,
            work: Path) -> list[dict]:
    from .speed_worker import tokens_for

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        profs = profilers(arch, schemes, work, threads, Path(tmp))
        for L in lengths:
            tokens = tokens_for(L, 1)
            for p in profs.values():
                p.run(tokens, "warmup")
            for r in range(repeats):
                for label in schemes[r % len(schemes):] + schemes[:r % len(schemes)]:
                    time.sleep(pause_s)
                    profs[label].run(tokens, f"L{L}")
        for label, p in profs.items():
            runs = p.finish()
            for L in lengths:
                mine = [x for x in runs if x.label == f"L{L}"]
                rows.append({"scheme": label, "length": L, "wall_s": [x.wall_s for x in mine],
                             "categories_s": mean_categories(mine)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.attention_profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="t8_650Mw")
    p.add_argument("--schemes", default="int8,int8-attn8,int8-qk8")
    p.add_argument("--lengths", default="256,512")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pause", type=float, default=0.5)
    p.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "speed")
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    schemes = [s for s in args.schemes.split(",") if s]
    lengths = [int(x) for x in args.lengths.split(",") if x]
    start = load_average()
    rows = profile(args.arch, schemes, lengths, args.repeats, args.threads, args.pause, args.work)
    meta = {"cpu": cpu_info(), "date": utc_now(), "threads": args.threads, "repeats": args.repeats,
            "load_average_start": start, "load_average_end": load_average()}
    table = [[args.arch, r["length"], r["scheme"], median(r["wall_s"]) * 1e3,
              *(r["categories_s"][c] * 1e3 for c in SHOWN)] for r in sorted(rows, key=lambda r: r["length"])]
    text = "\n".join([
        f"CPU: {cpu_line(meta['cpu'])}", "",
        f"{args.threads} threads, batch 1, {args.repeats} interleaved profiled passes per variant and length "
        f"(mean ms per category, median wall ms); {meta['date']}; 1-min load average {start:.2f} at start, "
        f"{meta['load_average_end']:.2f} at end", "",
        md_table(["model", "L", "variant", "wall ms", *(f"{c} ms" for c in SHOWN)], table, 1)])
    emit(text, {"meta": meta, "categories": list(CATEGORIES), "rows": rows}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
