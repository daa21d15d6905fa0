"""The >2 GB export path at ESMFold's real size: a full 48-block trunk (random weights) into a folding pack.

A real ESMFold checkpoint cannot be downloaded here, so this exercises the code path a user with the
weights takes, at the real trunk size (about 690M parameters, 2.7 GB fp32): trace the trunk into a
file with external data, write the pack (trunk.onnx + trunk.onnx.data), open it with the app's
loader and compare with torch: the trunk part on random inputs (SQNR) and a whole fold
(CA RMSD, max all-atom deviation). The language model is ESM-2-3B-wide but shallow (--lm-layers):
its own >2 GB path is the ESM-2 one, already used for ESM-2 650M (2.6 GB). With --scheme int8 or
pwlq8 the pack is calibrated (assets/calibration, length-uniform) and quantized at that size too.

    python -m bench.export_fullsize --work bench/.work/fullsize --length 32 [--chunk-size 16] [--scheme int8]
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from .common import CALIBRATION, emit, memory_kb, utc_now
from .fold_packs import ESMFOLD_V1


def build(lm_layers: int, trunk_blocks: int):
    from exporter.esmfold.model import esmfold_config, tiny_esmfold

    cfg = esmfold_config(esm={**ESMFOLD_V1["esm"], "num_hidden_layers": lm_layers},
                         trunk={**ESMFOLD_V1["trunk"], "num_blocks": trunk_blocks},
                         structure=ESMFOLD_V1["structure"], lddt_head_hid_dim=ESMFOLD_V1["lddt_head_hid_dim"])
    return tiny_esmfold(seed=0, config=cfg)


def trunk_sqnr(model, parts, length: int) -> float:
    """SQNR (dB) of the pack's trunk against torch TrunkPass on random inputs of `length` residues."""
    import torch

    from exporter.esmfold.parts import example_inputs, wrapper
    from packbuild.metrics import sqnr_db

    feeds = example_inputs(model, "trunk", length=length, seed=1)
    with torch.no_grad():
        ref = wrapper(model, "trunk")(*feeds.values())
    got = parts.run("trunk", {k: v.numpy() for k, v in feeds.items()})
    return min(sqnr_db(r.numpy(), got[n]) for n, r in zip(("s_s", "s_z"), ref))


def write_pack(model, args: argparse.Namespace) -> Path:
    """fp32: the parts as exported; otherwise calibrated and quantized by the exporter's FoldExporter."""
    from exporter.esmfold.export import FoldExporter, FoldExportOptions
    from exporter.esmfold.pack import write_folding_pack
    from packbuild.sequences import read_sequences

    out = Path(args.work) / args.scheme
    if args.scheme == "fp32":
        return write_folding_pack(model, out, "esmfold-v1-size-random", chunk_size=args.chunk_size)
    options = FoldExportOptions(calibration_size=args.calibration_size, max_residues=args.calibration_residues,
                                num_recycles=1, threads=args.threads, chunk_size=args.chunk_size,
                                calibration_source=str(CALIBRATION))
    exporter = FoldExporter(model, "esmfold-v1-size-random", read_sequences(CALIBRATION), options)
    return exporter.export(args.scheme, out).path


def run(args: argparse.Namespace) -> dict:
    from app.core.fold.driver import fold
    from app.core.fold.parts import open_parts
    from exporter.esmfold.export import compare, torch_fold

    from .sequences import random_sequence

    t0 = time.perf_counter()
    model = build(args.lm_layers, args.trunk_blocks)
    trunk_params = sum(p.numel() for p in model.trunk.parameters()) - sum(
        p.numel() for p in model.trunk.structure_module.parameters())
    t_build = time.perf_counter() - t0
    pack = write_pack(model, args)
    t_export = time.perf_counter() - t0 - t_build
    files = {p.name: p.stat().st_size for p in sorted(pack.iterdir())}
    parts = open_parts(pack, threads=args.threads)
    seq = random_sequence(args.length, seed=args.length)
    t1 = time.perf_counter()
    result = fold(parts, seq, num_recycles=0)
    t_fold = time.perf_counter() - t1
    metrics = compare(result, torch_fold(model, seq, 0), seq)
    return {"when": utc_now(), "scheme": args.scheme, "lm_layers": args.lm_layers, "trunk_blocks": args.trunk_blocks,
            "trunk_parameters": int(trunk_params), "chunk_size": args.chunk_size, "length": args.length,
            "build_s": round(t_build, 1), "export_s": round(t_export, 1), "ort_fold_s": round(t_fold, 1),
            "files_bytes": files, "trunk_sqnr_db": round(trunk_sqnr(model, parts, args.length), 1),
            **{k: round(v, 5) for k, v in metrics.items()}, "peak_rss_mb": memory_kb()["vmhwm_kb"] / 1024}


def markdown(r: dict) -> str:
    files = ", ".join(f"{k} {v / 1e9:.3f} GB" for k, v in r["files_bytes"].items() if v > 1e6)
    return "\n".join([
        f"# Full-size trunk export, {r['scheme']} ({r['when']})", "",
        f"Trunk {r['trunk_blocks']} blocks, {r['trunk_parameters'] / 1e6:.0f}M parameters, random weights; "
        f"LM ESM-2 3B width x {r['lm_layers']} layers; chunk size {r['chunk_size']}.", "",
        "| step | result |", "|---|---|",
        f"| build model (torch) | {r['build_s']} s |",
        f"| export pack (trace to file, external data; {r['scheme']}) | {r['export_s']} s; {files} |",
        f"| trunk part vs torch, L={r['length']} | SQNR {r['trunk_sqnr_db']} dB |",
        f"| fold, 1 pass, L={r['length']}: onnxruntime | {r['ort_fold_s']} s |",
        f"| fold vs torch fp32 | CA RMSD {r['ca_rmsd']:.4f} A, max atom deviation {r['max_atom_deviation']:.4f} A, "
        f"TM {r['tm_score']:.4f} |",
        f"| peak RSS of this process | {r['peak_rss_mb']:.0f} MB |"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.export_fullsize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="bench/.work/fullsize", help="where the pack is written (about 2.9 GB)")
    p.add_argument("--lm-layers", type=int, default=1)
    p.add_argument("--trunk-blocks", type=int, default=ESMFOLD_V1["trunk"]["num_blocks"])
    p.add_argument("--length", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--scheme", choices=("fp32", "int8", "pwlq8", "dynamic-int8"), default="fp32")
    p.add_argument("--calibration-size", type=int, default=4, help="calibration sequences (quantized schemes)")
    p.add_argument("--calibration-residues", type=int, default=64, help="calibration sequences cropped to this")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    r = run(args)
    emit(markdown(r), r, args.json, args.md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
