"""A batch of records to score and / or fold, kept in its output folder so it survives the app (no Qt).

The batch folder holds the per-record outputs (the files `python -m app score / fold` write, named
by `safe_stem`), a state file `_batch_state.json` rewritten atomically after every record, the
records' sequences `_batch_sequences.<digest>.json` (written once, so the state stays small) and a
summary `_batch_summary.csv` (one row per record and task). A stem never starts with '_'
(`safe_stem` strips it), so these names cannot collide with a record's files.

Opening a folder that holds a state file resumes the batch: a record that was running when the app
was closed or killed waits again, and finished records are skipped as long as their output files
are still there. Only 'done' is final; a failed or cancelled record is retried on resume, except
one the FASTA itself rejected (it has no sequence to run).
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

from .fasta import FastaError, Record, parse_fasta
from .outputs import atomic_open, safe_stem

STATE_FILE = "_batch_state.json"
SEQUENCES_PREFIX = "_batch_sequences."  # + 16 hex digits of the content's sha256 + ".json"
SUMMARY_FILE = "_batch_summary.csv"
STATE_FORMAT = "edgefold-batch"
STATE_VERSION = 1

WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"
STATUSES = (WAITING, RUNNING, DONE, FAILED, CANCELLED)
TASKS = ("score", "fold")
SUMMARY_HEADER = ("record", "task", "length", "model", "scheme", "pack_sha256", "method", "mean_plddt",
                  "ptm", "outputs", "status", "error", "seconds")
_LINE = re.compile(r"\r\n|\r|\n")  # the line breaks app.core.fasta splits on


class BatchError(ValueError):
    """A batch folder or state file that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class PackRef:
    """The pack a task of the batch runs with; `sha256` is the provenance sha256 of its manifest."""

    path: str
    model: str
    scheme: str
    sha256: str


@dataclass
class BatchItem:
    """One record and one task; `outputs` are file names inside the batch folder."""

    record_id: str
    sequence: str  # "" when the FASTA rejected the record (then `error` says why)
    task: str
    stem: str
    status: str = WAITING
    error: str = ""
    method: str = ""
    mean_plddt: Optional[float] = None
    ptm: Optional[float] = None
    outputs: list[str] = field(default_factory=list)
    seconds: Optional[float] = None

    @property
    def length(self) -> int:
        return len(self.sequence)

    @property
    def runnable(self) -> bool:
        return bool(self.sequence)

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED, CANCELLED)

    def key(self) -> tuple[str, str, str, str]:
        return (self.task, self.record_id, self.sequence, self.stem)

    def record(self) -> Record:
        return Record(self.record_id, "", self.sequence)


@dataclass(frozen=True)
class Entry:
    """A FASTA record as the batch takes it: a `Record`, or the id and the reason it was rejected."""

    record_id: str
    record: Optional[Record]
    error: str = ""


def read_entries(text: str, source: str = "<text>") -> list[Entry]:
    """Every record of a FASTA text; a record with an invalid residue (or an empty one) becomes an
    Entry with the FastaError's message instead of failing the whole file as `parse_fasta` does.
    Raises FastaError only when the text holds no record at all."""
    try:
        return [Entry(r.id, r) for r in parse_fasta(text, source)]
    except FastaError:
        pass  # one bad record: parse record by record below
    chunks: list[list[str]] = []
    for line in _LINE.split(text):
        if line.strip().startswith(">") or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    good: list[str] = []
    found: list[Optional[Entry]] = []  # None: a good record, taken from the whole parse below
    for n, chunk in enumerate(chunks, 1):
        body = "\n".join(chunk)
        if all(not ln.strip() or ln.strip().startswith(";") for ln in chunk):
            continue
        try:
            parse_fasta(body, source)
        except FastaError as e:
            found.append(Entry(e.record_id or f"sequence_{n}", None, str(e)))
            continue
        good.append(body)
        found.append(None)
    if not found:
        raise FastaError(f"{source}: no FASTA records found", source)
    records = iter(parse_fasta("\n".join(good), source) if good else [])  # ids de-duplicated as usual
    return [e if e is not None else Entry((r := next(records)).id, r) for e in found]


def unique_stems(record_ids: Iterable[str]) -> list[str]:
    """`safe_stem` of each id, with `_2`, `_3`, ... where two ids give the same stem (as the CLI)."""
    stems: list[str] = []
    used: set[str] = set()
    for rid in record_ids:
        stem, k = safe_stem(rid), 2
        while stem in used:
            stem, k = f"{safe_stem(rid)}_{k}", k + 1
        used.add(stem)
        stems.append(stem)
    return stems


class Batch:
    """Records x tasks in an output folder; every change the caller makes is followed by `save()`."""

    def __init__(self, out_dir: Union[str, Path], items: list[BatchItem], packs: dict[str, PackRef],
                 settings: Optional[dict] = None, source: str = "") -> None:
        self.out_dir = Path(out_dir)
        self.items = items
        self.packs = dict(packs)
        self.settings = dict(settings or {})  # score method, fold recycles
        self.source = source  # the FASTA it was made from (shown, never re-read)
        self._sequences: Optional[tuple[str, dict[str, int]]] = None  # (file name, sequence -> index)

    # ---- making and opening --------------------------------------------------------------
    @classmethod
    def create(cls, out_dir: Union[str, Path], entries: list[Entry], packs: dict[str, PackRef],
               settings: Optional[dict] = None, source: str = "") -> "Batch":
        """A new batch: every entry once per task in `packs` (score before fold), all waiting; a
        rejected entry is failed at once with its reason."""
        unknown = set(packs) - set(TASKS)
        if unknown or not packs:
            raise BatchError(f"batch tasks must be some of {', '.join(TASKS)}, got {sorted(packs)}")
        stems = unique_stems(e.record_id for e in entries)
        items = []
        for task in (t for t in TASKS if t in packs):
            for entry, stem in zip(entries, stems):
                seq = entry.record.sequence if entry.record else ""
                item = BatchItem(entry.record_id, seq, task, stem)
                if entry.record is None:
                    item.status, item.error = FAILED, entry.error
                items.append(item)
        return cls(out_dir, items, packs, settings, source)

    @classmethod
    def load(cls, out_dir: Union[str, Path]) -> "Batch":
        """The batch saved in `out_dir`, ready to resume (see `reopen`); BatchError names the file."""
        path = Path(out_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BatchError(f"{out_dir}: not a batch folder (no {STATE_FILE})") from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise BatchError(f"{path}: cannot read the batch state ({e})") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise BatchError(f"{path}: not an EdgeFold batch state file")
        if data.get("version") != STATE_VERSION:
            raise BatchError(f"{path}: batch state version {data.get('version')!r}; this EdgeFold "
                             f"reads version {STATE_VERSION}")
        try:
            packs = {t: PackRef(**p) for t, p in data["packs"].items()}
            sequences = _read_sequences(Path(out_dir), str(data["sequences"]))
            items = [BatchItem(**{**i, "sequence": sequences[i["sequence"]]}) for i in data["items"]]
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            raise BatchError(f"{path}: damaged batch state ({e!r})") from None
        bad = [i.status for i in items if i.status not in STATUSES or i.task not in packs]
        if bad:
            raise BatchError(f"{path}: damaged batch state (status or task {bad[0]!r})")
        batch = cls(out_dir, items, packs, data.get("settings") or {}, str(data.get("source", "")))
        batch._sequences = (str(data["sequences"]), {q: k for k, q in enumerate(sequences)})
        batch.reopen()
        return batch

    def reopen(self) -> int:
        """Make every unfinished record wait again: running (the app was closed or killed meanwhile),
        cancelled, failed with a sequence, and done whose outputs are gone. Returns the done count."""
        for item in self.items:
            if item.status == DONE and not self.outputs_exist(item):
                item.status = WAITING
            elif item.status in (RUNNING, CANCELLED) or (item.status == FAILED and item.runnable):
                item.status, item.error = WAITING, ""
        return sum(i.status == DONE for i in self.items)

    def carry_over(self, old: "Batch") -> int:
        """Take the finished results of `old` (the same folder's previous state) for the items that
        are the same task, record, sequence and file stem; returns how many. BatchError when `old`
        ran a task with another pack or other settings: one batch folder holds one model's results."""
        for task in set(self.packs) & set(old.packs):
            if self.packs[task].sha256 != old.packs[task].sha256:
                raise BatchError(f"{self.out_dir}: its batch was run with the {task} pack "
                                 f"{old.packs[task].model} (manifest sha256 {old.packs[task].sha256[:12]}...), "
                                 f"not {self.packs[task].model} ({self.packs[task].sha256[:12]}...); "
                                 f"resume with that pack or use another output folder")
        if old.settings != self.settings:
            raise BatchError(f"{self.out_dir}: its batch was run with the settings {old.settings}, not "
                             f"{self.settings}; resume with those or use another output folder")
        done = {i.key(): i for i in old.items if i.status == DONE and old.outputs_exist(i)}
        n = 0
        for k, item in enumerate(self.items):
            prev = done.get(item.key())
            if prev is not None and item.status == WAITING:
                self.items[k] = BatchItem(**asdict(prev))
                n += 1
        return n

    def outputs_exist(self, item: BatchItem) -> bool:
        return bool(item.outputs) and all((self.out_dir / name).is_file() for name in item.outputs)

    # ---- the queue -----------------------------------------------------------------------
    def next_waiting(self) -> Optional[BatchItem]:
        return next((i for i in self.items if i.status == WAITING), None)

    def start(self, item: BatchItem) -> None:
        item.status, item.error = RUNNING, ""

    def finish(self, item: BatchItem, outputs: list[Path], seconds: float, method: str,
               mean_plddt: Optional[float] = None, ptm: Optional[float] = None) -> None:
        item.status, item.error, item.method, item.seconds = DONE, "", method, round(float(seconds), 3)
        item.outputs = [Path(p).name for p in outputs]
        item.mean_plddt = None if mean_plddt is None else round(float(mean_plddt), 3)
        item.ptm = None if ptm is None else round(float(ptm), 5)

    def fail(self, item: BatchItem, reason: str, seconds: Optional[float] = None) -> None:
        item.status, item.error = FAILED, reason or "failed"
        item.seconds = None if seconds is None else round(float(seconds), 3)

    def cancel(self, item: BatchItem) -> None:
        """A waiting or running record is cancelled (a running one by its caller's token first)."""
        if not item.finished:
            item.status, item.error = CANCELLED, "cancelled"

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for item in self.items:
            out[item.status] += 1
        return out

    def eta_seconds(self) -> Optional[float]:
        """Seconds left for the waiting and running records at the residues-per-second rate of the
        records done so far, per task (folding and scoring differ); None before the first is done."""
        left = 0.0
        for task in self.packs:
            done = [i for i in self.items if i.task == task and i.status == DONE and i.seconds]
            todo = sum(i.length for i in self.items if i.task == task and i.status in (WAITING, RUNNING))
            if not todo:
                continue
            residues, seconds = sum(i.length for i in done), sum(i.seconds for i in done)
            if not residues:
                return None
            left += todo * seconds / residues
        return left

    # ---- files ---------------------------------------------------------------------------
    def state(self) -> dict:
        """The state file's content; sequences are indices into the sequences file (`save`)."""
        name, index = self._sequence_table()
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "source": self.source,
                "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": self.settings,
                "packs": {t: asdict(p) for t, p in self.packs.items()}, "sequences": name,
                "items": [{**i.__dict__, "outputs": list(i.outputs), "sequence": index[i.sequence]}
                          for i in self.items]}  # not asdict: 5x slower

    def _sequence_table(self) -> tuple[str, dict[str, int]]:
        """The sequences file of this batch, written once: the state file, rewritten after every
        record, then holds no residues (1000 records of 400 aa: 1.1 MB -> 0.2 MB). Its name holds its
        content's digest, so a kill between the two writes leaves the old state with its old file."""
        if self._sequences is None:
            distinct = list(dict.fromkeys(i.sequence for i in self.items))
            text = json.dumps({"format": STATE_FORMAT + "-sequences", "sequences": distinct}) + "\n"
            name = f"{SEQUENCES_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
            if not (self.out_dir / name).is_file():
                with atomic_open(self.out_dir / name, "w") as f:
                    f.write(text)
            self._sequences = (name, {q: k for k, q in enumerate(distinct)})
        return self._sequences

    def save(self) -> Path:
        """Write the state file and the summary CSV, each atomically (a kill leaves the old one);
        the first save of a new batch also removes the sequences file of the batch it replaced."""
        path = self.out_dir / STATE_FILE
        fresh = self._sequences is None
        with atomic_open(path, "w") as f:
            f.write(json.dumps(self.state(), separators=(",", ":")) + "\n")  # one line: the C encoder
        if fresh:
            for old in self.out_dir.glob(f"{SEQUENCES_PREFIX}*.json"):
                if old.name != self._sequences[0]:
                    old.unlink(missing_ok=True)
        self.write_summary()
        return path

    def summary_rows(self) -> list[tuple]:
        """One row per item in SUMMARY_HEADER order; `outputs` are file names joined by ';'."""
        rows = []
        for item in self.items:
            pack = self.packs[item.task]
            rows.append((item.record_id, item.task, item.length, pack.model, pack.scheme, pack.sha256,
                         item.method, _num(item.mean_plddt), _num(item.ptm), ";".join(item.outputs),
                         item.status, item.error, _num(item.seconds)))
        return rows

    def write_summary(self) -> Path:
        path = self.out_dir / SUMMARY_FILE
        with atomic_open(path, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(SUMMARY_HEADER)
            w.writerows(self.summary_rows())
        return path


def _num(value: Optional[float]) -> str:
    return "" if value is None else repr(float(value))


def _read_sequences(out_dir: Path, name: str) -> list[str]:
    """The sequences file a state file names (a plain name inside the batch folder)."""
    path = out_dir / name
    if not name.startswith(SEQUENCES_PREFIX) or Path(name).name != name:
        raise BatchError(f"{out_dir / STATE_FILE}: names {name!r}, not a batch sequences file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BatchError(f"{path}: cannot read the batch's sequences ({e})") from None
    seqs = data.get("sequences") if isinstance(data, dict) else None
    if not isinstance(seqs, list) or not all(isinstance(q, str) for q in seqs):
        raise BatchError(f"{path}: not a batch sequences file")
    return seqs


def has_batch(out_dir: Union[str, Path]) -> bool:
    return (Path(out_dir) / STATE_FILE).is_file()


def format_eta(seconds: Optional[float]) -> str:
    """'ETA 1 h 05 min', 'ETA 3 min 20 s', 'ETA 12 s'; 'ETA unknown' before a rate is known."""
    if seconds is None:
        return "ETA unknown"
    s = int(round(seconds))
    if s >= 3600:
        return f"ETA {s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"ETA {s // 60} min {s % 60:02d} s"
    return f"ETA {s} s"


class SavePacing:
    """When to rewrite the state after a record: at once, unless saving takes more than `share` of
    the time (a 5000-record batch of fast records: ~0.3 s a save); then at most once per
    cost / share seconds. Small batches and folds are saved after every record."""

    def __init__(self, share: float = 0.1, clock=time.monotonic) -> None:
        self.share, self.clock = share, clock
        self.last_at, self.last_cost = -float("inf"), 0.0

    def wait(self) -> float:
        """Seconds until a save is due (0: now)."""
        return max(0.0, self.last_at + self.last_cost / self.share - self.clock())

    def save(self, batch: Batch) -> None:
        t0 = self.clock()
        batch.save()
        self.last_at = self.clock()
        self.last_cost = self.last_at - t0
