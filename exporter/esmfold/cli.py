"""`python -m exporter ESMFOLD ...`: folding packs per scheme, verified against torch, with a printed table."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from packbuild.sequences import read_sequences, stratified

from ..results_table import results_table

# Folding runs the L^3 trunk several times per sequence: smaller defaults than ESM-2's 64 / 16 / 400.
FOLD_DEFAULTS = {"calibration_size": 16, "verify_size": 4, "max_verify_residues": 256}


FOLD_COLUMNS = (("CA RMSD A", "ca_rmsd", 10, 3), ("max dev A", "max_atom_deviation_max", 10, 3),
                ("TM vs fp32", "tm_score", 11, 4), ("dpLDDT", "plddt_delta", 7, 2), ("dpTM", "ptm_delta", 7, 4))


def format_table(results) -> str:
    return results_table(results, FOLD_COLUMNS)


def option(args: argparse.Namespace, name: str):
    value = getattr(args, name, None)
    return FOLD_DEFAULTS[name] if value is None else value


def chunk_size(args: argparse.Namespace, model) -> int | None:
    """--chunk-size N (0: unchunked); without it, the checkpoint's own trunk.chunk_size, as the reference runs."""
    value = getattr(args, "chunk_size", None)
    if value is None:
        value = getattr(model.trunk, "chunk_size", None)
    if value is not None and value < 0:
        raise ValueError(f"--chunk-size must be >= 0 (0: unchunked), got {value}")
    return value or None


def run_folding(args: argparse.Namespace, progress=None) -> int:
    """The folding branch of exporter.cli.run (same arguments; see its --help)."""
    from ..scheme_options import parse_schemes, scheme_config
    from .export import FoldExporter, FoldExportOptions
    from .loaders import load_folding

    configs = [scheme_config(n, args.observer, getattr(args, "pwlq_split", None), getattr(args, "placement", None),
                             family="esmfold") for n in parse_schemes(args.schemes, "esmfold")]
    max_res = option(args, "max_verify_residues")
    calibration = read_sequences(args.calibration)
    heldout = stratified(read_sequences(args.verify), option(args, "verify_size"), max_res, seed=1)
    print(f"loading ESMFold {args.model} ...", file=sys.stderr)
    model = load_folding(args.model, getattr(args, "esm_weights", None))
    name = args.name or Path(args.model).name.removesuffix(".pt")
    options = FoldExportOptions(calibration_size=option(args, "calibration_size"), max_residues=max_res,
                                verify_sequences=heldout, num_recycles=getattr(args, "recycles", None),
                                threads=args.threads, chunk_size=chunk_size(args, model),
                                calibration_source=str(args.calibration), license=args.license,
                                credits=args.credits)
    print("exporting the four ONNX parts ...", file=sys.stderr)
    exporter = FoldExporter(model, name, calibration, options, progress)
    results = []
    for config in configs:
        print(f"exporting {config.name} ...", file=sys.stderr)
        results.append(exporter.export(config, Path(args.out) / config.name))
    recycles = "max" if options.num_recycles is None else options.num_recycles
    print(f"\n{name}: folded {len(heldout)} held-out sequences (<= {max_res} residues, recycles={recycles}) "
          f"with each pack and with the torch fp32 model")
    print(format_table(results))
    return 0
