"""The many-record side of `python -m app score|embed`: jobs, resume, shards, summary, merge.

app.cli parses and checks the arguments; this runs the batch in this process
(app.core.batch_jobs) or on a Dask cluster (app.core.distributed, imported only then) and
leaves OUT/summary.csv (and, for score, OUT/scores.csv) behind, also after an interrupt.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from .core.batch_jobs import DEFAULT_CHUNK, Job, Meter, Planner, Work, run_local
from .core.fasta import Record
from .core.outputs import safe_stem
from .core.provenance import Provenance
from .core.runtime import Esm2Runtime
from .core.shards import MERGED, SUMMARY, Entry, MemoryStore, ShardStore

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Options:
    token_budget: int
    chunk: int = DEFAULT_CHUNK
    resume: bool = False
    scheduler: Optional[str] = None
    threads: Optional[int] = None
    ship_pack: str = "path"  # --scheduler: workers read the pack at its path, or get its bytes


@dataclass
class Outcome:
    counts: dict  # status -> records (done, failed, not run)
    computed: int  # records computed by this run
    skipped: int  # records found done (resume)
    rows: int = 0  # score rows merged


def settings_of(work: Work, provenance: Provenance) -> dict:
    """What a resumed run must share with the shards it reuses."""
    codes = getattr(work, "codes", None)
    return {"kind": work.kind, "pack_sha256": provenance.pack_sha256, "method": provenance.method,
            "mutants": hashlib.sha256("\n".join(codes).encode()).hexdigest() if codes is not None else "all singles"}


def make_jobs(records: Sequence[Record], stems: bool) -> list[Job]:
    """Jobs in FASTA order; embed stems as the CLI always named them (safe id, _2, _3 for repeats)."""
    jobs, used = [], set()
    for n, rec in enumerate(records):
        stem = ""
        if stems:
            stem, k = safe_stem(rec.id), 2
            while stem in used:
                stem, k = f"{safe_stem(rec.id)}_{k}", k + 1
            used.add(stem)
        jobs.append(Job(n, rec.id, rec.sequence, stem))
    return jobs


def _tracker(meter: Meter, progress: Progress) -> Callable[[list[Entry]], None]:
    def on_commit(entries: list[Entry]) -> None:
        meter.add(len(entries), sum(e.length for e in entries))
        progress(meter.done_records, meter.records, meter.line())
    return on_commit


def run_to_dir(runtime: Optional[Esm2Runtime], pack_path: Path, work: Work, records: Sequence[Record],
               out: Path, provenance: Provenance, options: Options, progress: Progress,
               report: Callable[[str], None]) -> Outcome:
    """Score or embed `records` into the directory `out`; a Dask run when options.scheduler."""
    jobs = make_jobs(records, stems=work.kind == "embed")
    store = ShardStore(out, settings_of(work, provenance))
    done = store.prepare(options.resume)
    todo = [j for j in jobs if j.key not in done]
    skipped = len(jobs) - len(todo)
    if options.resume:
        report(f"resume: {skipped} of {len(jobs)} record(s) already done in {out}, {len(todo)} to compute")
    meter = Meter(len(todo), sum(len(j.sequence) for j in todo))
    on_commit = _tracker(meter, progress)
    pairs = [(r.id, r.sequence) for r in records]
    try:
        if options.scheduler and todo:
            from .core.distributed import run_distributed

            run_distributed(options.scheduler, pack_path, work, store, todo, options, on_commit, report)
        elif todo:
            assert runtime is not None
            run_local(Planner(runtime, work, options.token_budget, report=report, progress=progress), store, todo,
                      options.chunk, on_commit)
    finally:
        counts = store.write_summary(pairs, provenance)
    rows = store.merge_scores(pairs, provenance) if work.kind == "score" else 0
    return Outcome(counts, meter.done_records, skipped, rows)


def run_to_csv(runtime: Esm2Runtime, work: Work, records: Sequence[Record], out: Path,
               provenance: Provenance, options: Options, progress: Progress,
               report: Callable[[str], None]) -> Outcome:
    """`score --out OUT.csv`: the same packed engine, one CSV written atomically at the end."""
    jobs = make_jobs(records, stems=False)
    store = MemoryStore(settings_of(work, provenance))
    meter = Meter(len(jobs), sum(len(j.sequence) for j in jobs))
    planner = Planner(runtime, work, options.token_budget, report=report, progress=progress)
    run_local(planner, store, jobs, options.chunk, _tracker(meter, progress))
    pairs = [(r.id, r.sequence) for r in records]
    counts: dict = {}
    for entry, _ in store.entries().values():
        counts[entry.status] = counts.get(entry.status, 0) + 1
    failed = [e for e, _ in store.entries().values() if e.status != "done"]
    for e in failed:
        report(f"record {e.id!r} failed: {e.error}")
    rows = store.merge_scores(pairs, provenance, out)
    return Outcome(counts, len(jobs), 0, rows)


def describe(outcome: Outcome, out: Path, kind: str) -> str:
    """The closing line on stderr."""
    done, failed = outcome.counts.get("done", 0), outcome.counts.get("failed", 0)
    what = f"{outcome.rows} scores of" if kind == "score" else "embeddings of"
    tail = f"; {failed} failed (reasons in {out / SUMMARY})" if failed else ""
    merged = f", merged in {out / MERGED}" if kind == "score" else ""
    return (f"wrote {what} {done} record(s) to {out}{merged} (summary: {out / SUMMARY}; computed "
            f"{outcome.computed}, skipped {outcome.skipped} already done){tail}")


def stderr_report(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)
