"""What a Dask worker process runs for `--scheduler` (app.core.distributed is the client side).

Importing this module imports `app` first, so ORT_DISABLE_TELEMETRY=1 is set before
onnxruntime can load in the worker. Each worker process keeps one warm runtime per pack
(keyed by the pack's manifest sha256) for the whole run: the pack is loaded and verified once
(every file's sha256 against the manifest, and the manifest's against the sha the client sent),
then every chunk reuses the session. A pack shipped as bytes is written once per process into a
private temporary directory and verified there the same way.
"""
from __future__ import annotations

import app  # noqa: F401  (first: ORT_DISABLE_TELEMETRY before onnxruntime)

import atexit
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .batch_jobs import Job, Planner, Work, run_chunk
from .pack import load_pack
from .pack_error import PackError
from .provenance import Provenance
from .runtime import Esm2Runtime
from .shards import ShardStore


@dataclass(frozen=True)
class PackRef:
    """A pack as the client names it: `sha256` of its manifest.json, and a path the workers see
    (empty when its files are shipped as bytes: the `files` argument of run_task, a scattered
    Dask future that the worker receives resolved)."""

    sha256: str
    path: str = ""


_lock = threading.Lock()
_planners: dict[tuple, Planner] = {}
_runtimes: dict[str, Esm2Runtime] = {}


def materialize(files: dict, sha256: str) -> Path:
    """Write shipped pack files into a new private temporary directory (removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix=f"edgefold-pack-{sha256[:16]}-"))
    atexit.register(shutil.rmtree, root, True)
    for rel, data in files.items():
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:
            raise PackError(f"shipped pack file {rel!r} points outside the pack directory", root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def runtime_for(ref: PackRef, threads: int, files: Optional[dict] = None) -> Esm2Runtime:
    """The process's runtime of `ref`, loaded and hash-checked on first use (from `files`, the
    pack's {relative path: bytes}, when given)."""
    with _lock:
        if ref.sha256 not in _runtimes:
            path = materialize(files, ref.sha256) if files is not None else Path(ref.path)
            pack = load_pack(path, verify=True)  # every file against the manifest's sha256
            got = Provenance.of_pack(pack.path, "check").pack_sha256
            if got != ref.sha256:
                raise PackError(f"pack at {path} on worker pid {os.getpid()}: manifest sha256 {got} is not "
                                f"the client's {ref.sha256}; the workers see another pack", path)
            _runtimes[ref.sha256] = Esm2Runtime(pack, threads=threads)
        return _runtimes[ref.sha256]


def _planner(ref: PackRef, files: Optional[dict], work: Work, threads: int, token_budget: int) -> Planner:
    key = (ref.sha256, work.kind, tuple(work.outputs), getattr(work, "method", ""), token_budget)
    runtime = runtime_for(ref, threads, files)
    with _lock:
        if key not in _planners:  # the packing probe runs once per process and pack
            _planners[key] = Planner(runtime, work, token_budget)
        planner = _planners[key]
    return _with_work(planner, work)


def _with_work(planner: Planner, work: Work) -> Planner:
    """The cached planner's decisions with this task's work object (mutant codes, provenance)."""
    copy = object.__new__(Planner)
    copy.__dict__.update(planner.__dict__)
    copy.work = work
    return copy


def run_task(ref: PackRef, files: Optional[dict], work: Work, out: str, settings: dict, jobs: Sequence[tuple],
             token_budget: int, threads: int = 1) -> list[dict]:
    """One chunk on this worker: compute, write its shard (and files) under `out`, return the
    entries (done or failed with the reason) for the client's progress and summary. `files`:
    the pack's bytes when shipped so (a top-level argument: Dask resolves futures only there)."""
    planner = _planner(ref, files, work, threads, token_budget)
    store = ShardStore(Path(out), settings)
    entries = run_chunk(planner, store, [Job(*j) for j in jobs])
    return [e.as_dict() for e in entries]

