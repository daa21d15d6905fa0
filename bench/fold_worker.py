"""One fold-bench variant in its own process: load it, then time each ESMFold stage on request.

Protocol (JSON lines): after loading the worker prints {"ready": ...}; each request {"length": L}
runs the four stages once on the inputs `stage_inputs(L, ...)` (identical in every worker) and
answers {"seconds": {stage: s}, "peak_kb": {stage: VmHWM}, "start_kb": {stage: VmRSS}}; with
"release": true it then returns freed memory (onnxruntime: arena shrinkage run per session). Before
each stage freed heap is returned (malloc_trim) and the peak-RSS mark is reset (writing "5" to
/proc/self/clear_refs), so a stage's VmHWM is the process's resident peak during that stage
(weights of every part, the stage inputs, its activations, and for onnxruntime its arena).
{"quit": true} answers memory_kb() and exits.

Torch stages (fp32, inference_mode): lm = EsmForProteinFolding.forward up to s_s_0 (HF methods
af2_idx_to_esm_idx, compute_language_model_representations, esm_s_combine, esm_s_mlp, embedding);
trunk / structure / heads = exporter.esmfold's TrunkPass / StructurePass / HeadsPass, the modules the
ONNX parts are traced from (same math as the HF recycling loop body); the trunk's blocks run as
transformers' own modules (TrunkPass reference=True), not the export-shaped block_forward. onnxruntime stages: the
pack's sessions from app.core.fold.parts.open_parts.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .common import memory_kb

STAGES = ("lm", "trunk", "structure", "heads")
Stage = Callable[[dict[str, np.ndarray]], object]


def stage_inputs(length: int, c_s: int, c_z: int, c_sm: int) -> dict[str, dict[str, np.ndarray]]:
    """{stage: feeds} for one sequence of `length` residues; random but seeded by L (same in every worker)."""
    from app.core.fold.residues import encode

    from .sequences import random_sequence
    rng = np.random.default_rng(length)

    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * rng.standard_normal((1, length) + shape)).astype(np.float32)
    aatype = encode(random_sequence(length, seed=length))[None]  # (1, L) AF2 order
    mask, residx = np.ones((1, length), np.float32), np.arange(length, dtype=np.int64)[None]
    return {"lm": {"aatype": aatype},
            "trunk": {"s_s_0": normal(c_s), "recycle_s": normal(c_s), "recycle_z": normal(length, c_z),
                      "recycle_backbone": normal(3, 3, scale=8.0), "residx": residx, "mask": mask},
            "structure": {"s_s": normal(c_s), "s_z": normal(length, c_z), "aatype": aatype, "mask": mask},
            "heads": {"s_z": normal(length, c_z), "states": normal(c_sm)}}


def torch_stages(model) -> dict[str, Stage]:
    """{stage: run(feeds)} over the torch model."""
    import torch

    from exporter.esmfold.heads import HeadsPass
    from exporter.esmfold.structure import StructurePass
    from exporter.esmfold.trunk import TrunkPass

    trunk = TrunkPass(model.trunk, reference=True).eval()  # transformers' own blocks, unchunked
    structure, heads = StructurePass(model.trunk).eval(), HeadsPass(model).eval()

    def lm(aatype: torch.Tensor) -> torch.Tensor:
        esmaa = model.af2_idx_to_esm_idx(aatype, torch.ones_like(aatype))
        esm_s = model.compute_language_model_representations(esmaa)  # (B, L, layers + 1, E)
        esm_s = (model.esm_s_combine.softmax(0).unsqueeze(0) @ esm_s).squeeze(2)
        return model.esm_s_mlp(esm_s) + model.embedding(aatype)  # (B, L, c_s)

    def wrap(fn: Callable) -> Stage:
        def run(feeds: dict[str, np.ndarray]) -> object:
            with torch.inference_mode():
                return fn(*(torch.from_numpy(v) for v in feeds.values()))
        return run
    return {"lm": wrap(lm), "trunk": wrap(trunk), "structure": wrap(structure), "heads": wrap(heads)}


def load_torch(preset: str, lm_layers: int, trunk_blocks: int, seed: int, threads: int) -> tuple[dict, dict, dict]:
    import torch

    from .fold_packs import FoldBenchModel, param_counts
    torch.set_num_threads(threads)
    model = FoldBenchModel(preset, lm_layers, trunk_blocks, seed).build()
    tc = model.config.esmfold_config.trunk
    dims = {"c_s": tc.sequence_state_dim, "c_z": tc.pairwise_state_dim, "c_sm": tc.structure_module.sequence_dim}
    return torch_stages(model), dims, {"params": param_counts(model)}


def part_load_growth(pack: Path, threads: int, names: tuple[str, ...] = ("lm", "trunk")) -> dict[str, int]:
    """{part: RSS growth in KiB} when that part's session alone is created (then freed again).

    What one part's weights cost resident (file bytes are not the answer: onnxruntime may prepack
    weights, and a pwlq8 split Linear uses its weight in two integer MatMuls)."""
    import onnxruntime as ort

    from app.core.fold.parts import session_options

    files = json.loads((pack / "manifest.json").read_text())["onnx"]["parts"]

    def session(name: str):
        return ort.InferenceSession(str(pack / files[name]), session_options(threads),
                                    providers=["CPUExecutionProvider"])
    warm = session("heads")  # onnxruntime's one-time process setup (thread pools, allocators) goes here
    out = {}
    for name in names:
        reset_peak()
        before = memory_kb()["vmrss_kb"]
        sess = session(name)
        reset_peak()  # the parsed ModelProto is freed once the session is built
        out[name] = memory_kb()["vmrss_kb"] - before
        del sess
    del warm
    reset_peak()
    return out


def load_pack(pack: Path, threads: int) -> tuple[dict, dict, dict]:
    from app.core.fold.parts import open_parts

    growth = part_load_growth(pack, threads)
    parts = open_parts(pack, threads)
    arch = parts.architecture
    stages = {p: (lambda feeds, p=p: parts.run(p, feeds)) for p in STAGES}
    dims = {"c_s": arch["c_s"], "c_z": arch["c_z"], "c_sm": arch["c_sm"]}
    stages["release"] = arena_release(parts.sessions, dims)
    return stages, dims, {"weight_bytes": parts.weight_bytes, "part_load_growth_kb": growth}


def arena_release(sessions: dict, dims: dict) -> Callable[[], None]:
    """A callable that shrinks every session's memory arena (one 2-residue run with arena shrinkage on)."""
    import onnxruntime as ort

    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    feeds = stage_inputs(2, **dims)

    def release() -> None:
        for name in STAGES:
            sessions[name].run(None, feeds[name], opts)
        reset_peak()
    return release


def reset_peak() -> bool:
    """Return freed heap to the OS and reset VmHWM to the current RSS; False where Linux does not allow it."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_stages(stages: dict[str, Stage], feeds: dict[str, dict[str, np.ndarray]]) -> dict:
    out: dict[str, dict] = {"seconds": {}, "peak_kb": {}, "start_kb": {}, "peak_reset": True}
    for name in STAGES:
        out["peak_reset"] &= reset_peak()
        out["start_kb"][name] = memory_kb().get("vmrss_kb")
        t = time.perf_counter()
        stages[name](feeds[name])
        out["seconds"][name] = time.perf_counter() - t
        out["peak_kb"][name] = memory_kb().get("vmhwm_kb")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fold_worker")
    p.add_argument("--torch-preset", help="time the torch fp32 model of this bench preset")
    p.add_argument("--lm-layers", type=int, default=2)
    p.add_argument("--trunk-blocks", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pack", type=Path, help="time this folding pack through onnxruntime")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.torch_preset:  # libraries first: the RSS growth at load is then the model's own
        import exporter.esmfold.trunk  # noqa: F401  (torch, transformers)
    else:
        import app.core.fold.parts  # noqa: F401  (onnxruntime)
    before = memory_kb()
    t0 = time.perf_counter()
    if args.torch_preset:
        stages, dims, extra = load_torch(args.torch_preset, args.lm_layers, args.trunk_blocks, args.seed, args.threads)
    else:
        stages, dims, extra = load_pack(args.pack, args.threads)
    after = memory_kb()
    print(json.dumps({"ready": True, "backend": "torch" if args.torch_preset else "onnxruntime",
                      "load_seconds": time.perf_counter() - t0, "rss_before_load_kb": before.get("vmrss_kb"),
                      "rss_after_load_kb": after.get("vmrss_kb"), "load_peak_kb": after.get("vmhwm_kb"), **extra}),
          flush=True)
    cache: dict[int, dict] = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            print(json.dumps(memory_kb()), flush=True)
            return 0
        length = int(req["length"])
        if length not in cache:
            cache.clear()
            cache[length] = stage_inputs(length, **dims)
        result = run_stages(stages, cache[length])
        if req.get("release"):  # give memory back before the other variants run
            stages.get("release", reset_peak)()
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
