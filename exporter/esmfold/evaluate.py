"""`python -m exporter evaluate-fold WEIGHTS --structures DIR`: TM-score per scheme vs experiment and vs fp32.

For each experimental structure (first protein chain of each .pdb / .cif in DIR, residues with a
CA atom), the observed sequence is folded by the torch fp32 model (the "fp32 prediction") and by
every scheme's folding pack as the app runs it. TM-scores come from TM-align (tmtools),
normalised by the reference's length.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.alphabet import AF2_RESTYPES
from app.core.exit_codes import INTERRUPTED, exit_code

from packbuild.sequences import DEFAULT_CALIBRATION, read_sequences

from ..scheme_options import parse_schemes
from .export import FoldExporter, FoldExportOptions, torch_fold
from .metrics import tm_score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    name: str
    sequence: str
    ca: np.ndarray  # (L, 3)


def read_target(path: Path) -> Target:
    """Sequence and CA coordinates of the first protein chain of the first model (gemmi reads PDB and mmCIF)."""
    import gemmi

    st = gemmi.read_structure(str(path))
    st.setup_entities()
    for chain in st[0]:
        residues = [r for r in chain if r.find_atom("CA", "*") is not None and gemmi.find_tabulated_residue(r.name)
                    and gemmi.find_tabulated_residue(r.name).is_amino_acid()]
        if residues:
            seq = "".join(c if c in AF2_RESTYPES else "X"
                          for c in (gemmi.find_tabulated_residue(r.name).one_letter_code.upper() for r in residues))
            ca = np.array([r.find_atom("CA", "*").pos.tolist() for r in residues], dtype=np.float64)
            return Target(path.stem, seq, ca)
    raise ValueError(f"{path}: no protein chain with CA atoms")


def read_targets(directory: Path, max_length: int | None) -> list[Target]:
    files = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in (".pdb", ".cif", ".ent"))
    if not files:
        raise FileNotFoundError(f"{directory}: no .pdb or .cif structures")
    targets = [read_target(p) for p in files]
    kept = [t for t in targets if max_length is None or len(t.sequence) <= max_length]
    log.info("%d of %d structures within %s residues", len(kept), len(targets), max_length)
    if not kept:
        raise ValueError(f"{directory}: no structure has <= {max_length} residues")
    return kept


def evaluate(model, targets: list[Target], schemes: list[str], calibration: list[str], out_dir: Path,
             options: FoldExportOptions, progress=None) -> dict:
    """{"schemes": {scheme: {"tm_vs_experiment", "tm_vs_fp32", "mean_plddt"}}, "targets": [...]} (means)."""
    from app.core.fold.driver import fold
    from app.core.fold.parts import open_parts

    refs = [torch_fold(model, t.sequence, options.num_recycles) for t in targets]
    per_target = [{"name": t.name, "length": len(t.sequence),
                   "fp32_torch": {"tm_vs_experiment": tm_score(r["atom37"][:, 1], t.sequence, t.ca, t.sequence),
                                  "mean_plddt": float(r["plddt"].mean())}} for t, r in zip(targets, refs)]
    exporter = FoldExporter(model, "evaluate", calibration, options, progress)
    for scheme in schemes:
        parts = open_parts(exporter.export(scheme, out_dir / scheme).path, options.threads)
        for row, t, r in zip(per_target, targets, refs):
            res = fold(parts, t.sequence, options.num_recycles, record=t.name)
            ca = res.atom37[:, 1]
            row[scheme] = {"tm_vs_experiment": tm_score(ca, t.sequence, t.ca, t.sequence),
                           "tm_vs_fp32": tm_score(ca, t.sequence, r["atom37"][:, 1], t.sequence),
                           "mean_plddt": float(res.residue_plddt.mean())}
    summary = {}
    for scheme in ["fp32_torch", *schemes]:
        keys = per_target[0][scheme].keys()
        summary[scheme] = {k: round(float(np.mean([row[scheme][k] for row in per_target])), 4) for k in keys}
    return {"n_targets": len(targets), "num_recycles": options.num_recycles, "schemes": summary,
            "targets": per_target}


def format_table(report: dict) -> str:
    head = f"{'scheme':<13} {'TM vs experiment':>17} {'TM vs fp32':>11} {'mean pLDDT':>11}"
    rows = [head, "-" * len(head)]
    for scheme, s in report["schemes"].items():
        rows.append(f"{scheme:<13} {s['tm_vs_experiment']:>17.4f} {s.get('tm_vs_fp32', 1.0):>11.4f} "
                    f"{s['mean_plddt']:>11.2f}")
    return "\n".join(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exporter evaluate-fold", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="ESMFold checkpoint (HuggingFace dir, fair-esm esmfold .pt, or esmfold_v1)")
    p.add_argument("--structures", required=True, type=Path, help="directory of experimental .pdb/.cif files")
    p.add_argument("--schemes", default="fp32,int8,pwlq8,dynamic-int8")
    p.add_argument("--max-length", type=int, default=None, help="skip structures longer than this")
    p.add_argument("--recycles", type=int, default=None, help="recycles (default: the model's max_recycles)")
    p.add_argument("--calibration", type=Path, default=DEFAULT_CALIBRATION)
    p.add_argument("--calibration-size", type=int, default=16)
    p.add_argument("--max-calibration-residues", type=int, default=256)
    p.add_argument("--esm-weights", type=Path, default=None, help="ESM-2 .pt for a fair-esm ESMFold checkpoint")
    p.add_argument("--out", type=Path, default=None, help="keep the packs here (default: a temporary directory)")
    p.add_argument("--json", type=Path, default=None, help="write the full report (per target) here")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--chunk-size", type=int, default=None,
                   help="rows per triangle-attention chunk in the packs (0: unchunked; default: the checkpoint's)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        from .cli import chunk_size
        from .loaders import load_folding

        schemes = parse_schemes(args.schemes, "esmfold")
        targets = read_targets(args.structures, args.max_length)
        model = load_folding(args.weights, args.esm_weights)
        options = FoldExportOptions(calibration_size=args.calibration_size,
                                    max_residues=args.max_calibration_residues, num_recycles=args.recycles,
                                    threads=args.threads, calibration_source=str(args.calibration),
                                    chunk_size=chunk_size(args, model))
        with tempfile.TemporaryDirectory(prefix="evaluate-fold-") as tmp:
            report = evaluate(model, targets, schemes, read_sequences(args.calibration), args.out or Path(tmp),
                              options)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)  # USAGE
    print(f"{report['n_targets']} structures from {args.structures}; TM-score normalised by the reference length")
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
