"""`--scheduler`: the chunks of a batch as Dask tasks (dask.distributed, imported only here).

`local[:N]` starts a LocalCluster of N worker processes with one thread each, listening on
127.0.0.1 only, and no dashboard; `tcp://host:port` connects to a running scheduler. One task
per chunk (app.core.dask_tasks.run_task): the worker keeps one warm onnxruntime session per
pack, computes the chunk and commits its shard into OUT itself (so OUT must be the same path
on every worker: a shared file system on a real cluster); the client follows completions from
the scheduler (as_completed), drives the progress line, and writes the summary and the merged
CSV. A task that raises is retried (`RETRIES`); a worker that dies has its tasks rescheduled
by the scheduler; a chunk that still fails is committed by the client as failed records with
the reason, so a rerun with --resume tries them again.
"""
from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path
from typing import Callable, Optional, Sequence

from .batch_jobs import Job, Work, plan_chunks
from .dask_tasks import PackRef, run_task
from .provenance import Provenance
from .scheduler_spec import SchedulerSpec, parse_scheduler
from .shards import Entry, ShardStore, shard_name

log = logging.getLogger(__name__)

RETRIES = 2  # extra tries of a task that raised (a dead worker is handled by the scheduler)
DASK_PIN = "distributed==2026.8.0"


def import_distributed():
    """The dask.distributed module, or ImportError saying how to install it."""
    try:
        import distributed
    except ImportError:
        if getattr(sys, "frozen", False):  # the installer leaves Dask out (build_installer.spec)
            raise ImportError("--scheduler needs dask.distributed, which the installed app does not carry: "
                              "run it from a Python install (pip install 'edgefold[app]')") from None
        raise ImportError(f"--scheduler needs dask.distributed: pip install '{DASK_PIN}' "
                          f"(or pip install 'edgefold[app]')") from None
    return distributed


def start_client(spec: SchedulerSpec, threads: int = 1):
    """(client, cluster or None): a loopback LocalCluster of spec.workers processes, or a client
    of the scheduler at spec.address."""
    distributed = import_distributed()
    if not spec.local:
        return distributed.Client(spec.address, timeout="30s"), None
    cluster = distributed.LocalCluster(
        n_workers=spec.workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
        env={"ORT_DISABLE_TELEMETRY": "1"})
    return distributed.Client(cluster), cluster


def pack_files(pack_dir: Path) -> dict[str, bytes]:
    """Every regular file of a pack directory by relative path (for shipping as bytes)."""
    pack_dir = Path(pack_dir)
    return {p.relative_to(pack_dir).as_posix(): p.read_bytes()
            for p in sorted(pack_dir.rglob("*")) if p.is_file() and not p.is_symlink()}


def pack_ref(client, pack_dir: Path, ship: str = "path"):
    """(PackRef, files future or None): workers open the pack at its absolute path, or get its
    files scattered to every worker once."""
    sha = Provenance.of_pack(pack_dir, "check").pack_sha256
    if ship == "path":
        return PackRef(sha, str(Path(pack_dir).resolve())), None
    if ship != "bytes":
        raise ValueError(f"pack shipping {ship!r}: expected 'path' or 'bytes'")
    [future] = client.scatter([pack_files(pack_dir)], broadcast=True, hash=False)
    return PackRef(sha), future


def _failed(chunk: Sequence[Job], error: str) -> list[Entry]:
    return [Entry(j.id, j.key, len(j.sequence), "failed", error=f"record {j.id!r}: {error}") for j in chunk]


def run_distributed(scheduler: str, pack_dir: Path, work: Work, store: ShardStore, jobs: Sequence[Job],
                    options, on_commit: Callable[[list[Entry]], None], report: Callable[[str], None],
                    client=None, ship: Optional[str] = None) -> None:
    """Every job as chunk tasks on the cluster `scheduler` names (or on `client`)."""
    distributed = import_distributed()
    spec = parse_scheduler(scheduler)
    cluster = None
    own = client is None
    if own:
        client, cluster = start_client(spec)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        report(f"dask: {workers} worker(s) at {client.scheduler.address}")
        ref, files = pack_ref(client, pack_dir, ship or getattr(options, "ship_pack", "path"))
        chunks = plan_chunks(jobs, options.chunk)
        threads = getattr(options, "threads", None) or 1
        futures, run = {}, uuid.uuid4().hex[:8]
        for chunk in chunks:
            name = shard_name(work.kind, [j.key for j in chunk])
            fut = client.submit(run_task, ref, files, work, str(store.out.resolve()), store.settings,
                                [(j.index, j.id, j.sequence, j.stem) for j in chunk], options.token_budget,
                                threads, key=f"edgefold-{name}-{run}", retries=RETRIES, pure=False)
            futures[fut] = (name, chunk)
        for fut in distributed.as_completed(list(futures)):
            name, chunk = futures[fut]
            try:
                entries = [Entry(**{**e, "files": tuple(e["files"])}) for e in fut.result()]
            except Exception as e:  # noqa: BLE001 (the chunk's records are reported failed, the run goes on)
                log.warning("chunk %s failed: %s", name, e)
                entries = _failed(chunk, f"{type(e).__name__}: {e}")
                store.commit(name, entries, [b""] * len(entries) if work.kind == "score" else None)
            on_commit(entries)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
