"""Load time and peak memory of an ordinary pack vs the same pack with its Linear weights in weights.npz.

    python -m bench.side_weights [--arch t12_35M] [--repeats 3]

Exports a random-init ESM-2 of `--arch` as an fp32 pack, repacks it with packbuild.side_weights,
then loads each pack (load_pack + Esm2Runtime, then one 256-token forward pass) in a fresh
interpreter, alternating, and prints a markdown table of the medians.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import REPO, md_table, median

_WORKER = r"""
import json, sys, time
import numpy as np
from bench.common import memory_kb
t0 = time.perf_counter()
from app.core.pack import load_pack
from app.core.runtime import Esm2Runtime
t1 = time.perf_counter()
rt = Esm2Runtime(load_pack(sys.argv[1]), threads=int(sys.argv[2]))
t2 = time.perf_counter()
loaded = memory_kb()
rt.run(np.full((1, 256), 5, dtype=np.int64))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_run_s": t3 - t2,
                  "rss_loaded_mb": loaded["vmrss_kb"] / 1024, "peak_loaded_mb": loaded["vmhwm_kb"] / 1024,
                  "peak_run_mb": memory_kb()["vmhwm_kb"] / 1024}))
"""


def measure(pack: Path, threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", _WORKER, str(pack), str(threads)], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build(arch: str, out: Path) -> dict[str, Path]:
    from exporter.pipeline import ExportOptions, export_pack
    from exporter.side_repack import repack_with_side_file

    from .archs import random_loaded

    plain = export_pack(random_loaded(arch), "fp32", out / "plain", [], ExportOptions()).path
    return {"model.onnx (weights inside)": plain,
            "model.onnx + weights.npz": repack_with_side_file(plain, out / "side")}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="t12_35M")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgefold-side-") as tmp:
        packs = build(args.arch, Path(tmp))
        runs: dict[str, list[dict]] = {name: [] for name in packs}
        for _ in range(args.repeats):
            for name, path in packs.items():
                runs[name].append(measure(path, args.threads))
        sizes = {name: {p.name: p.stat().st_size / 1e6 for p in path.iterdir() if p.suffix in (".onnx", ".npz")}
                 for name, path in packs.items()}
    keys = ("load_s", "first_run_s", "rss_loaded_mb", "peak_loaded_mb", "peak_run_mb")
    rows = [[name, ", ".join(f"{f} {mb:.1f} MB" for f, mb in sorted(sizes[name].items())),
             *(median([r[k] for r in rs]) for k in keys)] for name, rs in runs.items()]
    print(f"ESM-2 {args.arch} random init, fp32, {args.threads} threads, median of {args.repeats} fresh processes\n")
    print(md_table(["pack", "files", "load_pack + Esm2Runtime s", "first run (1x256) s", "RSS loaded MB",
                    "peak RSS loaded MB", "peak RSS after run MB"], rows))


if __name__ == "__main__":
    main()
