"""One speed-bench variant in its own process: load it, then time forward passes on request.

Protocol (JSON lines): the worker prints {"ready": ...} after loading; each request
{"length": L, "batch": B} answers {"seconds": t} for one forward pass of B random sequences of
L residues (the same tokens in every worker); {"quit": true} answers the memory readings and exits.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .common import memory_kb


def tokens_for(length: int, batch: int) -> np.ndarray:
    """(B, L + 2) int64: BOS, random standard residues (seed = L), EOS; identical across variants."""
    from packbuild.sequences import encode

    from .sequences import random_sequence
    return np.concatenate([encode(random_sequence(length, seed=length + b)) for b in range(batch)])


def torch_forward(arch: str, seed: int, threads: int):
    import torch

    from .archs import random_esm2
    torch.set_num_threads(threads)
    model = random_esm2(arch, seed)

    def run(tokens: np.ndarray) -> None:
        with torch.inference_mode():
            model(torch.from_numpy(tokens))["logits"].numpy()
    return run


def ort_forward(pack: Path, threads: int):
    from .runner import PackRunner

    runner = PackRunner(pack, threads)

    def run(tokens: np.ndarray) -> None:
        runner.run(tokens, ("logits",))
    return run, runner.backend


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.speed_worker")
    p.add_argument("--torch-arch", help="time fair-esm torch fp32 of this architecture")
    p.add_argument("--pack", type=Path, help="time this pack through onnxruntime")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    before = memory_kb()
    t0 = time.perf_counter()
    if args.torch_arch:
        run, backend = torch_forward(args.torch_arch, args.seed, args.threads), "torch"
    else:
        run, backend = ort_forward(args.pack, args.threads)
    print(json.dumps({"ready": True, "backend": backend, "load_seconds": time.perf_counter() - t0,
                      "rss_before_load_kb": before.get("vmrss_kb")}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            print(json.dumps(memory_kb()), flush=True)
            return 0
        tokens = tokens_for(int(req["length"]), int(req.get("batch", 1)))
        t = time.perf_counter()
        run(tokens)
        print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
