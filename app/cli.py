"""Headless command line: `python -m app score ...`, `python -m app embed ...`, `python -m app fold ...`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from .cli_common import CliError, ProgressLine, printable as _printable, read_records as _records
from .cli_fold import add_fold_parser
from .cli_models import add_parser as add_models_parser
from .core.exit_codes import FAILED, INTERRUPTED, exit_code
from .core.fasta import MAX_SCORE_RESIDUES, FastaError, Record, check_lengths, decode_text
from .core.jobs import Cancelled
from .core.mutants import MutantError, parse_mutant, parse_mutant_text
from .core.outputs import check_writable, prepare_dir
from .core.pack import Pack, PackError, default_pack_dir, load_pack
from .core.provenance import Provenance
from .core.runtime import Esm2Runtime, InferenceError
from .core.scoring import METHODS, not_scored_positions
from .core.tokenizer import Tokenizer

if TYPE_CHECKING:
    from .batch_command import Options


def _load(model: Optional[str]) -> Pack:
    path = Path(model).expanduser() if model else default_pack_dir()
    if model is None and not path.is_dir():
        raise CliError(f"the embedded default pack is not installed at {path}; "
                       f"pass --model PACK_DIR")
    return load_pack(path, verify=True)


def _mutant_codes(arg: str) -> list[str]:
    """--mutants: a file (CSV with a `mutant` column, or one code per line) or 'A1G,K4R:L5A'."""
    path = Path(arg).expanduser()
    try:
        is_file = bool(arg) and path.is_file()
    except OSError:  # e.g. a long mutant list is too long a file name
        is_file = False
    try:
        text = decode_text(path.read_bytes(), str(path), "mutant file") if is_file else arg
    except FastaError as e:
        raise CliError(str(e)) from None
    codes = parse_mutant_text(text)
    if not codes:
        raise CliError(f"--mutants {arg!r}: no mutant codes found (give a list such as "
                       f"'A23G,K40R' or a file; omit --mutants to score every substitution)")
    return codes


def _directory_out(out: str) -> bool:
    """`--out` names a directory (shards, summary.csv, merged scores.csv) unless it ends in .csv."""
    return not str(out).lower().endswith(".csv")


def _batch_options(args: argparse.Namespace, to_dir: bool) -> "Options":
    from .batch_command import Options

    scheduler = getattr(args, "scheduler", None)
    for flag, given in (("--resume", args.resume), ("--scheduler", scheduler)):
        if given and not to_dir:
            raise CliError(f"{flag} needs --out DIR (a directory of shards), not the single file {args.out}")
    if scheduler:
        from .core.distributed import import_distributed

        try:
            import_distributed()
        except ImportError as e:
            raise CliError(str(e)) from None
    return Options(args.token_budget, args.chunk, args.resume, scheduler, args.threads, args.ship_pack)


def _run_batch(args: argparse.Namespace, pack: Pack, work, records: list[Record], provenance: Provenance,
               out: Path, options) -> int:
    """Run a directory-form batch; a summary is left behind whatever happens."""
    from .batch_command import describe, run_to_dir, stderr_report

    runtime = None if options.scheduler else Esm2Runtime(pack, threads=args.threads)
    progress = ProgressLine()
    try:
        outcome = run_to_dir(runtime, pack.path, work, records, out, provenance, options, progress,
                             stderr_report)
    except KeyboardInterrupt:
        progress.close()
        print(f"error: interrupted; finished chunks are in {out} (summary.csv); rerun with --resume to "
              f"compute only the rest", file=sys.stderr)
        return INTERRUPTED
    progress.close()
    print(describe(outcome, out, work.kind), file=sys.stderr)
    return FAILED if outcome.counts.get("failed") else 0


def cmd_score(args: argparse.Namespace) -> int:
    from .batch_command import run_to_csv, stderr_report
    from .core.batch_jobs import ScoreWork

    records = _records(args.fasta)
    check_lengths(records, MAX_SCORE_RESIDUES, "score")
    codes = _mutant_codes(args.mutants) if args.mutants is not None else None
    if codes is not None:  # check every code against every record before any work
        for rec in records:
            for code in codes:
                try:
                    parse_mutant(code, rec.sequence)
                except MutantError as e:
                    raise CliError(f"record {rec.id!r}: {e}") from None
    to_dir = _directory_out(args.out)
    options = _batch_options(args, to_dir)
    out = prepare_dir(args.out) if to_dir else check_writable(args.out)  # a bad --out: now, not after the work
    pack = _load(args.model)
    provenance = Provenance.of_pack(pack.path, args.method, pack.name, pack.scheme)
    work = ScoreWork(args.method, codes, args.batch_size)
    if to_dir:
        rc = _run_batch(args, pack, work, records, provenance, out, options)
    else:
        progress = ProgressLine()
        outcome = run_to_csv(Esm2Runtime(pack, threads=args.threads), work, records, out, provenance,
                             options, progress, stderr_report)
        progress.close()
        print(f"wrote {outcome.rows} scores for {outcome.counts.get('done', 0)} record(s) to {args.out} "
              f"(provenance: {args.out}.json)", file=sys.stderr)
        rc = FAILED if outcome.counts.get("failed") else 0
    for rec in records:
        if not_scored_positions(rec.sequence):
            shown = ", ".join(map(str, not_scored_positions(rec.sequence)[:10]))
            print(f"note: record {_printable(rec.id)!r}: positions {shown}"
                  f"{', ...' if len(not_scored_positions(rec.sequence)) > 10 else ''} have a "
                  f"non-standard residue (X, B, Z, U, O); their substitutions are not scored "
                  f"and not written", file=sys.stderr)
    return rc


def cmd_embed(args: argparse.Namespace) -> int:
    from .core.batch_jobs import EmbedWork

    records = _records(args.fasta)
    options = _batch_options(args, True)
    pack = _load(args.model)
    max_residues = pack.max_tokens - Tokenizer(pack.alphabet).n_special
    check_lengths(records, max_residues, "embed (one model window, no windowing)")
    out = prepare_dir(args.out)
    provenance = Provenance.of_pack(pack.path, "embedding" + (" + contacts" if args.contacts else ""),
                                    pack.name, pack.scheme)
    return _run_batch(args, pack, EmbedWork(args.contacts, provenance), records, provenance, out, options)


def program_name(argv0: Optional[str] = None) -> str:
    """The name usage lines show: the frozen binary's or console script's own name, else
    'python -m app'."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = Path(argv0).name if argv0 else ""
    if getattr(sys, "frozen", False) and name:
        return name
    return "python -m app" if name in ("", "-m", "-c", "__main__.py", "cli.py") or name.startswith("python") \
        else name


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        if not text.strip().isascii():  # int() would also read '１６' (full-width digits)
            raise ValueError(text)
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _scheduler(text: str) -> str:
    """argparse type of --scheduler: local, local:N or tcp://host:port (app.core.distributed)."""
    from .core.scheduler_spec import parse_scheduler

    try:
        parse_scheduler(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    """Options of the many-record engine (app.core.batch_jobs), shared by score and embed."""
    from .core.batching import DEFAULT_TOKEN_BUDGET
    from .core.batch_jobs import DEFAULT_CHUNK

    p.add_argument("--token-budget", type=_positive_int, default=DEFAULT_TOKEN_BUDGET, metavar="N",
                   help=f"padded tokens per pass: records are sorted by length and packed into "
                   f"batches of at most N tokens (default {DEFAULT_TOKEN_BUDGET}; 1: one record per pass)")
    p.add_argument("--chunk", type=_positive_int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"records per shard of --out DIR (default {DEFAULT_CHUNK}): a kill loses at most "
                   f"the chunk in flight")
    p.add_argument("--resume", action="store_true", help="with --out DIR: skip the records an earlier "
                   "run with the same pack and settings finished there")
    p.add_argument("--scheduler", type=_scheduler, default=None, metavar="local[:N]|tcp://HOST:PORT",
                   help="run the chunks on Dask (pip install 'edgefold[app]'): local[:N] starts N "
                   "worker processes on this machine (1 thread each, loopback only; default N: "
                   "cores); tcp://host:8786 uses a running scheduler whose workers see --model "
                   "and --out at the same paths. Needs --out DIR")
    p.add_argument("--ship-pack", choices=("path", "bytes"), default="path",
                   help="with --scheduler: workers open the pack at its path (default), or get its "
                   "files as bytes from the client (workers that do not see the pack); either way "
                   "each worker checks every file's sha256 before use")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=program_name(), description="EdgeFold: ESM-2 on your CPU. "
                                "Without a command, opens the desktop app.")
    sub = p.add_subparsers(dest="command", metavar="{score,embed,fold,models,gui}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", metavar="PACK", help="model pack directory (default: the "
                        "embedded default pack; for fold, the first installed folding pack)")
    common.add_argument("--fasta", required=True, metavar="IN", help="input FASTA file (a regular "
                        "UTF-8 text file; residues are ASCII letters)")
    common.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="onnxruntime intra-op threads (default: all cores)")
    s = sub.add_parser("score", parents=[common], help="score every single substitution (or "
                       "--mutants) and write a ProteinGym-style CSV",
                       description=f"Score every single substitution (or --mutants) of each record "
                       f"and write a ProteinGym-style CSV. Records of up to {MAX_SCORE_RESIDUES:,} "
                       f"residues (ASCII letters) are accepted; longer ones are refused.")
    s.add_argument("--out", required=True, metavar="OUT.csv|DIR", help="a name ending in .csv: "
                   "one CSV (record_id,mutant,score), written atomically at the end with a "
                   "provenance sidecar OUT.csv.json; its directory must exist and it must not be a "
                   "symlink, device or directory. Any other name: a directory (created if missing; "
                   "its parent must exist) of shards, one per chunk of records, committed as they "
                   "finish, plus DIR/summary.csv (per record: status, error, shard) and the merged "
                   "DIR/scores.csv (+ .json provenance)")
    s.add_argument("--method", choices=METHODS, default="wt-marginal",
                   help="wt-marginal: one pass, log p(mt|x) - log p(wt|x); masked-marginal: "
                   "masks each position in turn (L passes, slower). Default: wt-marginal")
    s.add_argument("--mutants", metavar="FILE_OR_LIST", help="mutant file or list, e.g. "
                   "'A23G,A23G:K40R' (1-based)")
    s.add_argument("--batch-size", type=_positive_int, default=16, metavar="N",
                   help="masked copies per pass (>= 1, default 16)")
    _add_batch_options(s)
    s.set_defaults(func=cmd_score)
    e = sub.add_parser("embed", parents=[common], help="write per-residue and mean embeddings "
                       "(and contacts) as .npy files")
    e.add_argument("--out", required=True, metavar="DIR", help="output directory (created "
                   "if missing; its parent must exist)")
    e.add_argument("--contacts", action="store_true", help="also write <id>.contacts.npy (L, L)")
    _add_batch_options(e)
    e.set_defaults(func=cmd_embed)
    add_fold_parser(sub, common)
    add_models_parser(sub)  # app.cli_models: list, verify, remove, import, get
    g = sub.add_parser("gui", help="open the desktop app (same as no command)")
    g.add_argument("--self-test", metavar="DIR", help="open the window, score a short sequence with the "
                   "default pack, export its heatmap (and the 3D view, where one can be shown) into DIR, "
                   "write DIR/self_test.json and quit (exit 0 when all worked): the installer check")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one CLI command; errors print `error: ...` to stderr and return an app.core.exit_codes code."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        from .gui import launch_gui

        return launch_gui(getattr(args, "self_test", None))
    try:
        return args.func(args)
    except (CliError, FastaError, PackError, MutantError, InferenceError, ValueError,
            OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code(e)
    except (KeyboardInterrupt, Cancelled):
        print("error: interrupted; no output written", file=sys.stderr)
        return INTERRUPTED
