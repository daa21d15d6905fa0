"""`python -m app fold`: the fold command and its parser, apart from app.cli so that the score and
embed commands and the fold command can change without touching each other."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_common import CliError, ProgressLine, printable as _printable, read_records as _records
from .core.batch_queue import DONE, FAILED, STATE_FILE, SUMMARY_FILE, WAITING, Batch, BatchError, Entry, PackRef, \
    has_batch
from .core.batch_run import failure_reason, fold_item, pack_ref
from .core.exit_codes import FAILED as FAILED_EXIT, INTERRUPTED
from .core.outputs import prepare_dir
from .core.pack import find_packs, load_pack, user_packs_dir


def cmd_fold(args: argparse.Namespace) -> int:
    """Fold every record with a folding pack; OUT/<id>.pdb, .cif, .json, .pae.json per record, each written
    atomically, and the batch state and summary after every record (app.core.batch_queue)."""
    from .core.fold.memory import check_memory
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
            raise CliError(f"record {rec.id!r}: {e}", FAILED_EXIT) from None
    prepare_dir(args.out)
    batch = _fold_batch(args, records, pack_ref(pack.path, pack.name, pack.scheme))
    progress = ProgressLine(interval=0.0)
    todo = [i for i in batch.items if i.status == WAITING]
    for n, item in enumerate(todo, 1):
        progress.prefix = f"[{n}/{len(todo)} {item.record_id}, {item.length} aa] "
        batch.start(item)
        try:
            outcome = fold_item(parts, batch.packs["fold"], item, args.out, args.recycles, progress)
        except KeyboardInterrupt:
            item.status = WAITING
            batch.save()
            print(f"error: interrupted; {batch.counts()[DONE]} of {len(batch.items)} record(s) written to "
                  f"{args.out}, no partial file; add --resume to continue", file=sys.stderr)
            return INTERRUPTED
        except Exception as e:  # noqa: BLE001 - one record's failure is recorded, the others go on
            batch.fail(item, failure_reason(e))
            batch.save()
            print(f"error: record {_printable(item.record_id)!r}: {failure_reason(e)}", file=sys.stderr)
            continue
        batch.finish(item, outcome.outputs, outcome.seconds, outcome.method, outcome.mean_plddt, outcome.ptm)
        batch.save()  # after every record: --resume skips it from now on
        print(f"{_printable(item.record_id)}: mean pLDDT {outcome.mean_plddt:.1f}, pTM {outcome.ptm:.3f} -> "
              f"{Path(args.out) / item.stem}.pdb/.cif/.json", file=sys.stderr)
    failed = batch.counts()[FAILED]
    print(f"wrote structures of {batch.counts()[DONE]} of {len(batch.items)} record(s) to {args.out}; "
          f"summary {Path(args.out) / SUMMARY_FILE}", file=sys.stderr)
    return FAILED_EXIT if failed else 0


def _fold_batch(args: argparse.Namespace, records: list, ref: PackRef) -> Batch:
    """The batch of this run, saved in OUT; with --resume, the records OUT already holds are done."""
    batch = Batch.create(args.out, [Entry(r.id, r) for r in records], {"fold": ref},
                         {"recycles": args.recycles}, source=str(args.fasta))
    if args.resume and has_batch(args.out):
        try:
            skipped = batch.carry_over(Batch.load(args.out))
        except BatchError as e:
            raise CliError(str(e)) from None
        print(f"resuming: {skipped} of {len(records)} record(s) already folded in {args.out} are skipped",
              file=sys.stderr)
    elif args.resume:
        print(f"note: no batch state ({STATE_FILE}) in {args.out}; folding every record", file=sys.stderr)
    batch.save()
    return batch


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
    f.add_argument("--resume", action="store_true",
                   help=f"continue a batch in OUT: records already folded there (same id, sequence and "
                   f"pack, listed in OUT/{STATE_FILE}) are skipped. Every run writes OUT/{SUMMARY_FILE} "
                   f"(record, length, model, scheme, pack sha256, mean pLDDT, pTM, outputs, status)")
    f.set_defaults(func=cmd_fold)
