"""Held-out masked-token perplexity of model packs, side by side, through the app's runtime.

    python -m bench.perplexity PACK [PACK ...] [--fasta assets/calibration/swissprot_heldout_32.fasta]

Each sequence (cropped to the model window) gets `--copies` masked copies with 15% of its residues
replaced by <mask> (the same seeded positions for every pack); perplexity is exp of the mean
cross-entropy over the masked positions, from a log-softmax over the full vocabulary.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .common import HELDOUT, cpu_info, emit, md_table, utc_now


def read_fasta(path: Path) -> list[str]:
    from app.core.fasta import read_fasta as app_read

    return [r.sequence for r in app_read(path)]


def masked_copies(n_residues: int, copies: int, rng: np.random.Generator, rate: float = 0.15) -> list[np.ndarray]:
    """`copies` arrays of residue positions (0-based) to mask, each about `rate` of the sequence."""
    k = max(1, int(round(rate * n_residues)))
    return [np.sort(rng.choice(n_residues, size=k, replace=False)) for _ in range(copies)]


def perplexity(pack_dir: Path, sequences: list[str], copies: int, seed: int, threads: int) -> dict:
    from app.core.pack import load_pack
    from app.core.runtime import Esm2Runtime
    from app.core.scoring import log_softmax

    pack = load_pack(pack_dir)
    rt = Esm2Runtime(pack, threads=threads)
    tok = rt.tokenizer
    mask_id = int(pack.manifest["alphabet"]["mask_idx"])
    window = int(pack.manifest["architecture"]["max_tokens"]) - 2
    rng = np.random.default_rng(seed)
    total, count = 0.0, 0
    for seq in sequences:
        seq = seq[:window]
        base = tok.encode(seq)  # BOS + residues + EOS
        for pos in masked_copies(len(seq), copies, rng):
            tokens = base.copy()[None, :]
            tokens[0, pos + 1] = mask_id
            lp = log_softmax(rt.run(tokens, ("logits",))["logits"][0].astype(np.float64))
            total -= float(lp[pos + 1, base[pos + 1]].sum())
            count += len(pos)
    return {"pack": pack.manifest.get("name", pack_dir.name), "scheme": pack.manifest.get("scheme"),
            "masked_tokens": count, "perplexity": float(np.exp(total / count))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perplexity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("packs", nargs="+", type=Path)
    p.add_argument("--fasta", type=Path, default=HELDOUT, help="held-out sequences (default: the shipped 32)")
    p.add_argument("--copies", type=int, default=4, help="masked copies per sequence")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--md", type=Path)
    args = p.parse_args(argv)
    seqs = read_fasta(args.fasta)
    rows = [perplexity(pk, seqs, args.copies, args.seed, args.threads) for pk in args.packs]
    text = (f"Held-out masked-token perplexity ({len(seqs)} sequences of {args.fasta.name}, {args.copies} "
            f"masked copies each, 15% masked; {utc_now()}; {cpu_info()})\n\n" +
            md_table(["pack", "scheme", "masked tokens", "perplexity"],
                     [[r["pack"], r["scheme"], r["masked_tokens"], r["perplexity"]] for r in rows], 3))
    emit(text, {"rows": rows, "fasta": args.fasta.name, "copies": args.copies, "seed": args.seed}, args.json, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
