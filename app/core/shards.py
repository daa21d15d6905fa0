"""A batch's output directory: one shard per chunk of records, committed atomically, so that a
killed run loses at most the chunk in flight and a rerun with `resume` skips what is done.

    OUT/shards/<name>.csv    score rows (record_id,mutant,score) of the chunk's records, no header
    OUT/shards/<name>.json   the commit marker, written last: the run's settings and, per record,
                             id, length, sequence digest, status (done | failed), error, and the
                             byte range of its rows in the .csv (embeddings: its own files)
    OUT/summary.csv          record, length, model, scheme, pack_sha256, shard, status, error
    OUT/scores.csv (+.json)  every shard's rows merged in FASTA order (score)

A chunk whose .json is missing never happened (its .csv, if any, is overwritten). The settings
(kind, pack sha256, method, mutant list, contacts) must match for a resume: results of another
pack or method are never mixed in. Written by the single process and by Dask workers alike
(app.core.distributed); any process may commit, the client alone writes the summary and merge.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .outputs import OutputError, atomic_open, write_sidecar
from .provenance import Provenance

SHARDS = "shards"
SUMMARY = "summary.csv"
MERGED = "scores.csv"
SUMMARY_HEADER = ("record", "length", "model", "scheme", "pack_sha256", "shard", "status", "error")


def record_key(record_id: str, sequence: str) -> str:
    """What a resume matches a record by: its id and the digest of its residues."""
    return f"{record_id}\t{hashlib.sha256(sequence.encode('ascii', 'replace')).hexdigest()[:16]}"


@dataclass(frozen=True)
class Entry:
    """One record's line in a shard manifest."""

    id: str
    key: str
    length: int
    status: str  # done | failed
    error: str = ""
    offset: int = 0  # score: its rows' byte range in <shard>.csv
    size: int = 0
    rows: int = 0
    not_scored: int = 0
    files: tuple[str, ...] = ()  # embed: its files, relative to OUT

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["files"] = list(self.files)
        return d


def shard_name(kind: str, keys: Sequence[str]) -> str:
    """A name fixed by the chunk's records, so a recomputed chunk replaces its own shard."""
    return f"{kind}-{hashlib.sha256(chr(10).join(keys).encode()).hexdigest()[:16]}"


def score_block(record_id: str, mutants: Iterable[str], scores: Iterable[float]) -> tuple[bytes, int, int]:
    """CSV rows of one record as bytes, formatted as app.core.outputs.write_scores_csv does
    (repr of the float64, NaN left out); returns (bytes, rows written, rows left out)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    n = skipped = 0
    for code, s in zip(mutants, scores):
        s = float(s)
        if s != s or s in (float("inf"), float("-inf")):
            skipped += 1
            continue
        w.writerow([record_id, code, repr(s)])
        n += 1
    return buf.getvalue().encode("utf-8"), n, skipped


class ShardStore:
    """The shards of one output directory under one set of run settings."""

    def __init__(self, out_dir: Path, settings: dict) -> None:
        self.out = Path(out_dir)
        self.dir = self.out / SHARDS
        self.settings = dict(settings)

    def prepare(self, resume: bool) -> dict[str, Entry]:
        """Create OUT/shards; {record key: entry} of the records already done (resume), else
        refuse a directory that holds an earlier run's shards."""
        self.dir.mkdir(exist_ok=True)
        manifests = sorted(self.dir.glob("*.json"))
        if manifests and not resume:
            raise OutputError(f"{self.out} holds {len(manifests)} shard(s) of an earlier run; pass "
                              f"--resume to continue it, or give an empty or new --out directory", self.out)
        done: dict[str, Entry] = {}
        for path in manifests:
            manifest = self._read(path)
            if manifest["settings"] != self.settings:
                diff = sorted(k for k in set(self.settings) | set(manifest["settings"])
                              if self.settings.get(k) != manifest["settings"].get(k))
                raise OutputError(f"{path}: written with other settings ({', '.join(diff)}: "
                                  f"{[manifest['settings'].get(k) for k in diff]} here, "
                                  f"{[self.settings.get(k) for k in diff]} now); give another --out "
                                  f"directory to run with these", path)
            for e in manifest["records"]:
                entry = Entry(**{**e, "files": tuple(e.get("files", ()))})
                if entry.status == "done" and self._present(path, entry):
                    done[entry.key] = entry
        return done

    def _read(self, path: Path) -> dict:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest["settings"], manifest["records"]  # noqa: B018 (the keys must be there)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise OutputError(f"{path}: not a shard manifest of this program ({e}); remove it or give "
                              f"another --out directory", path) from None
        return manifest

    def _present(self, manifest: Path, entry: Entry) -> bool:
        """The files a done entry names are still there (a user may have deleted some)."""
        if entry.files:
            return all((self.out / f).is_file() for f in entry.files)
        csv_path = manifest.with_suffix(".csv")
        return entry.size == 0 or (csv_path.is_file() and csv_path.stat().st_size >= entry.offset + entry.size)

    def commit(self, name: str, entries: Sequence[Entry], blocks: Optional[Sequence[bytes]] = None) -> Path:
        """Write a chunk: its rows (score: `blocks`, one per entry) then its manifest."""
        placed = list(entries)
        if blocks is not None:
            offset = 0
            with atomic_open(self.dir / f"{name}.csv", "wb") as f:
                for n, (entry, block) in enumerate(zip(entries, blocks)):
                    f.write(block)
                    placed[n] = Entry(**{**entry.__dict__, "offset": offset, "size": len(block)})
                    offset += len(block)
        path = self.dir / f"{name}.json"
        with atomic_open(path, "w") as f:
            json.dump({"settings": self.settings, "shard": name,
                       "records": [e.as_dict() for e in placed]}, f, indent=0)
        return path

    def entries(self) -> dict[str, tuple[Entry, str]]:
        """{record key: (entry, shard name)}, a done entry winning over a failed one."""
        out: dict[str, tuple[Entry, str]] = {}
        for path in sorted(self.dir.glob("*.json")):
            manifest = self._read(path)
            for e in manifest["records"]:
                entry = Entry(**{**e, "files": tuple(e.get("files", ()))})
                if entry.key not in out or (entry.status == "done" and out[entry.key][0].status != "done"):
                    out[entry.key] = (entry, path.stem)
        return out

    def write_summary(self, records: Sequence[tuple[str, str]], provenance: Provenance) -> dict[str, int]:
        """OUT/summary.csv over `records` ((id, sequence) in FASTA order); counts per status."""
        found = self.entries()
        counts: dict[str, int] = {}
        with atomic_open(self.out / SUMMARY, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(SUMMARY_HEADER)
            for rid, seq in records:
                entry, shard = found.get(record_key(rid, seq), (None, ""))
                status = entry.status if entry else "not run"
                counts[status] = counts.get(status, 0) + 1
                where = (entry.files[-1] if entry and entry.files else f"{SHARDS}/{shard}.csv") if entry else ""
                w.writerow([rid, len(seq), provenance.model, provenance.scheme, provenance.pack_sha256,
                            where if status == "done" else "", status, entry.error if entry else ""])
        return counts

    def _block(self, shard: str, entry: Entry, handles: dict) -> bytes:
        """The bytes of `entry`'s rows in shard `shard` (`handles`: open shard files, closed by the caller)."""
        if shard not in handles:
            if len(handles) >= 64:  # records in FASTA order visit shards in any order: bound the open files
                for f in handles.values():
                    f.close()
                handles.clear()
            handles[shard] = open(self.dir / f"{shard}.csv", "rb")  # noqa: SIM115
        f = handles[shard]
        f.seek(entry.offset)
        return f.read(entry.size)

    def merge_scores(self, records: Sequence[tuple[str, str]], provenance: Provenance,
                     path: Optional[Path] = None) -> int:
        """`path` (default OUT/scores.csv): the header and each done record's rows in FASTA order,
        with the provenance sidecar write_scores_csv writes; returns the row count."""
        from .outputs import SCORES_HEADER, sidecar_path

        path = Path(path) if path is not None else self.out / MERGED
        found = self.entries()
        rows = not_scored = 0
        ids, missing = [], []
        handles: dict = {}
        try:
            with atomic_open(path, "wb") as out:
                out.write((",".join(SCORES_HEADER) + "\n").encode())
                for rid, seq in records:
                    entry, shard = found.get(record_key(rid, seq), (None, ""))
                    if entry is None or entry.status != "done":
                        missing.append(rid)
                        continue
                    ids.append(rid)
                    if entry.size:
                        out.write(self._block(shard, entry, handles))
                    rows += entry.rows
                    not_scored += entry.not_scored
        finally:
            for f in handles.values():
                f.close()
        write_sidecar(sidecar_path(path), provenance, csv=path.name, columns=list(SCORES_HEADER),
                      records=ids, rows=rows, not_scored=not_scored,
                      not_scored_reason="substitutions at non-standard residues (X, B, Z, U, O) "
                                        "are not scored and not written", **({"missing": missing} if missing else {}))
        return rows


class MemoryStore(ShardStore):
    """Chunks kept in memory, for `score --out OUT.csv`: the same engine and merge, one file at the end."""

    def __init__(self, settings: dict) -> None:
        super().__init__(Path("."), settings)
        self._chunks: dict[str, tuple[list[Entry], list[bytes]]] = {}

    def prepare(self, resume: bool) -> dict[str, Entry]:
        return {}

    def commit(self, name: str, entries: Sequence[Entry], blocks: Optional[Sequence[bytes]] = None) -> Path:
        self._chunks[name] = (list(entries), list(blocks or [b""] * len(entries)))
        return Path(name)

    def entries(self) -> dict[str, tuple[Entry, str]]:
        out: dict[str, tuple[Entry, str]] = {}
        for name, (entries, blocks) in self._chunks.items():
            for n, (e, block) in enumerate(zip(entries, blocks)):
                if e.key not in out or e.status == "done":
                    out[e.key] = (Entry(**{**e.__dict__, "offset": n, "size": len(block)}), name)
        return out

    def _block(self, shard: str, entry: Entry, handles: dict) -> bytes:
        return self._chunks[shard][1][entry.offset]
