"""`python -m app fold`: the fold command and its parser, apart from app.cli so that the score and
embed commands and the fold command can change without touching each other."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_common import CliError, ProgressLine, printable as _printable, read_records as _records
from .core.exit_codes import FAILED, INTERRUPTED
from .core.outputs import prepare_dir, safe_stem
from .core.pack import find_packs, load_pack, user_packs_dir
from .core.provenance import Provenance


def cmd_fold(args: argparse.Namespace) -> int:
    """Fold every record with a folding pack; OUT/<id>.pdb, .cif, .json per record, each written atomically."""
    from .core.fold.driver import fold
    from .core.fold.memory import check_memory
    from .core.fold.outputs import fold_method, write_fold_outputs
    from .core.fold.parts import open_parts
    from .core.fold.residues import encode

    if args.recycles is not None and args.recycles < 0:
        raise CliError("--recycles must be >= 0")
    pack_dir = Path(args.model).expanduser() if args.model else _installed_folding_pack()
    records = _records(args.fasta)
    pack = load_pack(pack_dir, verify=True)
    if pack.task != "folding":
        raise CliError(f"{pack.path}: a {pack.task!r} pack; folding needs an ESMFold pack (task 'folding')")
    parts = open_parts(pack.path, threads=args.threads)
    for rec in records:  # refuse before any work: bad letters, or a length that does not fit in memory
        encode(rec.sequence, rec.id)
        try:
            check_memory(parts.architecture, len(rec.sequence), parts.weight_bytes)
        except MemoryError as e:
            raise CliError(f"record {rec.id!r}: {e}", FAILED) from None
    prepare_dir(args.out)
    progress = ProgressLine(interval=0.0)
    stems: set[str] = set()
    done = 0
    try:
        for n, rec in enumerate(records, 1):
            stem, k = safe_stem(rec.id), 2
            while stem in stems:
                stem, k = f"{safe_stem(rec.id)}_{k}", k + 1
            stems.add(stem)
            progress.prefix = f"[{n}/{len(records)} {rec.id}, {len(rec)} aa] "
            result = fold(parts, rec.sequence, num_recycles=args.recycles, progress=progress, record=rec.id)
            write_fold_outputs(result, args.out, stem, rec.id,
                               Provenance.of_pack(pack.path, fold_method(result), pack.name, pack.scheme))
            done += 1
            print(f"{_printable(rec.id)}: mean pLDDT {result.residue_plddt.mean():.1f}, pTM {result.ptm:.3f} -> "
                  f"{Path(args.out) / stem}.pdb/.cif/.json", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"error: interrupted; {done} of {len(records)} record(s) written to {args.out}, no partial file",
              file=sys.stderr)
        return INTERRUPTED
    print(f"wrote structures of {len(records)} record(s) to {args.out}", file=sys.stderr)
    return 0


def _installed_folding_pack() -> Path:
    """The first usable installed pack of task 'folding' (app.core.pack.find_packs), named on stderr."""
    usable = [i for i in find_packs() if i.ok and i.task == "folding"]
    if not usable:
        raise CliError(f"no folding pack (task 'folding') is installed in {user_packs_dir()}; "
                       f"pass --model PACK, an ESMFold pack directory (python -m exporter ESMFOLD ...)")
    print(f"using the installed folding pack {usable[0].name} ({usable[0].path})", file=sys.stderr)
    return usable[0].path


def add_fold_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `fold` on the CLI's subparsers; `common` holds --model, --fasta and --threads."""
    f = sub.add_parser("fold", parents=[common], help="predict structures with an ESMFold pack: "
                       "OUT/<id>.pdb, .cif and .json (pLDDT, pTM, PAE) per record")
    f.add_argument("--out", required=True, metavar="DIR", help="output directory (created "
                   "if missing; its parent must exist)")
    f.add_argument("--recycles", type=int, default=None, metavar="N",
                   help="recycling iterations (default: the pack's max_recycles, as ESMFold)")
    f.set_defaults(func=cmd_fold)
