"""How closely folding packs agree with a reference pack: the same sequences folded through the app's driver.

For graph changes that must not move the numbers (issue 13 section 4's faster trunk), fold a few
held-out sequences, cropped to --lengths, with every pack (app.core.fold.driver.fold, the pack's
own recycling) and compare each with the reference (the first --pack, e.g. the fp32 pack of the
same model): CA RMSD and max all-atom deviation after superposition, TM-score, mean |pLDDT| delta
and the distogram logits' SQNR (dB). Later packs are also compared with the second one directly.

    python -m bench.fold_agreement --pack fp32=DIR --pack before=DIR --pack after=DIR --lengths 64,128
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .common import HELDOUT, emit, load_average, md_table, utc_now
from .fold_trunk_profile import named_packs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fold_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", action="append", required=True, metavar="NAME=DIR",
                   help="a folding pack, repeatable; the first is the reference")
    p.add_argument("--fasta", type=Path, default=HELDOUT)
    p.add_argument("--lengths", default="64,128", help="crop lengths; one sequence per length and --per-length")
    p.add_argument("--per-length", type=int, default=1)
    p.add_argument("--num-recycles", type=int, default=None, help="default: the pack's max_recycles passes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    return p.parse_args(argv)


def pick_sequences(fasta: Path, lengths: list[int], per_length: int) -> list[str]:
    """The first `per_length` records at least L long, cropped to L, for each L."""
    from app.core.fasta import parse_fasta

    records = [r.sequence for r in parse_fasta(fasta.read_text(), str(fasta))]
    out = []
    for L in lengths:
        chosen = [s[:L] for s in records if len(s) >= L][:per_length]
        if not chosen:
            raise ValueError(f"{fasta}: no record of at least {L} residues")
        out += chosen
    return out


def agreement(result, ref, sequence: str) -> dict:
    from exporter.esmfold.metrics import superposed_deviation, tm_score
    from packbuild.metrics import sqnr_db

    rmsd, dev = superposed_deviation(result.atom37, ref.atom37, ref.atom37_mask)
    return {"ca_rmsd": rmsd, "max_atom_deviation": dev,
            "tm_score": tm_score(result.atom37[:, 1], sequence, ref.atom37[:, 1], sequence),
            "plddt_delta": float(np.abs(result.residue_plddt - ref.residue_plddt).mean()),
            "distogram_sqnr_db": float(sqnr_db(ref.distogram_logits, result.distogram_logits))}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        packs = named_packs(args.pack)
        sequences = pick_sequences(args.fasta, [int(x) for x in args.lengths.split(",") if x], args.per_length)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from app.core.fold.driver import fold
    from app.core.fold.parts import open_parts

    folds = {}
    for name, path in packs.items():  # one pack open at a time: the 3B-wide LM parts are large
        parts = open_parts(path, args.threads)
        folds[name] = [fold(parts, s, args.num_recycles) for s in sequences]
        del parts
    names = list(packs)
    pairs = [(n, names[0]) for n in names[1:]] + [(n, names[1]) for n in names[2:]]
    rows = [{"pack": n, "against": ref, "L": len(s), **agreement(folds[n][i], folds[ref][i], s)}
            for n, ref in pairs for i, s in enumerate(sequences)]
    keys = ("ca_rmsd", "max_atom_deviation", "tm_score", "plddt_delta", "distogram_sqnr_db")
    text = "\n".join([f"{utc_now()}; 1-min load average {load_average():.2f}; sequences from {args.fasta}; "
                      f"num_recycles {args.num_recycles}", "",
                      "Packs: " + "; ".join(f"{n} = {p}" for n, p in packs.items()), "",
                      md_table(["pack", "against", "L", *keys], [[r["pack"], r["against"], r["L"], *(r[k] for k in keys)]
                                                               for r in rows], 4)])
    emit(text, {"packs": {n: str(p) for n, p in packs.items()}, "sequences": sequences, "rows": rows,
                "command": "python -m bench.fold_agreement " + " ".join(argv)}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
