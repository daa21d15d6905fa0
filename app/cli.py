"""Headless command line: `python -m app score ...`, `python -m app embed ...`, `python -m app fold ...`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from .core.embedding import embed_sequence, write_embedding_files
from .core.exit_codes import FAILED, INTERRUPTED, USAGE, exit_code
from .core.fasta import MAX_SCORE_RESIDUES, FastaError, Record, check_lengths, decode_text, read_fasta
from .core.jobs import Cancelled, Throttle
from .core.mutants import MutantError, all_single_mutants, parse_mutant, parse_mutant_text
from .core.outputs import check_writable, prepare_dir, safe_stem, write_scores_csv
from .core.pack import Pack, PackError, default_pack_dir, find_packs, load_pack, user_packs_dir
from .core.provenance import Provenance
from .core.runtime import Esm2Runtime, InferenceError
from .core.scoring import METHODS, not_scored_positions, score_matrix, score_mutants


class CliError(Exception):
    """A user-facing error printed as `error: ...`; the CLI exits with `exit_code` (see
    app.core.exit_codes: USAGE for what the user gave, FAILED when the run itself failed)."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ProgressLine:
    """Progress on stderr for one run: at most one line per `interval` s (rewritten in place,
    up to 5 times a second, on a terminal), prefixed with the record and the records/s rate."""

    TTY_INTERVAL = 0.2

    def __init__(self, stream: Optional[TextIO] = None, interval: float = 5.0,
                 records: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.prefix, self.records = "", records
        self._record: Optional[tuple[int, str, int]] = None  # (n, id, length) of the current one
        self._clock, self._t0 = clock, clock()
        self._in_place = False
        self._throttle = Throttle(self._write, min(interval, self.TTY_INTERVAL) if self.tty else interval,
                                  clock)

    def record(self, n: int, record_id: str, length: int) -> None:
        """Record n (1-based) of `records` starts; cheap, called once per record."""
        self._record = (n, record_id, length)

    def __call__(self, done: int, total: int, message: str) -> None:
        self._throttle(done, total, message)

    def _write(self, done: int, total: int, message: str) -> None:
        line = _printable(f"{self._prefix()}{message}")
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self._in_place = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _prefix(self) -> str:
        if self._record is None:
            return self.prefix
        n, rid, length = self._record
        elapsed = self._clock() - self._t0
        rate = f", {(n - 1) / elapsed:.1f} records/s" if n > 1 and elapsed > 0 else ""
        return f"{self.prefix}[{n}/{self.records} {rid}, {length} aa{rate}] "

    def close(self) -> None:
        """Show the last held-back update on a terminal and end its line."""
        if self.tty:
            self._throttle.flush()
            if self._in_place:
                self.stream.write("\n")
                self.stream.flush()


def _printable(text: str) -> str:
    """`text` with control characters as '?': a FASTA header cannot send terminal escapes."""
    return "".join(c if c.isprintable() else "?" for c in text)


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


def _records(path: str) -> list[Record]:
    return read_fasta(path)  # FastaError: missing, a directory, not a regular file, empty, binary


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
    f = sub.add_parser("fold", parents=[common], help="predict structures with an ESMFold pack: "
                       "OUT/<id>.pdb, .cif and .json (pLDDT, pTM, PAE) per record")
    f.add_argument("--out", required=True, metavar="DIR", help="output directory (created "
                   "if missing; its parent must exist)")
    f.add_argument("--recycles", type=int, default=None, metavar="N",
                   help="recycling iterations (default: the pack's max_recycles, as ESMFold)")
    f.set_defaults(func=cmd_fold)
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
