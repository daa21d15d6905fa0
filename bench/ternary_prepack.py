"""A/B of onnxruntime weight pre-packing for ternary and int8 packs, interleaved in one process.

    python -m bench.ternary_prepack bench/.work/speed-ternary/t30_150M [--lengths 64,256] [--repeats 7]

DIR holds `int8/` and `ternary/` packs (as python -m bench.speed writes them). A ternary pack's
decoded weights are arrays the app owns, so onnxruntime's pre-packed copy sits beside them; this
measures what pre-packing buys in speed (memory: the peak RSS column of python -m bench.speed).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .common import md_table, utc_now


def runtime(pack: Path, prepack: bool, threads: int):
    import app.core.runtime as rt_mod
    from app.core import session
    from app.core.pack import load_pack

    real = session.session_options
    rt_mod.session_options = lambda threads=None, optimization="all", **_: real(threads, optimization, prepack)
    try:
        rt = rt_mod.Esm2Runtime(load_pack(pack), threads=threads)
        rt._session_for(("logits",))  # open it now, under the patched options
    finally:
        rt_mod.session_options = real
    return rt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ternary_prepack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path)
    p.add_argument("--lengths", default="64,256")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--md", type=Path)
    args = p.parse_args(argv)
    variants = {f"{s} {'prepack' if on else 'no prepack'}": runtime(args.dir / s, on, args.threads)
                for s in ("int8", "ternary") for on in (True, False)}
    names, rows = list(variants), []
    for L in [int(x) for x in args.lengths.split(",")]:
        tokens = np.full((1, L + 2), 5, dtype=np.int64)
        tokens[0, 0], tokens[0, -1] = 0, 2
        times: dict[str, list[float]] = {n: [] for n in names}
        for rt in variants.values():
            rt.run(tokens)
        for r in range(args.repeats):
            for n in names[r % len(names):] + names[:r % len(names)]:
                time.sleep(0.2)
                t0 = time.perf_counter()
                variants[n].run(tokens)
                times[n].append(time.perf_counter() - t0)
        base = float(np.median(times["int8 prepack"]))
        rows += [[args.dir.name, L, n, float(np.median(v)) * 1e3, base / float(np.median(v))] for n, v in times.items()]
    table = md_table(["model", "L", "variant", "median ms", "x vs int8 prepack"], rows)
    text = f"{utc_now()}, {args.threads} threads, median of {args.repeats} interleaved runs\n\n{table}\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
