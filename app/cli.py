"""Headless command line: `python -m app score ...`, `python -m app embed ...`, `python -m app fold ...`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .cli_common import CliError, ProgressLine, printable as _printable, read_records as _records
from .cli_fold import add_fold_parser
from .core.embedding import embed_sequence, write_embedding_files
from .core.exit_codes import FAILED, INTERRUPTED, exit_code
from .core.fasta import MAX_SCORE_RESIDUES, FastaError, check_lengths, decode_text
from .core.jobs import Cancelled
from .core.mutants import MutantError, all_single_mutants, parse_mutant, parse_mutant_text
from .core.outputs import check_writable, prepare_dir, safe_stem, write_scores_csv
from .core.pack import Pack, PackError, default_pack_dir, load_pack
from .core.provenance import Provenance
from .core.runtime import Esm2Runtime, InferenceError
from .core.scoring import METHODS, not_scored_positions, score_matrix, score_mutants


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


def cmd_score(args: argparse.Namespace) -> int:
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
    check_writable(args.out)  # a bad --out is reported now, not after the scoring
    pack = _load(args.model)
    runtime = Esm2Runtime(pack, threads=args.threads)
    progress = ProgressLine(records=len(records))
    rows = []
    for n, rec in enumerate(records, 1):
        progress.record(n, rec.id, len(rec))
        matrix = score_matrix(runtime, rec.sequence, args.method, progress=progress,
                              batch_size=args.batch_size)
        names = codes if codes is not None else list(all_single_mutants(rec.sequence))
        rows.extend((rec.id, name, float(s)) for name, s in zip(names, score_mutants(matrix, names)))
    progress.close()
    provenance = Provenance.of_pack(pack.path, args.method, pack.name, pack.scheme)
    n = write_scores_csv(args.out, rows, provenance)
    print(f"wrote {n} scores for {len(records)} record(s) to {args.out} (provenance: "
          f"{args.out}.json)", file=sys.stderr)
    for rec in records:
        if not_scored_positions(rec.sequence):
            shown = ", ".join(map(str, not_scored_positions(rec.sequence)[:10]))
            print(f"note: record {_printable(rec.id)!r}: positions {shown}"
                  f"{', ...' if len(not_scored_positions(rec.sequence)) > 10 else ''} have a "
                  f"non-standard residue (X, B, Z, U, O); their substitutions are not scored "
                  f"and not written", file=sys.stderr)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    records = _records(args.fasta)
    pack = _load(args.model)
    runtime = Esm2Runtime(pack, threads=args.threads)
    check_lengths(records, runtime.max_residues, "embed (one model window, no windowing)")
    out = prepare_dir(args.out)
    provenance = Provenance.of_pack(pack.path, "embedding" + (" + contacts" if args.contacts else ""),
                                    pack.name, pack.scheme)
    progress = ProgressLine()
    stems: set[str] = set()
    for n, rec in enumerate(records, 1):
        stem, k = safe_stem(rec.id), 2
        while stem in stems:
            stem, k = f"{safe_stem(rec.id)}_{k}", k + 1
        stems.add(stem)
        try:
            emb = embed_sequence(runtime, rec.sequence, contacts=args.contacts)
        except InferenceError as e:
            raise CliError(f"record {rec.id!r}: {e}", FAILED) from None
        write_embedding_files(out, stem, rec.id, rec.sequence, emb, provenance)
        progress(n, len(records), f"embedded {n}/{len(records)} records ({rec.id})")
    progress.close()
    print(f"wrote embeddings of {len(records)} record(s) to {out}", file=sys.stderr)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=program_name(), description="EdgeFold: ESM-2 on your CPU. "
                                "Without a command, opens the desktop app.")
    sub = p.add_subparsers(dest="command", metavar="{score,embed,fold,gui}")
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
    s.add_argument("--out", required=True, metavar="OUT.csv", help="output CSV "
                   "(record_id,mutant,score), written atomically with a provenance sidecar "
                   "OUT.csv.json; its directory must exist and it must not be a symlink, "
                   "device or directory")
    s.add_argument("--method", choices=METHODS, default="wt-marginal",
                   help="wt-marginal: one pass, log p(mt|x) - log p(wt|x); masked-marginal: "
                   "masks each position in turn (L passes, slower). Default: wt-marginal")
    s.add_argument("--mutants", metavar="FILE_OR_LIST", help="mutant file or list, e.g. "
                   "'A23G,A23G:K40R' (1-based)")
    s.add_argument("--batch-size", type=_positive_int, default=16, metavar="N",
                   help="masked copies per pass (>= 1, default 16)")
    s.set_defaults(func=cmd_score)
    e = sub.add_parser("embed", parents=[common], help="write per-residue and mean embeddings "
                       "(and contacts) as .npy files")
    e.add_argument("--out", required=True, metavar="DIR", help="output directory (created "
                   "if missing; its parent must exist)")
    e.add_argument("--contacts", action="store_true", help="also write <id>.contacts.npy (L, L)")
    e.set_defaults(func=cmd_embed)
    add_fold_parser(sub, common)
    sub.add_parser("gui", help="open the desktop app (same as no command)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one CLI command; errors print `error: ...` to stderr and return an app.core.exit_codes code."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        from .gui import launch_gui

        return launch_gui()
    try:
        return args.func(args)
    except (CliError, FastaError, PackError, MutantError, InferenceError, ValueError,
            OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code(e)
    except (KeyboardInterrupt, Cancelled):
        print("error: interrupted; no output written", file=sys.stderr)
        return INTERRUPTED
