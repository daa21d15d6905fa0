"""Score or embed thousands of records: chunks of length-sorted records, packed passes, a writer
thread, shards committed per chunk (app.core.shards), throughput and ETA.

The session stays open for the whole run. The main thread only runs onnxruntime (which
releases the GIL); turning logits into scores, formatting CSV rows and writing files happen on
a writer thread meanwhile, so the two overlap. A pass that fails (an InferenceError, a
non-finite output) is retried one record at a time and only the records that still fail are
reported failed, with the reason; the rest of the run goes on.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .batching import DEFAULT_MAX_ROWS, DEFAULT_TOKEN_BUDGET, Batch, batching_is_exact, plan_batches, run_packed
from .embedding import Embedding, embed_sequence, write_embedding_files
from .fasta import STANDARD_AA
from .jobs import CancelToken, Progress, check
from .pack_error import PackError
from .provenance import Provenance
from .runtime import Esm2Runtime, InferenceError
from .scoring import NOT_SCORED, _log_ratios, log_softmax, score_matrix, score_mutants
from .shards import Entry, ShardStore, record_key, score_block, shard_name

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 64  # records per shard: a kill loses at most this much work
Report = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    """One record to compute: its FASTA position, id, residues and (embed) file stem."""

    index: int
    id: str
    sequence: str
    stem: str = ""

    @property
    def key(self) -> str:
        return record_key(self.id, self.sequence)


@dataclass(frozen=True)
class Failure:
    error: str


class Meter:
    """Records and residues done against the totals: rates and an ETA for the progress line."""

    def __init__(self, records: int, residues: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.records, self.residues = records, residues
        self.done_records = self.done_residues = 0
        self._clock, self._t0 = clock, clock()

    def add(self, records: int, residues: int) -> None:
        self.done_records += records
        self.done_residues += residues

    def rates(self) -> tuple[float, float]:
        """(sequences/s, residues/s) since the start."""
        elapsed = max(self._clock() - self._t0, 1e-9)
        return self.done_records / elapsed, self.done_residues / elapsed

    def line(self) -> str:
        seq_s, res_s = self.rates()
        left = self.residues - self.done_residues
        eta = _duration(left / res_s) if res_s > 0 else "?"
        return (f"[{self.done_records}/{self.records} records, {seq_s:.1f} seq/s, {res_s:,.0f} residues/s, "
                f"ETA {eta}]")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class ScoreWork:
    """Variant scores of each record: wt-marginal records within one model window are packed;
    masked-marginal and windowed records run through app.core.scoring.score_matrix."""

    kind = "score"
    outputs = ("logits",)

    def __init__(self, method: str, codes: Optional[Sequence[str]] = None, batch_size: int = 16) -> None:
        self.method, self.codes, self.batch_size = method, codes, batch_size

    @property
    def packs(self) -> bool:
        """masked-marginal batches L masked copies of one record already (no padding)."""
        return self.method == "wt-marginal"

    def packable(self, runtime: Esm2Runtime, sequence: str) -> bool:
        return self.packs and len(sequence) <= runtime.max_residues

    def run_single(self, runtime: Esm2Runtime, sequence: str, progress: Optional[Progress] = None) -> np.ndarray:
        return score_matrix(runtime, sequence, self.method, progress=progress, batch_size=self.batch_size).scores

    def from_outputs(self, runtime: Esm2Runtime, sequence: str, outputs: dict) -> np.ndarray:
        """(L, 20) float32 as score_matrix gives for a one-window wt-marginal record."""
        tok = runtime.tokenizer
        off = int(tok.prepend_bos)
        logp = log_softmax(outputs["logits"][off:off + len(sequence)])
        out = _log_ratios(logp, tok.residue_ids(sequence), tok.residue_ids(STANDARD_AA))
        out[[i for i, aa in enumerate(sequence) if aa in NOT_SCORED]] = np.nan
        return out.astype(np.float32)

    def finish(self, store: ShardStore, job: Job, scores: np.ndarray) -> tuple[Entry, bytes]:
        if self.codes is not None:
            from .scoring import ScoreMatrix

            names, values = list(self.codes), score_mutants(ScoreMatrix(job.sequence, scores, self.method),
                                                            self.codes)
        else:
            names, values = _all_singles(job.sequence, scores)
        block, rows, skipped = score_block(job.id, names, values)
        return Entry(job.id, job.key, len(job.sequence), "done", rows=rows, not_scored=skipped), block


def _all_singles(sequence: str, scores: np.ndarray) -> tuple[list[str], list[float]]:
    """Codes and scores in app.core.mutants.all_single_mutants order, read off the matrix."""
    names, values = [], []
    for i, wt in enumerate(sequence):
        row = scores[i].tolist()
        for j, aa in enumerate(STANDARD_AA):
            if aa != wt:
                names.append(f"{wt}{i + 1}{aa}")
                values.append(row[j])
    return names, values


class EmbedWork:
    """Per-residue and mean embeddings (and contacts) of each record, as `embed_sequence`."""

    kind = "embed"
    packs = True

    def __init__(self, contacts: bool, provenance: Provenance) -> None:
        self.contacts, self.provenance = contacts, provenance
        self.outputs = ("embeddings", "contacts") if contacts else ("embeddings",)

    def packable(self, runtime: Esm2Runtime, sequence: str) -> bool:
        return len(sequence) <= runtime.max_residues

    def run_single(self, runtime: Esm2Runtime, sequence: str, progress: Optional[Progress] = None) -> Embedding:
        return embed_sequence(runtime, sequence, contacts=self.contacts)

    def from_outputs(self, runtime: Esm2Runtime, sequence: str, outputs: dict) -> Embedding:
        off = int(runtime.tokenizer.prepend_bos)
        per_residue = np.ascontiguousarray(outputs["embeddings"][off:off + len(sequence)], dtype=np.float32)
        mean = per_residue.mean(axis=0, dtype=np.float64).astype(np.float32)
        cmap = np.ascontiguousarray(outputs["contacts"], dtype=np.float32) if self.contacts else None
        return Embedding(per_residue, mean, cmap)

    def finish(self, store: ShardStore, job: Job, emb: Embedding) -> tuple[Entry, bytes]:
        paths = write_embedding_files(store.out, job.stem, job.id, job.sequence, emb, self.provenance)
        files = tuple(str(Path(p).relative_to(store.out)) for p in paths)
        return Entry(job.id, job.key, len(job.sequence), "done", files=files), b""


Work = Union[ScoreWork, EmbedWork]


def plan_chunks(jobs: Sequence[Job], chunk: int = DEFAULT_CHUNK) -> list[list[Job]]:
    """Jobs sorted by length (then FASTA order) cut into chunks of `chunk` records."""
    ordered = sorted(jobs, key=lambda j: (len(j.sequence), j.index))
    return [ordered[i:i + chunk] for i in range(0, len(ordered), chunk)]


class Planner:
    """How a runtime may pack: decided once per run by app.core.batching.batching_is_exact."""

    def __init__(self, runtime: Esm2Runtime, work: Work, token_budget: int = DEFAULT_TOKEN_BUDGET,
                 max_rows: int = DEFAULT_MAX_ROWS, report: Optional[Report] = None,
                 progress: Optional[Progress] = None) -> None:
        self.runtime, self.work, self.progress = runtime, work, progress
        self.token_budget, self.max_rows, self.equal_lengths = token_budget, max_rows, False
        if max_rows > 1 and token_budget > 1 and work.packs:
            main = tuple(o for o in work.outputs if o != "contacts")
            if not batching_is_exact(runtime, main):
                self.max_rows = 1
                _say(report, f"packing records changes the outputs of pack {runtime.pack.name!r} "
                             f"({runtime.pack.scheme}: activations quantized with statistics of the whole "
                             f"batch, or no padding mask in the graph): one record per pass")
            elif "contacts" in work.outputs and not batching_is_exact(runtime, work.outputs):
                self.equal_lengths = True
                _say(report, "the contact head sums over padded rows: only records of equal length "
                             "share a pass")

    def batches(self, jobs: Sequence[Job]) -> list[list[Job]]:
        """Packable jobs in token-budget batches, the others one per pass."""
        packable = [j for j in jobs if self.work.packable(self.runtime, j.sequence)]
        single = [[j] for j in jobs if not self.work.packable(self.runtime, j.sequence)]
        plan: list[Batch] = plan_batches([len(j.sequence) for j in packable], self.token_budget, self.max_rows,
                                         self.runtime.tokenizer.n_special, self.equal_lengths)
        return [[packable[i] for i in b.indices] for b in plan] + single


def _say(report: Optional[Report], text: str) -> None:
    if report is not None:
        report(text)
    log.info("%s", text)


def compute(planner: Planner, batch: Sequence[Job]) -> list[object]:
    """Raw results of one batch (packed outputs, a matrix, an embedding, or a Failure per job);
    a failing pass is retried job by job."""
    rt, work = planner.runtime, planner.work
    try:
        if len(batch) == 1 and not work.packable(rt, batch[0].sequence):
            return [("single", work.run_single(rt, batch[0].sequence, planner.progress))]
        return [("outputs", o) for o in run_packed(rt, [j.sequence for j in batch], work.outputs)]
    except (InferenceError, PackError, ValueError) as e:
        if len(batch) == 1:
            return [Failure(f"record {batch[0].id!r}: {e}")]
        log.warning("a pass of %d records failed (%s): retrying them one by one", len(batch), e)
        return [r for j in batch for r in compute(planner, [j])]


def finish(planner: Planner, store: ShardStore, job: Job, raw: object) -> tuple[Entry, bytes]:
    """Turn one raw result into its shard entry (and score rows); a failure of this step is the
    record's failure too."""
    work = planner.work
    if isinstance(raw, Failure):
        return Entry(job.id, job.key, len(job.sequence), "failed", error=raw.error), b""
    try:
        kind, value = raw
        result = value if kind == "single" else work.from_outputs(planner.runtime, job.sequence, value)
        return work.finish(store, job, result)
    except (InferenceError, PackError, ValueError) as e:
        return Entry(job.id, job.key, len(job.sequence), "failed", error=f"record {job.id!r}: {e}"), b""


def run_chunk(planner: Planner, store: ShardStore, chunk: Sequence[Job]) -> list[Entry]:
    """Compute and commit one chunk in this thread (a Dask worker's task); its entries."""
    entries, blocks = [], []
    for batch in planner.batches(chunk):
        for job, raw in zip(batch, compute(planner, batch)):
            entry, block = finish(planner, store, job, raw)
            entries.append(entry)
            blocks.append(block)
    store.commit(shard_name(planner.work.kind, [j.key for j in chunk]), entries,
                 blocks if planner.work.kind == "score" else None)
    return entries


_END = object()


class _Writer(threading.Thread):
    """Finishes and commits chunks handed over by the compute loop."""

    def __init__(self, planner: Planner, store: ShardStore, on_commit: Callable[[list[Entry]], None]) -> None:
        super().__init__(name="edgefold-writer", daemon=True)
        self.planner, self.store, self.on_commit = planner, store, on_commit
        self.inbox: queue.Queue = queue.Queue(maxsize=4)  # bounded: compute waits for a slow disk
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        entries: list[Entry] = []
        blocks: list[bytes] = []
        while True:
            item = self.inbox.get()
            if item is _END:
                return
            if self.error is not None:
                continue  # drain so the producer never blocks
            try:
                if item[0] == "batch":
                    for job, raw in item[1]:
                        entry, block = finish(self.planner, self.store, job, raw)
                        entries.append(entry)
                        blocks.append(block)
                else:  # ("commit", chunk jobs)
                    chunk = item[1]
                    self.store.commit(shard_name(self.planner.work.kind, [j.key for j in chunk]), entries,
                                      blocks if self.planner.work.kind == "score" else None)
                    self.on_commit(entries)
                    entries, blocks = [], []
            except BaseException as e:  # noqa: BLE001 (handed to the main thread)
                self.error = e

    def put(self, item: object) -> None:
        if self.error is not None:
            raise self.error
        self.inbox.put(item)


def run_local(planner: Planner, store: ShardStore, jobs: Sequence[Job], chunk: int = DEFAULT_CHUNK,
              on_commit: Optional[Callable[[list[Entry]], None]] = None,
              cancel: Optional[CancelToken] = None) -> None:
    """Every job, chunk by chunk, compute on this thread and writing on a writer thread.

    On an exception (KeyboardInterrupt included) the chunk in flight is dropped, the chunks
    already handed over are committed, and the exception propagates."""
    writer = _Writer(planner, store, on_commit or (lambda entries: None))
    writer.start()
    try:
        for part in plan_chunks(jobs, chunk):
            for batch in planner.batches(part):
                check(cancel)
                writer.put(("batch", list(zip(batch, compute(planner, batch)))))
            writer.put(("commit", part))
    finally:  # a partial chunk (no "commit" after its batches) is dropped by the writer
        writer.inbox.put(_END)
        writer.join()
    if writer.error is not None:
        raise writer.error
